"""Detector data (torch-free, shared by training and the evaluation commands): the real boxes of
../shared/data as samples. Receipt line boxes are merged into text blocks. The plate sources
themselves (names, regions, further sources) are the plate room's (plates/sources.py)."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from .. import sources as D
from ..plates.sources import read_extra_plates, scene_source

LABELS = ["plate", "vin", "damage", "text_block"]



def _text_blocks(lines: list[tuple[float, float, float, float]], W: int, H: int):
    """Merge receipt line boxes into text blocks: lines closer than ~1 line height join."""
    if not lines:
        return []
    hs = np.array([b[3] for b in lines], np.float32)
    lh = float(np.median(hs)) if len(hs) else 10.0
    scale = 4.0
    mask = np.zeros((int(H / scale) + 1, int(W / scale) + 1), np.uint8)
    for x, y, w, h in lines:
        x0, y0 = int((x - lh) / scale), int((y - 0.6 * lh) / scale)
        x1, y1 = int((x + w + lh) / scale), int((y + h + 0.6 * lh) / scale)
        cv2.rectangle(mask, (max(0, x0), max(0, y0)), (x1, y1), 255, -1)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    out = []
    for i in range(1, n):
        # the block is the union of the member lines (not the dilated mask)
        members = [b for b in lines
                   if lab[min(lab.shape[0] - 1, int((b[1] + b[3] / 2) / scale)),
                          min(lab.shape[1] - 1, int((b[0] + b[2] / 2) / scale))] == i]
        if not members:
            continue
        x0 = min(b[0] for b in members); y0 = min(b[1] for b in members)
        x1 = max(b[0] + b[2] for b in members); y1 = max(b[1] + b[3] for b in members)
        out.append((float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
    return out


def index(data_dir: str | Path, extra: str | Path | None = None) -> list[dict]:
    """Samples: {source, path, boxes [(label, x, y, w, h) pixels], split, key}; plate photos
    also carry region, plates (the text of each plate box, in order) and plate_source. With
    ``extra``, the photos of the further plate sources there (``read_extra_plates``) join as set
    ``plate_extra``, each its own plate_source."""
    d = Path(data_dir)
    out = []

    def rows(name):
        return D.read_labels(d, name)

    def add(source, path, boxes, **kw):
        key = f"{source}/{Path(path).name}"
        out.append({"source": source, "path": str(path), "boxes": boxes, "key": key,
                    "split": D.split_of(key), **kw})

    for r in rows("plate_photos"):
        add("plate_photos", d / "plate_photos" / r["image"],
            [("plate", *(float(r[k]) for k in ("x", "y", "w", "h")))], region=r["region"],
            plates=[r["plate"]], plate_source=f"openalpr-{r['region']}")
    scenes: dict[str, list[dict]] = {}
    for r in rows("plate_scenes"):  # one row per plate: a photo may show several
        scenes.setdefault(r["image"], []).append(r)
    for image, rs in scenes.items():
        add("plate_scenes", d / "plate_scenes" / image,
            [("plate", *(float(r[k]) for k in ("x", "y", "w", "h"))) for r in rs],
            region=rs[0]["region"], plates=[r["plate"] for r in rs],
            plate_source=scene_source(rs[0]["source_repo"], rs[0]["region"]))
    for r in rows("vin_boxes"):
        cx, cy, w, h = (float(r[k]) * 256 for k in ("cx", "cy", "w", "h"))
        add("vin_boxes", d / "vin_boxes" / r["image"], [("vin", cx - w / 2, cy - h / 2, w, h)])
    for r in D.read_jsonl(d, "damage_boxes"):
        add("damage_boxes", d / "damage_boxes" / r["image"],
            [("damage", *map(float, b)) for b in r["damage_xywh"]],
            size=(r["width"], r["height"]))
    for r in D.read_jsonl(d, "receipts"):
        lines = []
        with open(d / "receipts" / r["boxes"], encoding="utf-8", errors="replace") as f:
            for row in csv.reader(f):
                if len(row) < 8:
                    continue
                try:
                    xs = [float(v) for v in row[0:8:2]]; ys = [float(v) for v in row[1:8:2]]
                except ValueError:
                    continue
                lines.append((min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)))
        add("receipts", d / "receipts" / r["image"], [("text_block", *b) for b in lines],
            lines=True)
    for r in rows("not_claim"):
        add("not_claim", d / "not_claim" / r["image"], [])
    for src, rs in (read_extra_plates(extra) if extra else {}).items():
        photos: dict[str, list[dict]] = {}
        for r in rs:
            if r["box"] is not None:
                photos.setdefault(r["path"], []).append(r)
        for path, ps in photos.items():
            key = f"plate_extra/{src}/{Path(path).name}"
            out.append({"source": "plate_extra", "path": path, "key": key,
                        "split": D.split_of(key), "boxes": [("plate", *r["box"]) for r in ps],
                        "region": ps[0]["region"], "plates": [r["plate"] for r in ps],
                        "plate_source": src})
    return out


_LAST: dict = {}


def load(s: dict) -> tuple[np.ndarray, list]:
    """RGB image and its boxes in its pixels (receipt lines merged into blocks)."""
    if _LAST.get("key") == s["key"]:
        return _LAST["rgb"], list(_LAST["boxes"])
    if s["source"] == "synthetic_plates":
        rgb, boxes = _synthetic_plate_scene(s["seed"])
    else:
        rgb, boxes = _real(s)
    _LAST.update(key=s["key"], rgb=rgb, boxes=list(boxes))
    return rgb, boxes


def _real(s: dict) -> tuple[np.ndarray, list]:
    rgb = D.decode_rgb(s["path"])
    H, W = rgb.shape[:2]
    boxes = list(s["boxes"])
    if s["source"] == "damage_boxes" and s.get("size") and tuple(s["size"]) != (W, H):
        sx, sy = W / s["size"][0], H / s["size"][1]
        boxes = [(l, x * sx, y * sy, w * sx, h * sy) for l, x, y, w, h in boxes]
    if s.get("lines"):
        boxes = [("text_block", *b) for b in _text_blocks([b[1:] for b in boxes], W, H)]
    return rgb, boxes




# ---------------------------------------------------------------- generated plates in scenes

def synthetic_plate_samples(n: int) -> list[dict]:
    """Training-only samples: a generated plate pasted into a generated street scene, small and
    anywhere. The real plate photos are close shots; these teach small, distant plates and
    plates on plain bodies, which the real VIN stickers otherwise claim."""
    return [{"source": "synthetic_plates", "path": "", "key": f"synthetic_plates/{i}",
             "split": "train", "seed": i, "boxes": []} for i in range(n)]


def _synthetic_plate_scene(seed: int) -> tuple[np.ndarray, list]:
    from edge.samples import plate_closeup, plate_rect, street_scene

    from ..plates.data import synth_plate
    rng = np.random.default_rng(seed)
    W, H = (1600, 1200) if seed % 2 else (1280, 720)
    img = street_scene(W, H, seed=1000 + seed)
    if seed % 3:
        text = "".join(rng.choice(list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"), 7))
        cw, ch = 960, 540
        closeup = plate_closeup(text, cw, ch, seed=seed)
        px0, py0, pw0, ph0 = plate_rect(cw, ch)
        m = rng.uniform(0.0, 0.3)
        x0, y0 = int(px0 - m * pw0 / 4), int(py0 - m * ph0)
        x1, y1 = int(px0 + pw0 + m * pw0 / 4), int(py0 + ph0 + m * ph0)
        plate, inner = closeup[y0:y1, x0:x1], (px0 - x0, py0 - y0, pw0, ph0)
    else:
        rgb, _ = synth_plate(seed)
        plate = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
        inner = (0, 0, plate.shape[1], plate.shape[0])
    pw = int(rng.uniform(0.06, 0.26) * W)
    f = pw / plate.shape[1]
    ph = max(8, int(plate.shape[0] * f))
    plate = cv2.resize(plate, (pw, ph), interpolation=cv2.INTER_AREA)
    x, y = int(rng.integers(0, W - pw)), int(rng.integers(H // 3, H - ph))
    img[y:y + ph, x:x + pw] = plate
    box = ("plate", x + inner[0] * f, y + inner[1] * f, inner[2] * f, inner[3] * f)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB), [box]
