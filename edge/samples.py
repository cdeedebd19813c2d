"""Photos the project generates itself: for the README's first run, the benchmark and the tests.

They are drawn, not photographed: a plate close-up, a document page on a table, a street-like
scene, plus deliberately bad shots (blurred, dark). The shipped model was not trained on them, so
what it says about them is an honest first look, not a measurement.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

FONT = cv2.FONT_HERSHEY_DUPLEX


def _noise(h: int, w: int, rng: np.random.Generator, base: tuple[int, int, int]) -> np.ndarray:
    img = np.empty((h, w, 3), np.uint8)
    img[:] = base
    n = rng.normal(0, 12, (h // 4 + 1, w // 4 + 1, 3))
    n = cv2.resize(n.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(img.astype(np.float32) + n, 0, 255).astype(np.uint8)


def plate_rect(width: int, height: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the plate in ``plate_closeup(..., width, height)``."""
    pw, ph = int(width * 0.7), int(width * 0.7 / 4.5)
    return (width - pw) // 2, (height - ph) // 2, pw, ph


def plate_closeup(text: str = "ABC1234", width: int = 1280, height: int = 720,
                  seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = _noise(height, width, rng, (70, 60, 150))  # red-ish bumper
    x0, y0, pw, ph = plate_rect(width, height)
    cv2.rectangle(img, (x0, y0), (x0 + pw, y0 + ph), (235, 235, 235), -1)
    cv2.rectangle(img, (x0, y0), (x0 + pw, y0 + ph), (20, 20, 20), max(2, ph // 30))
    scale = ph / 32
    (tw, th), _ = cv2.getTextSize(text, FONT, scale, max(2, int(scale * 2)))
    cv2.putText(img, text, (x0 + (pw - tw) // 2, y0 + (ph + th) // 2), FONT, scale, (15, 15, 15),
                max(2, int(scale * 2)), cv2.LINE_AA)
    return img


def vin_sticker(text: str = "1HGCM82633A004352", width: int = 256, height: int = 256,
                seed: int = 0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A VIN label on a door pillar, and the (x, y, w, h) box of its VIN line (the ink)."""
    rng = np.random.default_rng(seed)
    img = _noise(height, width, rng, (120, 120, 125))  # grey pillar
    sx0, sy0, sx1, sy1 = width // 10, height // 3, width - width // 10, height * 2 // 3
    cv2.rectangle(img, (sx0, sy0), (sx1, sy1), (225, 228, 230), -1)
    scale = (sx1 - sx0 - 12) / cv2.getTextSize(text, FONT, 1.0, 1)[0][0]
    thick = max(1, int(round(scale * 1.5)))
    (tw, th), _ = cv2.getTextSize(text, FONT, scale, thick)
    tx, ty = sx0 + (sx1 - sx0 - tw) // 2, (sy0 + sy1) // 2 + th // 2
    cv2.putText(img, "VEHICLE IDENTIFICATION NO.", (sx0 + 6, sy0 + th), FONT, scale * 0.6,
                (60, 60, 60), 1, cv2.LINE_AA)
    cv2.putText(img, text, (tx, ty), FONT, scale, (20, 20, 20), thick, cv2.LINE_AA)
    ink = np.argwhere(img[sy0 + th + 4:sy1, sx0:sx1].max(axis=2) < 120)
    (y0, x0), (y1, x1) = ink.min(axis=0), ink.max(axis=0)
    return img, (int(sx0 + x0), int(sy0 + th + 4 + y0), int(x1 - x0 + 1), int(y1 - y0 + 1))


def document_page(lines: list[str] | None = None, width: int = 1600, height: int = 1200,
                  seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lines = lines or ["QUICK FIX AUTO REPAIR SDN BHD", "12 JALAN MERDEKA, 50050 KUALA LUMPUR",
                      "INVOICE NO: INV-20391", "DATE: 05/03/2018", "BRAKE PADS      2 x 45.00",
                      "LABOUR               60.00", "TAX                   9.00",
                      "TOTAL              159.00"]
    table = _noise(height, width, rng, (60, 90, 120))
    page_w, page_h = int(width * 0.55), int(height * 0.85)
    page = np.full((page_h, page_w, 3), 245, np.uint8)
    scale = page_w / 900
    for i, line in enumerate(lines):
        cv2.putText(page, line, (int(40 * scale), int((70 + 60 * i) * scale)), FONT, scale,
                    (25, 25, 25), max(1, int(2 * scale)), cv2.LINE_AA)
    src = np.float32([[0, 0], [page_w, 0], [page_w, page_h], [0, page_h]])
    cx, cy = width / 2, height / 2
    j = rng.uniform(-0.04, 0.04, (4, 2)) * [width, height]
    dst = np.float32([[cx - page_w / 2, cy - page_h / 2], [cx + page_w / 2, cy - page_h / 2],
                      [cx + page_w / 2, cy + page_h / 2], [cx - page_w / 2, cy + page_h / 2]]) + j
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warped = cv2.warpPerspective(page, m, (width, height), borderValue=(0, 0, 0))
    mask = cv2.warpPerspective(np.full((page_h, page_w), 255, np.uint8), m, (width, height))
    table[mask > 0] = warped[mask > 0]
    return table


def street_scene(width: int = 1280, height: int = 720, seed: int = 2) -> np.ndarray:
    """A car-like silhouette on a road: body, windows, wheels, lights."""
    rng = np.random.default_rng(seed)
    img = _noise(height, width, rng, (200, 170, 140))  # sky
    img[height // 2:] = _noise(height - height // 2, width, rng, (90, 90, 95))  # road
    s = width / 1280
    body = np.array([[250, 520], [350, 400], [500, 340], [820, 340], [960, 420], [1040, 440],
                     [1050, 540], [250, 540]], np.float32) * s
    cv2.fillPoly(img, [body.astype(np.int32)], (40, 40, 170))
    win = np.array([[380, 410], [510, 360], [800, 360], [900, 420]], np.float32) * s
    cv2.fillPoly(img, [win.astype(np.int32)], (90, 60, 40))
    for cx in (400, 880):
        cv2.circle(img, (int(cx * s), int(545 * s)), int(60 * s), (20, 20, 20), -1)
        cv2.circle(img, (int(cx * s), int(545 * s)), int(28 * s), (160, 160, 160), -1)
    cv2.rectangle(img, (int(1010 * s), int(450 * s)), (int(1045 * s), int(480 * s)),
                  (120, 220, 255), -1)
    return img


def blurred(img: np.ndarray) -> np.ndarray:
    k = max(3, (min(img.shape[:2]) // 40) | 1)
    return cv2.GaussianBlur(img, (k, k), 0)


def dark(img: np.ndarray) -> np.ndarray:
    return (img.astype(np.float32) * 0.08).astype(np.uint8)


def jpeg_bytes(bgr: np.ndarray, quality: int = 90, orientation: int | None = None) -> bytes:
    """JPEG bytes, optionally with an EXIF orientation tag (as phones write them)."""
    pil = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    buf = io.BytesIO()
    kwargs = {}
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    pil.save(buf, "JPEG", quality=quality, **kwargs)
    return buf.getvalue()


def write_drawn(folder: str | Path, stem: str, draw, n: int) -> list[str]:
    """``n`` JPEGs ``{stem}_{i}.jpg`` of ``draw(i)``. The benchmarks run this in a child process:
    drawing a 12 MP photo takes more memory than reading it, and the peak RSS they print is the
    pipeline's."""
    paths = []
    for i in range(n):
        p = Path(folder) / f"{stem}_{i}.jpg"
        p.write_bytes(jpeg_bytes(draw(i)))
        paths.append(str(p))
    return paths


def sample_set() -> dict[str, np.ndarray]:
    scene = street_scene()
    return {
        "plate_closeup.jpg": plate_closeup(),
        "repair_invoice.jpg": document_page(),
        "vehicle_scene.jpg": scene,
        "vehicle_scene_blurred.jpg": blurred(scene),
        "vehicle_scene_dark.jpg": dark(scene),
    }


def write_samples(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, img in sample_set().items():
        p = folder / name
        p.write_bytes(jpeg_bytes(img))
        out.append(p)
    return out
