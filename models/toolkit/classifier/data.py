"""Dataset index over ../shared/data (real) plus the project's synthetic generators.

Every sample is a dict:
  source     real set name (``vehicles``, ``plate_photos`` ...) or ``synth_<kind>``
  synthetic  bool
  path       image file (real) or None (synthetic: rendered from ``seed``)
  seed       synthetic render seed
  crop       [x, y, w, h] pixel box to cut first (plate_photos plate crops) or None
  category / damage / view   label strings or None (None = masked for that head)
  split      train | val | test    (hash of the file name; test = held-out)
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..corrections import SOURCE as CORRECTIONS, check_export
from ..sources import decode_rgb, read_jsonl, read_labels, read_sources, split_of

# photos that show no vehicle body: no visible damage and no vehicle view
NON_VEHICLE = ("plate", "vin", "document", "other")


def _s(source, path, category, damage=None, view=None, crop=None, key=None):
    key = key or f"{source}/{Path(path).name}"
    if category in NON_VEHICLE:
        damage, view = "none", "unknown"
    return {"source": source, "synthetic": False, "path": str(path), "seed": None, "crop": crop,
            "category": category, "damage": damage, "view": view, "split": split_of(key),
            "key": key}


# A plate_photos photo whose plate spans at least this much of the frame width is a plate
# close-up (DESIGN: `plate`), not a vehicle photo. The set's plate widths are <= 0.40 of the
# frame except three photos at 0.63-0.78, taken a hand's width from the plate.
PLATE_CLOSEUP_WIDTH = 0.5

VEHICLE_VIEW = {"front": "front", "front_three_quarter": "front", "rear": "rear",
                "rear_three_quarter": "rear"}  # side: left/right unknown -> masked


def _image_width(path: Path) -> int:
    """Width from the file header (PIL reads no pixels for this)."""
    from PIL import Image
    with Image.open(path) as im:
        return im.size[0]


def index_real(data_dir: str | Path) -> list[dict]:
    d = Path(data_dir)
    out: list[dict] = []

    def rows(name):
        return read_labels(d, name)

    for r in rows("vehicles"):
        out.append(_s("vehicles", d / "vehicles" / r["image"], "vehicle", "none",
                      VEHICLE_VIEW.get(r.get("view") or "")))
    for r in rows("damage_severity"):
        out.append(_s("damage_severity", d / "damage_severity" / r["image"], "damage",
                      r["severity"]))
    for r in rows("plate_crops"):
        out.append(_s("plate_crops", d / "plate_crops" / r["image"], "plate"))
    for r in rows("plate_photos"):
        p = d / "plate_photos" / r["image"]
        box = [int(float(r[k])) for k in ("x", "y", "w", "h")]
        # the whole photo: a fairly close front/rear car shot, undamaged (or a plate close-up)
        closeup = box[2] >= PLATE_CLOSEUP_WIDTH * _image_width(p)
        out.append(_s("plate_photos", p, "plate" if closeup else "vehicle", "none"))
        # the plate cut from its box (with margin, see load_image): same split as its photo
        s = _s("plate_photo_crops", p, "plate", crop=box, key=f"plate_photos/{p.name}")
        out.append(s)
    for r in rows("vin_boxes"):
        out.append(_s("vin_boxes", d / "vin_boxes" / r["image"], "vin"))
    for r in rows("not_claim"):
        out.append(_s("not_claim", d / "not_claim" / r["image"], "other"))
    for r in read_jsonl(d, "receipts"):
        out.append(_s("receipts", d / "receipts" / r["image"], "document"))
    for r in read_jsonl(d, "damage_boxes"):
        # damaged cars, severity not given: the damage head learns only "not none"
        out.append(_s("damage_boxes", d / "damage_boxes" / r["image"], "damage", "damaged"))
    out += _plate_scenes(d)
    return out


def _plate_scenes(d: Path) -> list[dict]:
    """plate_scenes: street, road, gate and parking photos of undamaged cars (US and China), one
    row per boxed plate. The photo is a vehicle photo (damage none, view masked: several cars, no
    view label), a plate close-up where its widest plate spans >= PLATE_CLOSEUP_WIDTH of the
    frame. Its crops/ (Taiwanese plate crops) are plate close-ups."""
    by: dict[str, list[dict]] = {}
    for r in read_labels(d, "plate_scenes"):
        by.setdefault(r["image"], []).append(r)
    out = []
    for image, rs in by.items():
        p = d / "plate_scenes" / image
        widest = max(float(r["w"]) for r in rs)
        closeup = widest >= PLATE_CLOSEUP_WIDTH * _image_width(p)
        out.append(_s("plate_scenes", p, "plate" if closeup else "vehicle", "none"))
    for r in read_labels(d / "plate_scenes", "crops"):
        out.append(_s("plate_scene_crops", d / "plate_scenes" / "crops" / r["image"], "plate"))
    return out


EXTRA_COLUMNS = ("image", "category", "damage", "view", "group")


def index_extra(root: str | Path) -> list[dict]:
    """The classifier's further real sources (see models/claim-classifier/extra_sources), rows
    with EXTRA_COLUMNS (damage/view may be empty: that head is masked). The split follows
    ``group`` (e.g. one car photographed from several sides), so one car never sits in two
    splits."""
    from .labels import CATEGORY
    out = []
    for source, rows in read_sources(root, EXTRA_COLUMNS).items():
        folder = Path(root) / source
        for r in rows:
            if r["category"] not in CATEGORY:
                raise SystemExit(f"{folder / 'labels.csv'}: {r['image']}: category "
                                 f"{r['category']!r} is not one of {', '.join(CATEGORY)}")
            s = _s(source, folder / r["image"], r["category"], r["damage"] or None,
                   r["view"] or None)
            s["split"] = split_of(f"{source}/{r['group'] or r['image']}")
            out.append(s)
    return out


def corrected_samples(export_dir: str | Path) -> list[dict]:
    """The export's photos as classifier samples (this module's format)."""
    d = check_export(export_dir)
    return [dict(s, source=f"{CORRECTIONS}/{s['source']}", split="train", corrected=True,
                 key=f"{CORRECTIONS}/{s['key']}") for s in index_real(d)]


def index_synthetic(n_docs: int = 840, n_other: int = 360, seed: int = 0) -> list[dict]:
    """Synthetic documents (7 types) and `other` images; split by seed number hash."""
    from . import synth
    out = []
    for i in range(n_docs):
        kind = synth.DOC_KINDS[i % len(synth.DOC_KINDS)]
        key = f"synth_doc/{seed}/{i}"
        out.append({"source": "synth_document", "synthetic": True, "path": None, "seed": seed * 100003 + i,
                    "kind": kind, "crop": None, "category": "document", "damage": "none",
                    "view": "unknown", "split": split_of(key), "key": key})
    for i in range(n_other):
        kind = synth.OTHER_KINDS[i % len(synth.OTHER_KINDS)]
        key = f"synth_other/{seed}/{i}"
        out.append({"source": "synth_other", "synthetic": True, "path": None, "seed": seed * 100003 + 50000 + i,
                    "kind": kind, "crop": None, "category": "other", "damage": "none",
                    "view": "unknown", "split": split_of(key), "key": key})
    return out


def index_ood(n: int = 240, seed: int = 7) -> list[dict]:
    """Generated out-of-domain images for open-set AUROC only (never trained on). Families
    include ones the `other` generator never makes (indoor-like scenes, text-free graphics)."""
    from . import synth
    return [{"source": "ood_" + synth.OOD_KINDS[i % len(synth.OOD_KINDS)].replace("ood_", ""), "synthetic": True,
             "path": None, "seed": seed * 1000003 + i, "kind": synth.OOD_KINDS[i % len(synth.OOD_KINDS)],
             "crop": None, "category": None, "damage": None, "view": None, "split": "test",
             "key": f"ood/{seed}/{i}"} for i in range(n)]


def build_samples(data_dir, *, n_docs=840, n_other=360, n_ood=240, max_per_source=None,
                  corrections=(), extra=()):
    """``corrections``: exports of ``claim-edge central export-labels`` folded in (train split,
    ``corrected: True``; models/toolkit/corrections.py). ``extra``: folders of further real
    sources (index_extra)."""
    real = index_real(data_dir) + [s for root in extra or () for s in index_extra(root)]
    if max_per_source:
        by = {}
        for s in real:
            by.setdefault(s["source"], []).append(s)
        real = [s for v in by.values() for s in v[:max_per_source]]
    real += [s for e in corrections or () for s in corrected_samples(e)]
    if not real:
        raise SystemExit(f"{data_dir}: no labelled images found")
    return real + index_synthetic(n_docs, n_other) + index_ood(n_ood)


# ---------------------------------------------------------------- image loading (the contract)

def to_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """The preprocessing contract: stretch-resize to size x size with INTER_AREA, float32 0..255
    RGB, as edge.classifier.preprocess does on the device (evaluation goes through the runtime)."""
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def crop_with_margin(rgb: np.ndarray, box, margin: float = 0.35, rng=None) -> np.ndarray:
    x, y, w, h = box
    if rng is not None:
        margin = float(rng.uniform(0.15, 0.8))
    mx, my = int(w * margin), int(h * margin * 1.6)
    H, W = rgb.shape[:2]
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(W, x + w + mx), min(H, y + h + my)
    return rgb[y0:y1, x0:x1]


def load_sample_rgb(s: dict, rng=None) -> np.ndarray:
    """Full-resolution RGB for a sample (synthetic ones are rendered)."""
    if s["synthetic"]:
        from . import synth
        return synth.render(s["kind"], s["seed"])
    rgb = decode_rgb(s["path"])
    if s.get("crop"):
        rgb = crop_with_margin(rgb, s["crop"], rng=rng)
    return rgb


# ---------------------------------------------------------------- augmentation (training views)

def augment(rgb: np.ndarray, rng: np.random.Generator, category: str | None) -> np.ndarray:
    """Scale / crop / colour / blur / night augmentation of an RGB image (before resizing)."""
    H, W = rgb.shape[:2]
    img = rgb
    r = rng.random()
    if category in ("vehicle",) and r < 0.35:
        # zoom out: the car smaller in a wider frame (the real sets are close catalogue shots)
        f = rng.uniform(1.15, 1.8)
        nh, nw = int(H * f), int(W * f)
        bg = cv2.resize(cv2.GaussianBlur(img, (0, 0), 25), (nw, nh))
        y0, x0 = int(rng.integers(0, nh - H + 1)), int(rng.integers(0, nw - W + 1))
        bg[y0:y0 + H, x0:x0 + W] = img
        img = bg
    elif r < 0.85:
        # random resized crop (scale 0.55..1, aspect 3/4..4/3)
        lo = 0.7 if category in ("vehicle", "plate", "vin") else 0.55
        area = rng.uniform(lo, 1.0) * H * W
        ar = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        ch = int(min(H, np.sqrt(area / ar)))
        cw = int(min(W, np.sqrt(area * ar)))
        y0, x0 = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
        img = img[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5 and category not in ("plate", "vin", "document"):
        img = img[:, ::-1]
    img = img.astype(np.float32)
    # colour jitter
    img = img * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
    gray = img.mean(axis=2, keepdims=True)
    img = gray + (img - gray) * rng.uniform(0.6, 1.4)
    if rng.random() < 0.12:  # night / dark capture
        img = img * rng.uniform(0.25, 0.5)
        img = img + rng.normal(0, 6, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        k = int(rng.choice([3, 5, 7]))
        img = cv2.GaussianBlur(img, (k, k), 0)
    if rng.random() < 0.15:  # jpeg re-compression
        ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 70))])
        if ok:
            img = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
    return np.ascontiguousarray(img)
