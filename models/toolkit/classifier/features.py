"""Backbone feature cache for the CPU frozen-backbone mode.

The frozen part of the trunk (stem + MBConv blocks up to the last --train-blocks, ImageNet
weights) runs once per (sample, view); its output ([192, s/32, s/32] before the last 2 blocks,
[320, s/32, s/32] after all of them) is stored as float16 under .cache/features/. Training then
runs only the trained blocks, the 1x1 conv_head + pooling and the heads: 40-50 s per epoch on
2 cores with 2 blocks, seconds with none.
"""
from __future__ import annotations

import hashlib
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from . import data as D

# training views per sample (view 0 = the plain contract preprocessing, others augmented)
TRAIN_VIEWS = {"vehicles": 6, "plate_photos": 4, "damage_severity": 2, "damage_boxes": 3,
               "plate_crops": 2, "plate_photo_crops": 3, "vin_boxes": 2, "receipts": 2,
               "not_claim": 4, "synth_document": 1, "synth_other": 1, "plate_scenes": 4,
               "plate_scene_crops": 1}
AUG_VERSION = 1
# Training/validation photos used per source (first N of the source's split, in index order): the
# plate, VIN and document classes are at 1.000 held-out with far fewer photos, and the trunk-feature
# pass over every photo does not fit the CPU budget of a 2-core machine shared by many jobs.
TRAIN_CAP = {"plate_crops": 200, "vin_boxes": 200, "synth_document": 250, "receipts": 120,
             "plate_scene_crops": 120, "synth_other": 150}
VAL_CAP = {"plate_crops": 50, "vin_boxes": 50, "synth_document": 50, "receipts": 30,
           "plate_scene_crops": 30, "synth_other": 40}


def capped(samples: list[dict]) -> list[dict]:
    """``samples`` with TRAIN_CAP / VAL_CAP applied (order kept)."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for s in samples:
        cap = {"train": TRAIN_CAP, "val": VAL_CAP}.get(s["split"], {}).get(s["source"])
        k = (s["source"], s["split"])
        seen[k] = seen.get(k, 0) + 1
        if cap is None or seen[k] <= cap:
            out.append(s)
    return out


def views_for(s: dict, scale: float = 1.0) -> int:
    if s["split"] != "train":
        return 1
    # a further undamaged-car source (data.index_extra) gets plate_scenes' views
    default = TRAIN_VIEWS["plate_scenes"] if s["category"] == "vehicle" else 1
    return max(1, int(round(TRAIN_VIEWS.get(s["source"], default) * scale)))


def view_image(s: dict, v: int, size: int) -> np.ndarray:
    """Model input (float32 HxWx3, 0..255) for view v of sample s."""
    if v == 0:
        return D.to_input(D.load_sample_rgb(s), size)
    rng = np.random.default_rng(zlib.crc32(f"{s['key']}#{v}#{AUG_VERSION}".encode()))
    rgb = D.load_sample_rgb(s, rng=rng)
    return D.to_input(D.augment(rgb, rng, s["category"]), size)


def _cache_name(items, size, tag):
    h = hashlib.sha1()
    h.update(f"{size}|{AUG_VERSION}|{tag}".encode())
    for s, v in items:
        h.update(f"{s['key']}#{v}#{s.get('kind')}#{s.get('seed')}\n".encode())
    return h.hexdigest()[:16]


def compute_features(frozen, samples: list[dict], size: int, cache_dir: Path, *, views_scale=1.0,
                     batch: int = 32, log=print, tag: str = "trunk") -> tuple[np.ndarray, list[int], list[int]]:
    """Returns (features float16 [M,C,h,w], sample index per row, view per row). Cached per
    source in chunks so an interrupted run resumes."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    items = [(i, v) for i, s in enumerate(samples) for v in range(views_for(s, views_scale))]
    feats, idx, views = [], [], []
    t0 = time.time()
    done = 0
    chunk = 512
    for c0 in range(0, len(items), chunk):
        part = items[c0:c0 + chunk]
        name = _cache_name([(samples[i], v) for i, v in part], size, tag)
        f = cache_dir / f"{name}.npy"
        if f.is_file():
            arr = np.load(f)
        else:
            out = []
            for b0 in range(0, len(part), batch):
                xs = np.stack([view_image(samples[i], v, size) for i, v in part[b0:b0 + batch]])
                with torch.no_grad():
                    x = (torch.from_numpy(xs).permute(0, 3, 1, 2) - 127.0) / 128.0
                    out.append(frozen(x).numpy().astype(np.float16))
            arr = np.concatenate(out)
            np.save(f.with_suffix(".tmp.npy"), arr)
            f.with_suffix(".tmp.npy").rename(f)
        feats.append(arr)
        idx += [i for i, _ in part]
        views += [v for _, v in part]
        done += len(part)
        el = time.time() - t0
        log(f"  features {done}/{len(items)}  ({el:.0f}s)")
    return np.concatenate(feats) if feats else np.zeros((0,)), idx, views
