"""The plate reader's data: the real plate crops of every plate set (and the further sources and
operators' corrections), generated plates, and the augmentation of both. Torch-free: the
detector's generated scenes draw their plates here too."""
from __future__ import annotations

import glob
import zlib
from pathlib import Path

import cv2
import numpy as np

from edge.plates.ctc import ctc_input

from .. import sources as D
from .sources import corrected_plates, read_extra_plates, registration, scene_source

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"   # index + 1; 0 = CTC blank
H, W = 32, 128
FONTS = sorted(glob.glob("/usr/share/fonts/truetype/*/*.ttf"))


def to_input(bgr: np.ndarray) -> np.ndarray:
    """The runtime's input (edge.plates.ctc.ctc_input): stretch to 128x32, RGB float 0..255."""
    return ctc_input(bgr, W, H)


# ------------------------------------------------------------------------------------- data

def real_samples(data_dir, corrections_from=(), extra=None) -> list[dict]:
    """The data folder's plates, plus the corrected plates of central's exports (train split,
    ``corrected: True``) and the further plate sources in ``extra`` (a photo's plates in its
    photo's split, as the detector's)."""
    d = Path(data_dir)
    out = [s for e in corrections_from or () for s in corrected_plates(e)]
    for r in D.read_labels(d, "plate_crops"):
        key = f"plate_crops/{Path(r['image']).name}"
        out.append({"path": str(d / "plate_crops" / r["image"]), "text": r["plate"],
                    "box": None, "split": D.split_of(key), "key": key, "region": "us"})
    for r in D.read_labels(d, "plate_photos"):
        key = f"plate_photos/{Path(r['image']).name}"  # same split as the detector's photo
        out.append({"path": str(d / "plate_photos" / r["image"]), "text": r["plate"],
                    "box": [float(r[k]) for k in ("x", "y", "w", "h")],
                    "split": D.split_of(key), "key": key, "region": r["region"]})
    for s in out:
        s.setdefault("source", "corrections" if s.get("corrected") else
                     "openalpr-us-crops" if s["box"] is None else f"openalpr-{s['region']}")
    for r in D.read_labels(d, "plate_scenes"):
        # one row per plate; the photo's hash split, as the detector's
        key = f"plate_scenes/{Path(r['image']).name}"
        out.append({"path": str(d / "plate_scenes" / r["image"]),
                    "text": registration(r["plate"], r["region"]),
                    "box": [float(r[k]) for k in ("x", "y", "w", "h")], "split": D.split_of(key),
                    "key": f"{key}#{r['x']},{r['y']}", "region": r["region"],
                    "source": scene_source(r["source_repo"], r["region"])})
    for r in D.read_labels(d / "plate_scenes", "crops"):
        key = f"plate_scenes/crops/{Path(r['image']).name}"
        out.append({"path": str(d / "plate_scenes" / "crops" / r["image"]), "text": r["plate"],
                    "box": None, "split": D.split_of(key), "key": key, "region": r["region"],
                    "source": f"crops-{r['region']}"})
    for src, rows in (read_extra_plates(extra) if extra else {}).items():
        for r in rows:
            key = f"plate_extra/{src}/{r['image']}"
            out.append({"path": r["path"], "text": r["plate"], "box": r["box"],
                        "split": D.split_of(key), "key": f"{key}#{r['x']},{r['y']}",
                        "region": r["region"], "source": src})
    return [s for s in out if s["text"] and all(c in ALPHABET for c in s["text"])]


def real_image(s, rng=None) -> np.ndarray:
    img = cv2.imread(s["path"], cv2.IMREAD_COLOR)
    if s["box"] is None:
        return img
    x, y, w, h = s["box"]
    p = 0.08 if rng is None else float(rng.uniform(0.0, 0.2))
    jx, jy = (0, 0) if rng is None else rng.uniform(-0.05, 0.05, 2) * (w, h)
    x0, y0 = int(max(0, x - p * w + jx)), int(max(0, y - p * h + jy))
    x1, y1 = int(min(img.shape[1], x + w + p * w + jx)), int(min(img.shape[0], y + h + p * h + jy))
    return img[y0:y1, x0:x1]


def _rand_text(rng) -> str:
    L = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    Dg = "0123456789"
    layouts = ["LLLDDDD", "LLLDLDD", "LLDDDLL", "DDDDLLL", "LLDDLLL", "DLLLDDD", "LLLDDD",
               "DDDLLL", "LLDDDD", "DLLDDDD", "LLLLDDD", "DDLDDDL", "AAAAAA", "AAAAA"]
    lay = layouts[int(rng.integers(len(layouts)))]
    return "".join(rng.choice(list(L if k == "L" else Dg if k == "D" else L + Dg)) for k in lay)


def synth_plate(seed: int) -> tuple[np.ndarray, str]:
    from PIL import Image, ImageDraw, ImageFont
    rng = np.random.default_rng(seed)
    text = _rand_text(rng)
    pw, ph = 360, int(rng.uniform(90, 180))
    bg = tuple(int(v) for v in rng.choice([[235, 235, 235], [250, 240, 200], [220, 230, 245],
                                           [240, 240, 240]]) + rng.integers(-15, 15, 3))
    fg = tuple(int(v) for v in rng.choice([[20, 20, 20], [30, 30, 120], [120, 20, 20],
                                           [20, 60, 20]]))
    img = Image.new("RGB", (pw, ph), bg)
    dr = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONTS[int(rng.integers(len(FONTS)))], int(ph * rng.uniform(0.45, 0.9))) \
        if FONTS else ImageFont.load_default()
    sep = rng.choice(["", " ", "-", " "]) if len(text) > 5 else ""
    cut = int(rng.integers(2, len(text) - 1))
    shown = text[:cut] + sep + text[cut:]
    band = rng.random()
    bw = int(pw * rng.uniform(0.08, 0.11)) if band < 0.25 else 0
    bbox = dr.textbbox((0, 0), shown, font=font)
    tw, th = bbox[2] - bbox[0], bbox[3] - bbox[1]
    scale = min(1.0, ((pw - bw) * 0.9) / max(1, tw))
    if scale < 1.0:
        font = ImageFont.truetype(font.path, max(8, int(font.size * scale))) if FONTS else font
        bbox = dr.textbbox((0, 0), shown, font=font)
        tw, th = bbox[2] - bbox[0], bbox[3] - bbox[1]
    ox = bw + (pw - bw - tw) / 2 - bbox[0] + rng.uniform(-0.04, 0.04) * (pw - bw - tw)
    oy = (ph - th) / 2 - bbox[1] + rng.uniform(-0.1, 0.15) * ph
    if band < 0.25:  # EU: blue country band on the left, its code under the stars
        dr.rectangle([0, 0, bw, ph], fill=(0, 51, 153))
        for k in range(12):
            ang = 2 * np.pi * k / 12
            cx, cy, r = bw / 2 + np.cos(ang) * bw * 0.3, ph * 0.3 + np.sin(ang) * bw * 0.3, 1.5
            dr.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 204, 0))
        code = str(rng.choice(["D", "HR", "I", "F", "NL", "PL", "SLO", "A"]))
        dr.text((bw * 0.15, ph * 0.6), code, fill=(255, 255, 255),
                font=ImageFont.truetype(FONTS[0], int(ph * 0.22)) if FONTS else font)
    elif band < 0.4:  # BR Mercosul: blue band across the top
        dr.rectangle([0, 0, pw, int(ph * 0.2)], fill=(0, 60, 160))
        dr.text((pw * 0.4, 1), "BRASIL", fill=(255, 255, 255),
                font=ImageFont.truetype(FONTS[0], int(ph * 0.14)) if FONTS else font)
    elif band < 0.7:  # US-like: a slogan line under the number and a sticker in a corner
        small = ImageFont.truetype(FONTS[int(rng.integers(len(FONTS)))], int(ph * 0.12)) if FONTS else font
        dr.text((pw * rng.uniform(0.1, 0.4), ph * 0.84), str(rng.choice(
            ["Land of Lincoln", "Great Faces Great Places", "Sunshine State", "Live Free or Die",
             "Famous Potatoes", "First in Flight", "Garden State", "Vacationland"])), fill=fg, font=small)
        sx = 6 if rng.random() < 0.5 else pw - 40
        dr.rectangle([sx, 4, sx + 34, 4 + int(ph * 0.2)],
                     fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    hershey = rng.random() < 0.3  # OpenCV's stroke fonts: thin, plain digits unlike the TTFs
    if not hershey:
        dr.text((ox, oy), shown, fill=fg, font=font)
    if rng.random() < 0.5:  # small state/country line
        small = ImageFont.truetype(FONTS[0], int(ph * 0.15)) if FONTS else font
        dr.text((pw * rng.uniform(0.2, 0.5), 2), rng.choice(["CALIFORNIA", "BRASIL", "TEXAS",
                "HRVATSKA", "NEW YORK", "D", "ILLINOIS"]), fill=fg, font=small)
    a = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
    if hershey:
        face = int(rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX,
                               cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX]))
        thick = int(rng.integers(2, 11))
        (tw, th), _ = cv2.getTextSize(shown, face, 1.0, thick)
        sc = min(ph * rng.uniform(0.4, 0.8) / th, (pw - bw) * 0.95 / tw)
        (tw, th), _ = cv2.getTextSize(shown, face, sc, thick)
        cv2.putText(a, shown, (int(bw + (pw - bw - tw) / 2), int((ph + th) / 2)), face, sc,
                    fg[::-1], thick, cv2.LINE_AA)
    cv2.rectangle(a, (1, 1), (pw - 2, ph - 2), fg[::-1], int(rng.integers(1, 5)))
    return a, text


def augment(img: np.ndarray, rng) -> np.ndarray:
    h, w = img.shape[:2]
    # the box a detector gives is loose or tight: pad (up to 15%) or cut (up to 6%) each side
    if rng.random() < 0.6:
        m = (rng.uniform(-0.06, 0.15, 4) * (h, h, w, w)).astype(int)
        pad = np.maximum(m, 0)
        img = cv2.copyMakeBorder(img, *pad, cv2.BORDER_REPLICATE)
        cut = np.maximum(-m, 0)
        img = img[cut[0]:img.shape[0] - cut[1], cut[2]:img.shape[1] - cut[3]]
        h, w = img.shape[:2]
    # small perspective / rotation
    j = rng.uniform(-0.06, 0.06, (4, 2)) * (w, h)
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    m = cv2.getPerspectiveTransform(src, (src + j).astype(np.float32))
    img = cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    f = img.astype(np.float32) * rng.uniform(0.6, 1.3) + rng.uniform(-30, 30)
    if rng.random() < 0.3:
        f = 255 - f if rng.random() < 0.1 else f
    f += rng.normal(0, rng.uniform(0, 8), f.shape)
    img = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        k = int(rng.choice([3, 5]))
        img = cv2.GaussianBlur(img, (k, k), 0)
    if rng.random() < 0.4:  # low resolution (distant plates)
        s = rng.uniform(0.25, 0.6)
        img = cv2.resize(cv2.resize(img, (max(8, int(w * s)), max(4, int(h * s)))), (w, h))
    return img


def build_arrays(samples, n_synth, views_real, log=print):
    X, Y = [], []
    for s in samples:
        for v in range(views_real):
            rng = np.random.default_rng(zlib.crc32(f"{s['key']}#{v}".encode()))
            img = real_image(s, rng if v else None)
            if img is None or img.size == 0:
                continue
            X.append(to_input(augment(img, rng) if v else img)); Y.append(s["text"])
    log(f"  real views {len(X)}")
    for i in range(n_synth):
        img, t = synth_plate(1_000_000 + i)
        rng = np.random.default_rng(i)
        X.append(to_input(augment(img, rng))); Y.append(t)
    return np.stack(X).astype(np.uint8), Y
