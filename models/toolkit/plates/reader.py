"""A small dedicated plate recogniser: fully convolutional CNN + CTC, int8 TFLite.

Shipped as models/plate-reader (see its MODEL_CARD.md); the profiles score its reads together
with RapidOCR's recogniser (``detect.plate_reader = "plate-reader+rapidocr"``). On 2 CPU cores
training takes about 15 minutes (30 epochs of ~10k images, 20-30 s each).

Training code only (edge.plates.ctc.CtcPlateRecognizer runs the shipped bundle). Trained on the real
plate crops (plate_crops, US; plate_photos boxes, EU/BR) of the ``train`` split plus generated
plates (random BR/EU/US layouts and bands, the system's TrueType fonts and OpenCV's Hershey
fonts, loose and tight boxes, perspective, blur, noise); the epoch with the best exact read on
the ``val`` split is kept.

Input: [1, 32, 128, 3] float32 RGB 0..255 (the plate stretched; edge.plates.ctc.ctc_input).
Output ``logits`` [1, 32, 37] (an ensemble: [1, M, 32, 37]): per time step, blank + 0-9 + A-Z.

    python -m models.toolkit.plates.reader train ../shared/data [--seed N] [--out DIR]
    python -m models.toolkit.plates.reader ensemble ../shared/data --seeds 0,1,2 [--out DIR]
    python -m models.toolkit.plates.reader shapes ../shared/data [--out DIR]

``ensemble`` puts networks trained by ``train --seed N`` (their weights are kept in
.cache/plates) in one graph whose output carries each one's logits; the runtime votes on their
reads (the shipped bundle: seeds 0, 1, 2).

``shapes`` (also the last step of ``train``) counts the letter/digit layouts of the training
labels per region into the bundle's ``shape_prior`` and picks its weight on the val split
(edge.plates.ctc.ShapePrior).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from edge.plates.ctc import ctc_vote

from .. import corrections
from .sources import read_extra_plates
from .data import ALPHABET, H, W, build_arrays, real_image, real_samples

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / ".cache" / "plates"
BUNDLE = ROOT / "models" / "plate-reader"



# ------------------------------------------------------------------------------------- network

def _cbr(i, o, k=3, p=1, d=1):
    return nn.Sequential(nn.Conv2d(i, o, k, padding=p, dilation=d), nn.BatchNorm2d(o), nn.ReLU())


class CtcNet(nn.Module):
    def __init__(self, n_cls=len(ALPHABET) + 1):
        super().__init__()
        self.f = nn.Sequential(
            _cbr(3, 16), nn.MaxPool2d(2),                 # 16x64
            _cbr(16, 32), nn.MaxPool2d(2),                # 8x32
            _cbr(32, 64), _cbr(64, 64), nn.MaxPool2d((2, 1)),      # 4x32
            _cbr(64, 96), _cbr(96, 96), nn.MaxPool2d((2, 1)),      # 2x32
            _cbr(96, 128, k=(2, 3), p=(0, 1)),            # 1x32
            # horizontal context: a character's neighbours (plates are short, fixed-pitch rows)
            _cbr(128, 128, k=(1, 5), p=(0, 2)), _cbr(128, 128, k=(1, 5), p=(0, 4), d=(1, 2)),
            nn.Dropout(0.2))
        self.out = nn.Conv2d(128, n_cls, 1)

    def forward(self, x):                                 # NCHW normalised
        return self.out(self.f(x))                        # [N, C, 1, 32]


class EnsembleCtc(nn.Module):
    """Several CtcNets trained from different seeds, one graph, every member's logits out: the
    runtime votes on their reads (edge.plates.ctc.ctc_vote). Averaging their logits read 106/162 val
    plates (float, greedy) against 144-147 for each alone: a member puts a character's peak a few
    steps from where another does."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x):                                 # [N, C, 1, T] each
        return torch.stack([m(x) for m in self.members], 1)   # [N, M, C, 1, T]


class ExportCtc(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, image):
        x = (image.permute(0, 3, 1, 2) - 127.0) / 128.0
        return {"logits": step_logits(self.net(x))}       # [1, T, C] or [1, M, T, C]


def step_logits(y):
    """The network's [N, C, 1, T] (an ensemble's [N, M, C, 1, T]) as [N, (M,) T, C]."""
    return y[..., 0, :].transpose(-1, -2)


def train(X, Y, epochs, log=print, Xv=None, Yv=None, seed: int = 0):
    """AdamW + one-cycle; with a val set, the epoch with the best val exact read is kept."""
    torch.manual_seed(seed)
    net = CtcNet()
    best, best_state = -1.0, None
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    n = len(X)
    steps = epochs * ((n + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.15)
    tg = [torch.tensor([ALPHABET.index(c) + 1 for c in y]) for y in Y]
    for ep in range(epochs):
        net.train()
        perm = np.random.default_rng([seed, ep] if seed else ep).permutation(n)
        tot = 0.0
        for b0 in range(0, n, 64):
            idx = perm[b0:b0 + 64]
            x = (torch.from_numpy(X[idx].astype(np.float32)).permute(0, 3, 1, 2) - 127.0) / 128.0
            lp = F.log_softmax(net(x)[:, :, 0, :], dim=1).permute(2, 0, 1)  # T, N, C
            t = torch.cat([tg[i] for i in idx])
            tl = torch.tensor([len(tg[i]) for i in idx])
            il = torch.full((len(idx),), lp.shape[0], dtype=torch.long)
            loss = F.ctc_loss(lp, t, il, tl, blank=0, zero_infinity=True)
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
            tot += float(loss.detach()) * len(idx)
        msg = f"  epoch {ep + 1}/{epochs} ctc {tot / n:.3f}"
        if Xv is not None and (ep >= epochs // 2 or ep % 3 == 2):
            acc = evaluate(net, Xv, Yv)
            msg += f"  val exact {acc:.3f}"
            if acc > best:
                best, best_state = acc, {k: v.detach().clone() for k, v in net.state_dict().items()}
        log(msg)
    if best_state is not None:
        net.load_state_dict(best_state)
    return net.eval()


def evaluate(net, X, Y):
    net.eval()
    ok = 0
    with torch.no_grad():
        for b0 in range(0, len(X), 128):
            x = (torch.from_numpy(X[b0:b0 + 128].astype(np.float32)).permute(0, 3, 1, 2) - 127.0) / 128.0
            lg = step_logits(net(x)).numpy()
            ok += sum(ctc_vote(l, ALPHABET)[0] == y for l, y in zip(lg, Y[b0:b0 + 128]))
    return ok / max(1, len(X))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="models.toolkit.plates.reader")
    ap.add_argument("cmd", choices=["train", "ensemble", "shapes"])
    ap.add_argument("data_dir")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--synth", type=int, default=5000, help="generated plates")
    ap.add_argument("--views", type=int, default=8, help="views per real training crop (1 plain, the rest augmented)")
    ap.add_argument("--out", default=str(BUNDLE))
    ap.add_argument("--seed", type=int, default=0, help="initialisation and batch order")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--seeds", default="0,1,2", help="ensemble: the trained seeds to combine")
    ap.add_argument("--version", help="bundle version to write (default: 1.0.0; shapes: unchanged)")
    ap.add_argument("--corrections", action="append", default=[], metavar="EXPORT_DIR",
                    help="fold in the corrected plates of an export of `claim-edge central "
                         "export-labels` (train split; repeatable)")
    ap.add_argument("--exclude-source", default="", help="plate sources left out of training and "
                    "validation (comma-separated: openalpr-eu, openalpr-br, ucsd-us, "
                    "easypr-ccpd-cn, or an --extra source): the leave-one-source-out runs")
    ap.add_argument("--extra", metavar="DIR", help="further plate sources (DIR/<source>/"
                    "labels.csv, as `python -m models.toolkit.extra_sources build` writes them)")
    a = ap.parse_args(argv)
    log = lambda m: print(m, flush=True)  # noqa: E731
    excluded = {x for x in a.exclude_source.split(",") if x}
    S = real_samples(a.data_dir, a.corrections, a.extra)
    unknown = excluded - {s["source"] for s in S}
    S = [s for s in S if s["source"] not in excluded]
    if unknown:
        ap.error(f"--exclude-source: unknown {sorted(unknown)}")
    if a.corrections:
        log(f"[plates] {corrections.count(S)} corrected plates from {', '.join(a.corrections)}")
    if excluded:
        log(f"[plates] left out: {', '.join(sorted(excluded))}")
    wtag = ("-no-" + "-".join(sorted(excluded)) if excluded else "") + \
        ("-with-" + "-".join(sorted(read_extra_plates(a.extra))) if a.extra else "")
    if a.cmd == "shapes":
        fit_shapes(S, Path(a.out), log, a.version,
                   added_by="python -m models.toolkit.plates.reader " + " ".join(argv))
        return 0
    torch.set_num_threads(a.threads)
    weights = {int(v): CACHE / f"ctc-seed{int(v)}{wtag}.pt" for v in a.seeds.split(",")} \
        if a.cmd == "ensemble" else {}
    for seed, wp in weights.items():
        if not wp.is_file():
            raise SystemExit(f"{wp}: no network for seed {seed}; train it first with "
                             f"`python -m models.toolkit.plates.reader train {a.data_dir} --seed {seed}`")
    t0 = time.time()
    tr = [s for s in S if s["split"] == "train"]
    va = [s for s in S if s["split"] == "val"]
    log(f"[plates] real train {len(tr)}, val {len(va)}; building arrays")
    CACHE.mkdir(parents=True, exist_ok=True)
    X, Y = build_arrays(tr, a.synth, a.views, log)
    Xv, Yv = build_arrays(va, 0, 1, log)
    log(f"[plates] {len(X)} training images ({time.time() - t0:.0f}s)")
    if a.cmd == "ensemble":
        members = []
        for seed, wp in weights.items():
            m = CtcNet()
            m.load_state_dict(torch.load(wp))
            members.append(m.eval())
            log(f"[plates] seed {seed}: float val exact {evaluate(m, Xv, Yv):.3f}")
        net = EnsembleCtc(members).eval()
    else:
        net = train(X, Y, a.epochs, log, Xv, Yv, a.seed)
        torch.save(net.state_dict(), CACHE / f"ctc-seed{a.seed}{wtag}.pt")
    acc = evaluate(net, Xv, Yv)
    log(f"[plates] float val exact {acc:.3f}")
    export(net, X, Path(a.out), val_exact=acc, version=a.version or "1.0.0",
           created_by="python -m models.toolkit.plates.reader " + " ".join(argv),
           trained_on=corrections.summary(S, a.corrections))
    fit_shapes(S, Path(a.out), log)
    log(f"[plates] done in {time.time() - t0:.0f}s")
    return 0


WEIGHTS = (0.5, 1.0, 1.5, 2.0, 3.0)
FLOORS = (1e-4, 1e-3, 1e-2)


def fit_shapes(samples, bundle_dir: Path, log=print, version: str | None = None,
               added_by: str | None = None) -> dict:
    """Layout counts of the train split per region, weight and floor chosen by the exact read
    of the bundle's int8 model on the val split (crops as the runtime cuts them); written into
    the bundle's manifest as ``shape_prior``."""
    from edge.bundle import load_bundle
    from edge.plates.ctc import CtcPlateRecognizer, ShapePrior, shape_of
    counts: dict[str, dict[str, int]] = {}
    for s in samples:
        if s["split"] == "train":
            c, shape = counts.setdefault(s["region"], {}), shape_of(s["text"])
            c[shape] = c.get(shape, 0) + 1
    rec = CtcPlateRecognizer(load_bundle(bundle_dir))
    val = [(rec.logits(real_image(s)), s["text"], s["region"])
           for s in samples if s["split"] == "val"]

    def exact(prior):
        return sum(ctc_vote(lg, rec.alphabet, prior, reg)[0] == y for lg, y, reg in val)

    greedy = exact(None)
    best = (greedy, 0.0, 0.0)
    log(f"[shapes] val {len(val)} plates: greedy (no prior) {greedy} exact")
    for w in WEIGHTS:
        row = []
        for fl in FLOORS:
            n = exact(ShapePrior(counts, w, fl))
            row.append(f"floor {fl:g}: {n}")
            if n > best[0]:  # ties keep the lighter prior
                best = (n, w, fl)
        log(f"[shapes] weight {w}: " + ", ".join(row))
    mpath = bundle_dir / "manifest.json"
    m = json.loads(mpath.read_text(encoding="utf-8"))
    if best[1] == 0.0:
        log("[shapes] no weight beats greedy decoding on val: no prior written")
        m.pop("shape_prior", None)
    else:
        m["shape_prior"] = {"counts": counts, "weight": best[1], "floor": best[2],
                            "smoothing": 0.5, "layouts": 200}
        log(f"[shapes] kept weight {best[1]}, floor {best[2]:g}: val exact {best[0]}/{len(val)}")
    m.setdefault("metrics", {})["val_exact_int8"] = {"greedy": greedy / len(val),
                                                     "with_prior": best[0] / len(val)}
    if version:
        m["version"] = version
    if added_by and added_by not in m.get("created_by", ""):
        m["created_by"] = f"{m.get('created_by', '')}; prior: {added_by}"
    mpath.write_text(json.dumps(m, indent=1) + "\n", encoding="utf-8")
    load_bundle(bundle_dir)
    from ..canaries import write_or_warn
    write_or_warn(bundle_dir, log)   # the prior changes reads: the canaries follow
    return json.loads(mpath.read_text(encoding="utf-8"))


def export(net, X, out: Path, *, val_exact: float, created_by: str, version: str = "1.0.0",
           trained_on: dict | None = None):
    from .. import quantize as Q
    from ..timing import latency_ms
    from edge.digest import sha256_file
    from ..publish import publish, staging_dir
    tmp = staging_dir(out)
    mp = tmp / "model.tflite"
    idx = np.random.default_rng(0).permutation(len(X))[:160]
    Q.convert_int8(ExportCtc(net).eval(), torch.zeros(1, H, W, 3),
                   (X[i].astype(np.float32) for i in idx), str(mp), input_name="image")
    lat = latency_ms(mp)
    manifest = {
        "format": 1, "name": "plate-reader", "version": version, "kind": "plate_reader",
        "provenance": "trained",
        "description": "Licence plate recogniser: 7-layer CNN + CTC (blank + 0-9 + A-Z), int8" + (
            f"; {len(net.members)} of them, trained from different seeds, vote on the read"
            if isinstance(net, EnsembleCtc) else "") + ".",
        "model_file": "model.tflite", "sha256": sha256_file(mp), "signature": "serving_default",
        "input": {"name": "image", "height": H, "width": W, "channels": 3, "dtype": "float32",
                  "color": "rgb", "range": [0, 255], "resize": "stretch"},
        "outputs": {"logits": {"type": "logits", "labels": ["<blank>"] + list(ALPHABET)}},
        "alphabet": ALPHABET, "blank": 0,
        "metrics": {"val_exact_float": val_exact, "latency_int8": lat},
        "trained_on": trained_on or {"corrected_samples": 0, "exports": []},
        "created_by": created_by,
    }
    publish(tmp, out, manifest)
    print(f"[plates] bundle {out}, latency {lat['median_ms']:.2f} ms", flush=True)


if __name__ == "__main__":
    sys.exit(main())
