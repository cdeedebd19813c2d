"""Lightweight detector: frozen EfficientNet-Lite0 trunk + small anchor-free head (strides 8/16/32).

Training code only: never imported by the device runtime (edge/detect/ decodes the outputs).

Classes: plate, vin, damage, text_block. Real boxes from ../shared/data (plate_photos, vin_boxes,
damage_boxes, receipts line boxes merged into text blocks) and not_claim photos as negatives.
Training views add zoom-in crops shaped exactly like the runtime's zoom crop (a square around a
box, ``zoom_crop_box`` below is the same maths as edge.detect.zoom.zoom_crop) and zoom-out composites
(small objects in a wide frame), so the one model serves both passes.

Outputs per level L in (s8, s16, s32), NHWC: ``cls_L`` [1, H, W, 4] class logits and ``box_L``
[1, H, W, 4] = (dx, dy, log w, log h) with the box centre = (cell + 0.5 + d) * stride and the size
= exp(log) * stride, in input pixels.

    python -m models.toolkit.detector train ../shared/data
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


AUG_VERSION = 2
VERSION = "1.3.0"                   # of the bundle this recipe makes (1.1.0: VIN photos in 3 views,
                                    # generated plates in scenes; 1.2.0: every plate source, VIN
                                    # photos in 4 views; 1.3.0: and the recorded further plate
                                    # sources, --extra)
VIEWS = {"plate_photos": 6, "plate_scenes": 4, "vin_boxes": 4, "damage_boxes": 4, "receipts": 1,
         "not_claim": 1, "synthetic_plates": 2, "plate_extra": 4}
SYNTHETIC_PLATES = 240              # generated plates in generated scenes (training only)
CACHE = Path(__file__).resolve().parents[3] / ".cache" / "detector"
BUNDLE = Path(__file__).resolve().parents[2] / "detector"


# ------------------------------------------------------------------------------------- data

from ..plates.sources import PLATE_SOURCES  # noqa: E402
from .data import LABELS, index, load, synthetic_plate_samples  # noqa: E402 (torch-free)
from .trunk import Int8Trunk, record_trunk, trunk_graph  # noqa: E402 (torch-free)
from .net import SIZE, STRIDES, ExportDetector, Head, build_levels, focal, targets  # noqa: E402


def zoom_crop_box(box, W, H, margin):
    """Square crop around box (x, y, w, h) with ``margin`` of its longest side on each side,
    shifted into the image. Same maths as edge.detect.zoom.zoom_crop."""
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * margin)
    side = min(side, max(W, H))
    cx, cy = x + w / 2, y + h / 2
    x0 = min(max(0.0, cx - side / 2), max(0.0, W - side))
    y0 = min(max(0.0, cy - side / 2), max(0.0, H - side))
    return x0, y0, min(side, W - x0), min(side, H - y0)


def _crop_boxes(boxes, x0, y0, cw, ch, min_vis=0.5):
    out = []
    for l, x, y, w, h in boxes:
        a0, b0 = max(x, x0), max(y, y0)
        a1, b1 = min(x + w, x0 + cw), min(y + h, y0 + ch)
        if a1 <= a0 or b1 <= b0:
            continue
        if (a1 - a0) * (b1 - b0) < min_vis * w * h:
            continue
        out.append((l, a0 - x0, b0 - y0, a1 - a0, b1 - b0))
    return out


def view(s: dict, v: int, size: int = SIZE):
    """(input float32 size x size x 3 RGB 0..255, boxes in input pixels) of view v."""
    rgb, boxes = load(s)
    H, W = rgb.shape[:2]
    if v > 0:
        rng = np.random.default_rng(zlib.crc32(f"{s['key']}#{v}#{AUG_VERSION}".encode()))
        r = rng.random()
        objs = [b for b in boxes if b[0] != "text_block"]
        if objs and r < 0.45:
            # zoom-in view: the runtime's second-pass crop around one object
            b = objs[int(rng.integers(len(objs)))]
            m = float(rng.uniform(0.15, 1.2))
            x0, y0, cw, ch = zoom_crop_box(b[1:], W, H, m)
            jx, jy = rng.uniform(-0.15, 0.15, 2) * cw
            x0 = float(np.clip(x0 + jx, 0, max(0, W - cw))); y0 = float(np.clip(y0 + jy, 0, max(0, H - ch)))
            xi, yi = int(x0), int(y0)
            cw_i, ch_i = max(8, int(cw)), max(8, int(ch))
            boxes = _crop_boxes(boxes, xi, yi, cw_i, ch_i)
            rgb = rgb[yi:yi + ch_i, xi:xi + cw_i]
        elif r < 0.7:
            # zoom-out: the photo smaller in a wider frame (distant plates, wide shots)
            f = float(rng.uniform(1.3, 3.0))
            nh, nw = int(H * f), int(W * f)
            bg = cv2.resize(cv2.GaussianBlur(rgb, (0, 0), 15), (nw, nh))
            yo, xo = int(rng.integers(0, nh - H + 1)), int(rng.integers(0, nw - W + 1))
            bg[yo:yo + H, xo:xo + W] = rgb
            rgb = bg
            boxes = [(l, x + xo, y + yo, w, h) for l, x, y, w, h in boxes]
        else:
            area = rng.uniform(0.5, 1.0) * H * W
            ar = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
            ch_i = int(min(H, np.sqrt(area / ar))); cw_i = int(min(W, np.sqrt(area * ar)))
            yi, xi = int(rng.integers(0, H - ch_i + 1)), int(rng.integers(0, W - cw_i + 1))
            boxes = _crop_boxes(boxes, xi, yi, cw_i, ch_i)
            rgb = rgb[yi:yi + ch_i, xi:xi + cw_i]
        img = rgb.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
        g = img.mean(axis=2, keepdims=True)
        img = g + (img - g) * rng.uniform(0.6, 1.4)
        if rng.random() < 0.1:
            img = img * rng.uniform(0.3, 0.5) + rng.normal(0, 5, img.shape)
        rgb = np.clip(img, 0, 255).astype(np.uint8)
        if rng.random() < 0.2:
            rgb = cv2.GaussianBlur(rgb, (3, 3), 0)
    H, W = rgb.shape[:2]
    sx, sy = size / W, size / H
    interp = cv2.INTER_AREA if W >= size and H >= size else cv2.INTER_LINEAR
    x = cv2.resize(np.ascontiguousarray(rgb), (size, size), interpolation=interp).astype(np.float32)
    return x, [(l, bx * sx, by * sy, bw * sx, bh * sy) for l, bx, by, bw, bh in boxes]


# ------------------------------------------------------------------------------------- features

def cache_features(levels, samples, log=print, views: dict | None = None, shard=(0, 1)):
    """float16 level features per (sample, view), one .npz per sample under .cache/detector.
    ``views``: training views per set (default ``VIEWS``); view v of a sample is the same image
    whatever the count, so a smaller recipe reuses a larger one's features. ``levels``: the
    float trunk (``build_levels``) or an ``Int8Trunk`` (its features cached apart)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    views = VIEWS if views is None else views
    tag = "" if isinstance(levels, nn.Module) else f"q{levels.key}_"
    todo = []
    for s in samples:
        nv = views.get(s["source"], 1) if s["split"] == "train" else 1
        for v in range(nv):
            f = CACHE / f"{SIZE}_{AUG_VERSION}_{tag}{zlib.crc32(s['key'].encode()):08x}_{v}.npz"
            todo.append((s, v, f))
    k, n = shard  # this process computes every n-th missing view (several processes share it)
    missing = [t for t in todo if not t[2].is_file()][k::n]
    log(f"[detector] features: {len(todo)} views, {len(missing)} to compute")
    t0 = time.time()
    B = 16
    for b0 in range(0, len(missing), B):
        part = missing[b0:b0 + B]
        xs, bx = [], []
        for s, v, _ in part:
            x, boxes = view(s, v)
            xs.append(x); bx.append(boxes)
        if tag:
            feats = [f.astype(np.float16) for f in levels(np.stack(xs))]
        else:
            with torch.no_grad():
                t = (torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2) - 127.0) / 128.0
                # channels-last: about 1.6x faster on CPU for the depthwise trunk, same features
                t = t.contiguous(memory_format=torch.channels_last)
                feats = [f.contiguous().numpy().astype(np.float16) for f in levels(t)]
        for k, (s, v, f) in enumerate(part):
            arr = np.array([(LABELS.index(l), x, y, w, h) for l, x, y, w, h in bx[k]],
                           np.float32).reshape(-1, 5)
            tmp = f.with_suffix(".tmp.npz")
            np.savez(tmp, f0=feats[0][k], f1=feats[1][k], f2=feats[2][k], boxes=arr)
            tmp.rename(f)
        if (b0 // B) % 10 == 0:
            log(f"  {b0 + len(part)}/{len(missing)} ({time.time() - t0:.0f}s)")
    return todo


def _load_cached(todo):
    F0, F1, F2, BX, who = [], [], [], [], []
    for s, v, f in todo:
        z = np.load(f)
        F0.append(z["f0"]); F1.append(z["f1"]); F2.append(z["f2"])
        BX.append([(LABELS[int(r[0])], *r[1:]) for r in z["boxes"]])
        who.append((s, v))
    return [np.stack(F0), np.stack(F1), np.stack(F2)], BX, who


# ------------------------------------------------------------------------------------- training

def train_head(feats, boxes, epochs=8, lr=3e-3, seed=0, log=print, init=None):
    torch.manual_seed(seed)
    head = Head()
    if init is not None:  # continue from a saved head (a second, lower-rate cycle)
        head.load_state_dict(torch.load(init))
    T = [targets(b) for b in boxes]
    tg = [[torch.from_numpy(np.stack([t[l][k] for t in T])) for k in range(4)] for l in range(3)]
    fs = [torch.from_numpy(f) for f in feats]
    n = len(boxes)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((n + 31) // 32)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    for ep in range(epochs):
        perm = torch.randperm(n)
        tot = 0.0
        head.train()
        for b0 in range(0, n, 32):
            idx = perm[b0:b0 + 32]
            outs = head([f[idx].float() for f in fs])
            npos = sum(float(tg[l][2][idx].sum()) for l in range(3))
            loss = 0.0
            for l, (c, b) in enumerate(outs):
                cls_t, reg_t, pos, ign = (t[idx] for t in tg[l])
                loss = loss + focal(c, cls_t, ign)
                m = pos[:, None]
                loss = loss + 2.0 * (F.smooth_l1_loss(b, reg_t, reduction="none", beta=0.1) * m).sum()
            loss = loss / max(1.0, npos)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(idx)
        log(f"  epoch {ep + 1}/{epochs} loss {tot / n:.4f}")
    return head.eval()


def main_train(argv=None):
    ap = argparse.ArgumentParser(prog="models.toolkit.detector train")
    ap.add_argument("data_dir")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--out", default=str(BUNDLE))
    ap.add_argument("--n-calib", type=int, default=96)
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--resume", action="store_true", help="start from .cache/detector/head.pt "
                    "(a further cycle at --lr)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--exclude-source", default="", help="plate sources left out of training "
                    "(comma-separated, of " + ", ".join(PLATE_SOURCES) + " and the --extra "
                    "ones): the leave-one-source-out runs")
    ap.add_argument("--extra", metavar="DIR", help="further plate sources (DIR/<source>/"
                    "labels.csv, as `python -m models.toolkit.extra_sources build` writes them): "
                    "their photos train too, as set plate_extra")
    ap.add_argument("--head", default=str(CACHE / "head.pt"), help="where the trained head's "
                    "weights are kept (--resume starts from them)")
    ap.add_argument("--trunk", default="float", help="where the frozen trunk's features come "
                    "from: 'float' (PyTorch, the ImageNet weights) or 'int8' / a detector "
                    "bundle folder (read out of its int8 graph, ~30x faster on CPU; "
                    "models/toolkit/detector/trunk.py)")
    ap.add_argument("--cache-shard", default="", help="K/N: only compute the trunk features of "
                    "every N-th missing view from the K-th, then stop (N processes fill the cache "
                    "side by side; a run without it trains on them)")
    ap.add_argument("--views", default="", help="training views per set, e.g. "
                    "'vin_boxes=1,plate_photos=2' (default: " + ",".join(
                        f"{k}={v}" for k, v in VIEWS.items()) + "); a smaller recipe for "
                    "the leave-one-source-out runs")
    a = ap.parse_args(argv)
    views = dict(VIEWS)
    for item in filter(None, a.views.split(",")):
        k, _, v = item.partition("=")
        if k not in VIEWS or not v.isdigit() or int(v) < 1:
            ap.error(f"--views: {item!r} is not SET=N with SET one of {', '.join(VIEWS)}")
        views[k] = int(v)
    excluded = {x for x in a.exclude_source.split(",") if x}
    samples = index(a.data_dir, a.extra)
    known = set(PLATE_SOURCES) | {s["plate_source"] for s in samples if "plate_source" in s}
    if excluded - known:
        ap.error(f"--exclude-source: unknown {sorted(excluded - known)}")
    torch.set_num_threads(2)
    t0 = time.time()
    by = {}
    for s in samples:
        by.setdefault((s["source"], s["split"]), 0)
        by[(s["source"], s["split"])] += 1
    print(f"[detector] samples {len(samples)}: " + ", ".join(f"{k[0]}/{k[1]} {v}" for k, v in sorted(by.items())), flush=True)
    levels = build_levels()
    train = [s for s in samples if s["split"] == "train" and s.get("plate_source") not in excluded] \
        + synthetic_plate_samples(SYNTHETIC_PLATES)
    if excluded:
        print(f"[detector] left out: {', '.join(sorted(excluded))}", flush=True)
    trunk = levels
    graph = trunk_graph(a.trunk)
    if graph is not None:
        trunk = Int8Trunk(graph)
        print(f"[detector] trunk features from the int8 graph {trunk.path}", flush=True)
    if a.cache_shard:
        k, _, n = a.cache_shard.partition("/")
        cache_features(trunk, train, log=lambda m: print(m, flush=True), views=views,
                       shard=(int(k), int(n)))
        return 0
    todo = cache_features(trunk, train, log=lambda m: print(m, flush=True), views=views)
    feats, boxes, _ = _load_cached(todo)
    print(f"[detector] training head on {len(boxes)} views ({time.time() - t0:.0f}s)", flush=True)
    init = None
    head_path = Path(a.head)
    if a.resume:
        init = head_path.with_name(head_path.stem + "_prev.pt")
        shutil.copy(head_path, init)
    head = train_head(feats, boxes, epochs=a.epochs, lr=a.lr, log=lambda m: print(m, flush=True),
                      init=init)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    head_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(head.state_dict(), head_path)
    record_trunk(head_path, None if trunk is levels else trunk)
    if a.no_export:
        return 0
    export(levels, head, train, out, created_by="python -m models.toolkit.detector train "
           + " ".join(argv if argv is not None else sys.argv[2:]), n_calib=a.n_calib)
    print(f"[detector] done in {time.time() - t0:.0f}s", flush=True)
    return 0


def export(levels, head, train, out: Path, *, created_by: str, n_calib: int = 96):
    from .. import quantize as Q
    from ..timing import latency_ms
    from edge.digest import sha256_file
    from ..publish import publish, staging_dir
    wrapper = ExportDetector(levels, head).eval()
    rng = np.random.default_rng(0)
    by = {}
    for s in train:
        by.setdefault(s["source"], []).append(s)
    calib = []
    for src in sorted(by):
        lst = by[src]
        for i in rng.permutation(len(lst))[:max(1, n_calib // len(by))]:
            calib.append((lst[i], int(rng.integers(0, 2)) if src == "plate_photos" else 0))
    tmp = staging_dir(out)
    model_path = tmp / "model.tflite"
    sample = torch.zeros(1, SIZE, SIZE, 3)
    t0 = time.time()
    Q.convert_int8(wrapper, sample, (view(s, v)[0] for s, v in calib), str(model_path),
                   input_name="image")
    ops = Q.op_histogram(str(model_path))
    print(f"[detector] int8 in {time.time() - t0:.0f}s, {model_path.stat().st_size / 1e6:.2f} MB, "
          f"ops {ops}", flush=True)
    lat = latency_ms(model_path)
    print(f"[detector] latency int8 2 threads median {lat['median_ms']:.2f} ms", flush=True)
    outputs = {}
    for s in STRIDES:
        outputs[f"cls_s{s}"] = {"type": "logits", "labels": LABELS, "stride": s}
        outputs[f"box_s{s}"] = {"type": "raw", "stride": s,
                                "encoding": "dx, dy, log w, log h in stride units from the cell centre"}
    manifest = {
        "format": 1, "name": "detector", "version": VERSION, "kind": "detector",
        "provenance": "trained",
        "description": "Anchor-free detector (plate, vin, damage, text_block): frozen "
                       "EfficientNet-Lite0 trunk (ImageNet), FPN-lite head at strides 8/16/32; "
                       "int8 PT2E via litert-torch.",
        "model_file": "model.tflite", "sha256": sha256_file(model_path),
        "signature": "serving_default",
        "input": {"name": "image", "height": SIZE, "width": SIZE, "channels": 3,
                  "dtype": "float32", "color": "rgb", "range": [0, 255], "resize": "stretch"},
        "outputs": outputs,
        "labels": LABELS, "strides": list(STRIDES),
        "thresholds": {"min_score": 0.35},
        "metrics": {"latency_int8": lat, "ops": ops},
        "created_by": created_by,
    }
    publish(tmp, out, manifest)
    print(f"[detector] bundle written to {out}", flush=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("train", "export"):
        print("usage: python -m models.toolkit.detector train DATA_DIR [--epochs N]", file=sys.stderr)
        return 2
    if argv[0] == "train":
        return main_train(argv[1:])
    # export from the saved head (no retraining)
    ap = argparse.ArgumentParser(prog="models.toolkit.detector export")
    ap.add_argument("data_dir")
    ap.add_argument("--out", default=str(BUNDLE))
    a = ap.parse_args(argv[1:])
    torch.set_num_threads(2)
    head = Head()
    head.load_state_dict(torch.load(CACHE / "head.pt"))
    train = [s for s in index(a.data_dir) if s["split"] == "train"]
    export(build_levels(), head.eval(), train, Path(a.out),
           created_by="python -m models.toolkit.detector export "
           + " ".join(argv[1:]))
    return 0

