"""Export the trained network to an int8 TFLite bundle (model.tflite + manifest.json)."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from .. import quantize as Q
from .features import view_image
from ..timing import latency_ms
from .net import CATEGORY, DAMAGE, EMB_DIM, VIEW, ExportWrapper

INPUT_NAME = "image"


class AgreementError(RuntimeError):
    pass


def calibration_set(samples, size, n=240, seed=0):
    """Real training images (plain contract preprocessing), stratified over the real sources."""
    rng = np.random.default_rng(seed)
    by = {}
    for s in samples:
        if s["split"] == "train" and not s["synthetic"] and s["category"] is not None:
            by.setdefault(s["source"], []).append(s)
    picks = []
    per = max(1, n // max(1, len(by)))
    for src in sorted(by):
        lst = by[src]
        for i in rng.permutation(len(lst))[:per]:
            picks.append(lst[i])
    return picks


class _Int8Runner:
    """The shipped model through the runtime's interpreter wrapper (dequantized by name)."""

    def __init__(self, path, threads=2):
        try:
            from edge.inference import TFLiteModel
            self.m = TFLiteModel(Path(path), "serving_default", threads)
            self.run = lambda x: self.m.run(**{INPUT_NAME: x[None]})
        except ImportError:  # pragma: no cover - the runtime package is always beside us
            from ai_edge_litert.interpreter import Interpreter
            it = Interpreter(model_path=str(path), num_threads=threads)
            r = it.get_signature_runner()
            det = r.get_output_details()

            def run(x):
                out = r(**{INPUT_NAME: x[None]})
                res = {}
                for k, v in out.items():
                    s, z = det[k]["quantization"]
                    res[k] = (v.astype(np.float32) - z) * s if s else v.astype(np.float32)
                return res
            self.run = run


def check_agreement(wrapper, tflite_path, samples, size, *, min_category=0.98, min_cosine=0.95,
                    log=print):
    """Float (PyTorch) vs int8 (TFLite) on the same inputs: top-1 agreement per head and
    embedding cosine. Raises AgreementError below the thresholds."""
    r = _Int8Runner(tflite_path)
    agree = {"category": [], "damage": [], "view": []}
    cos = []
    int8_outputs = []
    for s in samples:
        x = view_image(s, 0, size)
        with torch.no_grad():
            f = wrapper(torch.from_numpy(x)[None])
        q = r.run(x)
        int8_outputs.append(q)
        for h in agree:
            agree[h].append(int(np.argmax(q[h])) == int(f[h].argmax()))
        a, b = q["embedding"].ravel(), f["embedding"].numpy().ravel()
        cos.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)))
    res = {f"{h}_top1_agreement": float(np.mean(v)) for h, v in agree.items()}
    res["embedding_cosine_mean"] = float(np.mean(cos))
    res["embedding_cosine_p05"] = float(np.quantile(cos, 0.05))
    res["n"] = len(samples)
    log(f"[export] float vs int8 on {len(samples)} validation images: " +
        ", ".join(f"{k} {v:.4f}" for k, v in res.items() if k != "n"))
    if res["category_top1_agreement"] < min_category or res["embedding_cosine_mean"] < min_cosine:
        raise AgreementError(
            f"int8 model disagrees with the float model: category agreement "
            f"{res['category_top1_agreement']:.4f} (min {min_category}), embedding cosine "
            f"{res['embedding_cosine_mean']:.4f} (min {min_cosine})")
    return res, int8_outputs


def calibrate_ranges(int8_outputs, samples, prototypes, *, quantile=0.02, margin=0.02):
    """Per-class similarity_range from int8 embeddings of validation samples that are of the class
    and predicted as the class: [q(quantile) - margin, 1.0]."""
    P = {c: np.asarray(v, np.float32) for c, v in prototypes.items()}
    sims = {c: [] for c in P}
    for s, q in zip(samples, int8_outputs):
        pred = CATEGORY[int(np.argmax(q["category"]))]
        if pred != s["category"] or pred not in P:
            continue
        e = q["embedding"].ravel()
        sims[pred].append(float(e @ P[pred] / (np.linalg.norm(e) + 1e-12)))
    ranges = {}
    for c, v in sims.items():
        lo = float(np.quantile(v, quantile)) - margin if len(v) >= 5 else 0.5
        ranges[c] = [round(max(-1.0, lo), 4), 1.0]
    return ranges, {c: len(v) for c, v in sims.items()}


def export_bundle(net, samples, out_dir: Path, *, size: int, prototypes: dict, created_by: str,
                  version: str = "1.0.0", n_calib=240, min_agreement=0.98, min_cosine=0.95,
                  n_check=None, log=print, extra_metrics=None) -> dict:
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    wrapper = ExportWrapper(net).eval()
    sample = torch.zeros(1, size, size, 3)
    calib = calibration_set(samples, size, n_calib)
    log(f"[export] PT2E int8 (litert-torch {Q.LITERT_TORCH_VERSION}), calibrating on {len(calib)} "
        f"real training images one at a time, batch 1, {size}x{size}")
    t0 = time.time()
    model_path = tmp / "model.tflite"
    Q.convert_int8(wrapper, sample, (view_image(s, 0, size) for s in calib), str(model_path),
                   input_name=INPUT_NAME)
    ops = Q.op_histogram(str(model_path))
    log(f"[export] converted in {time.time() - t0:.0f}s, {model_path.stat().st_size / 1e6:.2f} MB, ops {ops}")
    val = [s for s in samples if s["split"] == "val" and s["category"] is not None]
    if n_check:
        val = val[:n_check]
    agreement, int8_val = check_agreement(wrapper, model_path, val, size, min_category=min_agreement,
                                          min_cosine=min_cosine, log=log)
    ranges, counts = calibrate_ranges(int8_val, val, prototypes)
    log(f"[export] similarity ranges (val, int8): {ranges}")
    lat = latency_ms(model_path)
    log(f"[export] latency int8 2 threads: median {lat['median_ms']:.2f} ms")
    from edge.digest import sha256_file
    r = _Int8Runner(model_path)
    deq = {}
    try:
        for name, spec in r.m.outputs.items():
            deq[name] = {"scale": spec.scale, "zero_point": spec.zero_point}
    except AttributeError:
        pass
    manifest = {
        "format": 1,
        "name": "claim-classifier",
        "version": version,
        "kind": "classifier",
        "provenance": "trained",
        "description": "EfficientNet-Lite0 (ImageNet) multi-task photo classifier: category, damage "
                       "severity, vehicle view and a 128-d embedding for verified labels; int8 PT2E.",
        "model_file": "model.tflite",
        "sha256": sha256_file(model_path),
        "signature": "serving_default",
        "input": {"name": INPUT_NAME, "height": size, "width": size, "channels": 3,
                  "dtype": "float32", "color": "rgb", "range": [0, 255],
                  "resize": "stretch", "interpolation": "area (linear when enlarging)"},
        "outputs": {
            "category": {"type": "logits", "labels": CATEGORY},
            "damage": {"type": "logits", "labels": DAMAGE},
            "view": {"type": "logits", "labels": VIEW},
            "embedding": {"type": "embedding", "dim": EMB_DIM},
        },
        "dequantization": deq,
        "prototypes": {"category": {c: {"vector": prototypes[c], "similarity_range": ranges[c]}
                                    for c in CATEGORY if c in prototypes}},
        "thresholds": {"min_score": 0.5},
        "metrics": {"int8_agreement": agreement, "latency_int8": lat,
                    "similarity_calibration_counts": counts, "ops": ops, **(extra_metrics or {})},
        "created_by": created_by,
        "created_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    from edge.bundle import load_bundle
    from edge.health import write_canary
    load_bundle(tmp)  # validate before it replaces anything
    write_canary(tmp)  # the sample photos with this model's labels: the device's health check
    # keep files the evaluation wrote earlier only if they belong to this model: start clean
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    log(f"[export] bundle written to {out_dir}")
    return manifest
