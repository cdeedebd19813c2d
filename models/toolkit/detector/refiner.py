"""Box refiner: a small CNN that moves a detector box onto the object's edges (edge/detect/refine.py).

Training code only (the runtime is edge/detect/refine.py, torch-free).

Data: the VIN photos of ../shared/data/vin_boxes, the ``--splits`` it is given (the recipe was
chosen training on ``train`` and checking on ``val``; the shipped bundle is then trained on
``train+val`` with that recipe, and ``test`` stays held out). Each photo gives the boxes
the shipped detector finds there (VIN, score >= 0.05, at most 6: the mistakes it really makes)
and ``--jitters`` boxes made from the labelled one (height x0.45-2.5, width x0.7-1.4, centre moved
by N(0, 0.12) of the width and N(0, 0.45) of the height). For each, the region the runtime cuts
(``edge.detect.refine.region_around``) is the input; the targets are the labelled box's edges as
fractions of that region and the IoU of the input box with the labelled one (the quality).
One network is trained per ``--seeds`` value (its own generated boxes and initialisation); the
bundle is one int8 graph that averages them (``RefinerEnsemble``).

    python -m models.toolkit.detector.refiner train ../shared/data --splits train+val
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from edge.detect import iou_xywh, open_detector
from edge.detect.refine import cut_region, edges_of, box_of, region_around

from .data import index, load

H, W = 32, 160
VERSION = "1.2.0"
LABELS = ["vin"]
ITERATIONS = 2
BUNDLE = Path(__file__).resolve().parents[2] / "box-refiner"


class RefinerNet(nn.Module):
    """5 conv-BN-ReLU layers (the first at stride 2, max-pooling after the next three) to a
    (height/16) x 10 map (2 x 10 shipped), then two linear layers: 4 edges + 1 quality logit.
    NHWC float 0..255 in."""

    def __init__(self, height: int = H, width: int = W):
        super().__init__()
        self.height, self.width = height, width

        def conv(i, o, stride=1):
            return [nn.Conv2d(i, o, 3, stride=stride, padding=1), nn.BatchNorm2d(o), nn.ReLU()]

        self.features = nn.Sequential(*conv(3, 16, 2), *conv(16, 32), nn.MaxPool2d(2),
                                      *conv(32, 48), nn.MaxPool2d(2), *conv(48, 64),
                                      nn.MaxPool2d(2), *conv(64, 96))
        self.fc = nn.Sequential(nn.Flatten(),
                                nn.Linear(96 * (height // 16) * (width // 16), 128),
                                nn.ReLU(), nn.Linear(128, 5))

    @staticmethod
    def normalise(image):  # [N, H, W, 3] 0..255 -> [N, 3, H, W] -1..1
        return image.permute(0, 3, 1, 2) / 127.5 - 1.0

    def forward(self, image):
        return self.fc(self.features(self.normalise(image)))


class RefinerEnsemble(nn.Module):
    """The exported graph: the nets' hidden layers side by side, then one linear layer for the
    edges and one for the quality logit, each the mean of the nets' last layers (exactly their
    mean output). Two outputs, so that each int8 output has a scale of its own: in one [1, 5]
    output the logit's range set the edges' step to 0.04-0.07 of the region, up to 10 px of a
    VIN's width in a 256 px photo."""

    def __init__(self, nets: list[RefinerNet]):
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.height, self.width = nets[0].height, nets[0].width
        hidden = sum(n.fc[-1].in_features for n in nets)
        self.edges, self.quality = nn.Linear(hidden, 4), nn.Linear(hidden, 1)
        with torch.no_grad():
            for head, rows in ((self.edges, slice(0, 4)), (self.quality, slice(4, 5))):
                head.weight.copy_(torch.cat([n.fc[-1].weight[rows] for n in nets], 1) / len(nets))
                head.bias.copy_(torch.stack([n.fc[-1].bias[rows] for n in nets]).mean(0))

    def forward(self, image):
        x = RefinerNet.normalise(image)
        hidden = torch.cat([n.fc[:-1](n.features(x)) for n in self.nets], 1)
        return {"edges": self.edges(hidden), "quality": self.quality(hidden)}


def jitter(box, rng: np.random.Generator, dy: float = 0.45):
    x, y, w, h = box
    nh, nw = h * np.exp(rng.uniform(-0.8, 0.9)), w * np.exp(rng.uniform(-0.35, 0.35))
    cx = x + w / 2 + rng.normal(0, 0.12) * w
    cy = y + h / 2 + rng.normal(0, dy) * h
    return (cx - nw / 2, cy - nh / 2, nw, nh)


def photos(data_dir, split: str, detector, candidates: int = 6) -> list[dict]:
    """VIN photos of ``split`` (several joined by +): RGB, the labelled box, the detector's
    ``candidates`` best boxes."""
    out = []
    for s in index(data_dir):
        if s["source"] != "vin_boxes" or s["split"] not in split.split("+"):
            continue
        rgb, boxes = load(s)
        gt = next(b[1:] for b in boxes if b[0] in LABELS)
        Hh, Ww = rgb.shape[:2]
        cands = [d.box for d in detector.run_bgr(rgb[..., ::-1].copy(), (0.0, 0.0, Ww, Hh), 0.05,
                                                 0.5) if d.label in LABELS][:candidates]
        out.append({"key": s["key"], "split": s["split"], "rgb": rgb, "gt": tuple(gt),
                    "cands": cands})
    return out


def examples(photos_: list[dict], jitters: int, seed: int = 0, dy: float = 0.45,
             height: int = H):
    rng = np.random.default_rng(seed)
    X, T, Q = [], [], []
    for p in photos_:
        for b in list(p["cands"]) + [jitter(p["gt"], rng, dy) for _ in range(jitters)]:
            region = region_around(b)
            X.append(cut_region(p["rgb"], region, W, height))
            T.append(edges_of(p["gt"], region))
            Q.append(iou_xywh(b, p["gt"]))
    return (torch.tensor(np.stack(X)).float(), torch.tensor(np.stack(T)),
            torch.tensor(np.asarray(Q, np.float32)))


def train(X, T, Q, epochs: int, lr: float = 2e-3, seed: int = 0, log=print) -> RefinerNet:
    torch.manual_seed(seed)
    net = RefinerNet(X.shape[1], X.shape[2])
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    steps = epochs * ((len(X) + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    t0 = time.time()
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(X))
        total = 0.0
        for i in range(0, len(X), 64):
            idx = perm[i:i + 64]
            n = len(idx)
            # brightness and contrast jitter, so night and glare photos are not new
            x = (X[idx] * torch.empty(n, 1, 1, 1).uniform_(0.7, 1.3)
                 + torch.empty(n, 1, 1, 1).uniform_(-25, 25)).clamp(0, 255)
            out = net(x)
            reg = F.smooth_l1_loss(out[:, :4], T[idx], beta=0.05)
            loss = reg + F.binary_cross_entropy_with_logits(out[:, 4], Q[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += reg.item() * n
        log(f"[box-refiner] epoch {ep + 1}/{epochs} edge loss {total / len(X):.4f} "
            f"({time.time() - t0:.0f}s)")
    return net.eval()


def refine_float(net: RefinerNet | RefinerEnsemble, rgb, box, iterations: int = ITERATIONS):
    for _ in range(iterations):
        region = region_around(box)
        with torch.no_grad():
            x = torch.tensor(cut_region(rgb, region, net.width, net.height)[None]).float()
            out = net(x)
            out = out["edges"] if isinstance(out, dict) else out
        box = box_of(out[0].numpy(), region)
    return box


def top1_recall(photos_: list[dict], move=None) -> float:
    """Share of photos whose best-scoring candidate (refined by ``move``) has IoU >= 0.5."""
    hit = 0
    for p in photos_:
        if p["cands"]:
            b = p["cands"][0] if move is None else move(p["rgb"], p["cands"][0])
            hit += iou_xywh(b, p["gt"]) >= 0.5
    return hit / max(1, len(photos_))


def export(net: RefinerEnsemble, X, out: Path, *, metrics: dict, created_by: str) -> None:
    from .. import quantize as Q
    from ..timing import latency_ms
    from edge.digest import sha256_file
    from ..publish import publish, staging_dir
    tmp = staging_dir(out)
    mp = tmp / "model.tflite"
    idx = np.random.default_rng(0).permutation(len(X))[:160]
    Q.convert_int8(net.eval(), torch.zeros(1, net.height, net.width, 3),
                   (X[i].numpy() for i in idx), str(mp), input_name="image")
    lat = latency_ms(mp)
    manifest = {
        "format": 1, "name": out.name, "version": VERSION, "kind": "box_refiner",
        "provenance": "trained",
        "description": f"VIN box refiner: {len(net.nets)} 5-layer CNNs averaged, on the region "
                       "around a detector box -> the box's edges and a quality logit, int8.",
        "model_file": "model.tflite", "sha256": sha256_file(mp), "signature": "serving_default",
        "input": {"name": "image", "height": net.height, "width": net.width, "channels": 3,
                  "dtype": "float32", "color": "rgb", "range": [0, 255], "resize": "stretch"},
        "outputs": {"edges": {"type": "raw", "encoding": "left, right, top, bottom as fractions "
                              "of the region (edge/detect/refine.py)"},
                    "quality": {"type": "logits", "encoding": "how well the input box overlaps "
                                "the object (trained to its IoU)"}},
        "labels": LABELS, "iterations": ITERATIONS,
        "metrics": {**metrics, "latency_int8": lat},
        "created_by": created_by,
    }
    publish(tmp, out, manifest)
    print(f"[box-refiner] bundle {out}, int8 latency median {lat['median_ms']:.2f} ms", flush=True)


def main_train(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.toolkit.detector.refiner train",
                                 description="Train the VIN box refiner on DATA_DIR/vin_boxes "
                                 "(the --splits, default train) and write an int8 bundle.")
    ap.add_argument("data_dir")
    ap.add_argument("--out", default=str(BUNDLE),
                    help="bundle folder (default: models/box-refiner)")
    ap.add_argument("--detector", default="detector", help="detector bundle whose boxes it learns "
                    "to move (default: the shipped one)")
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--jitters", type=int, default=32, help="boxes made per labelled box")
    ap.add_argument("--jitter-dy", type=float, default=0.45, help="their centre's vertical "
                    "spread, in box heights (standard deviation)")
    ap.add_argument("--candidates", type=int, default=6, help="detector boxes per photo")
    ap.add_argument("--height", type=int, default=H, help="input height (a multiple of 16)")
    ap.add_argument("--splits", default="train", help="the splits it trains on, joined by + "
                    "(train+val once the recipe is chosen: the val check is then not held out)")
    ap.add_argument("--seeds", default="0,1,2", help="one network per seed, each with its own "
                    "generated boxes, exported as one graph that averages them (default 0,1,2)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    if a.height < 16 or a.height % 16:
        ap.error(f"--height {a.height}: a multiple of 16 is needed (the network pools by 16)")
    try:
        seeds = [int(v) for v in a.seeds.split(",")]
    except ValueError:
        ap.error(f"--seeds {a.seeds!r}: integers joined by commas are needed, e.g. 0,1,2")
    torch.set_num_threads(a.threads)
    t0 = time.time()
    det = open_detector(a.detector)
    splits = a.splits.split("+")
    # one pass over the photos, also when val is both trained on and checked
    every = photos(a.data_dir, "+".join(set(splits) | {"val"}), det, a.candidates)
    tr = [p for p in every if p["split"] in splits]
    va = [p for p in every if p["split"] == "val"]
    if not tr:
        raise SystemExit(f"{a.data_dir}: no vin_boxes photos in the {a.splits} split")
    nets = []
    for k, seed in enumerate(seeds):
        X, T, Q = examples(tr, a.jitters, seed, a.jitter_dy, a.height)
        print(f"[box-refiner] network {k + 1}/{len(seeds)} (seed {seed}): {len(tr)} {a.splits} "
              f"photos -> {len(X)} boxes, {len(va)} val photos ({time.time() - t0:.0f}s)",
              flush=True)
        nets.append(train(X, T, Q, a.epochs, seed=seed, log=lambda m: print(m, flush=True)))
    net = RefinerEnsemble(nets)
    before = top1_recall(va)
    after = top1_recall(va, lambda rgb, b: refine_float(net, rgb, b))
    held = "val" not in splits
    print(f"[box-refiner] val ({'held out' if held else 'trained on, not held out'}): top VIN "
          f"box IoU >= 0.5 on {before:.3f} of photos as detected, {after:.3f} refined (float, "
          f"{len(nets)} network{'s' if len(nets) > 1 else ''})", flush=True)
    export(net, X, Path(a.out), metrics={"trained_on": a.splits, "val_held_out": held,
                                         "val_top1_iou50_detected": before,
                                         "val_top1_iou50_refined_float": after,
                                         "val_photos": len(va), "seeds": seeds},
           created_by="python -m models.toolkit.detector.refiner train "
           + " ".join(argv))
    print(f"[box-refiner] done in {time.time() - t0:.0f}s", flush=True)
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "train":
        print("usage: python -m models.toolkit.detector.refiner train DATA_DIR [--out DIR] "
              "[--splits train+val] [--epochs N] [--jitters N] (train --help: all options)",
              file=sys.stderr)
        return 2
    return main_train(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
