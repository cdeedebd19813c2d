"""``claim-edge bench``: per-stage median/p95 latency, photos/s, peak RSS and cold start, over
generated photos of several sizes (12 MP included), beside the DESIGN budgets."""

from __future__ import annotations

import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from functools import partial

import cv2
import numpy as np

from .bundle import load_bundle, resolve_bundle
from .classifier import preprocess
from .config import Profile
from .pipeline import Pipeline
from .samples import plate_closeup, street_scene, write_drawn

SIZES = {"0.9MP 1280x720": (1280, 720), "2MP 1920x1080": (1920, 1080),
         "12MP 4032x3024": (4032, 3024)}
BUDGETS = {"classify": 10.0, "photo_total": 60.0, "cold_start_s": 3.0, "peak_rss_mb": 400.0}


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _vm_hwm_mb() -> float:
    """This process's peak resident set so far (VmHWM), in MB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return _peak_rss_mb()


def memory_probe(profile_source: str, model: str | None, photos: list[str],
                 documents: list[str]) -> list[tuple[str, float]]:
    """Peak RSS of a fresh device process (run in a child: the bench's own drawing and timing
    scaffolding must not count): the pipeline and every model the profile uses loaded (the demo
    photos make each one run: plate reader, box refiner, OCR, document classifier), then the
    12 MP photos, then document photos read with OCR. Returns (after what, VmHWM MB) pairs."""
    import dataclasses

    from .config import load_profile
    from .demo_photos import DEMO_DIR
    from .documents.bench import reading_every_photo
    from .memory import tune_heap
    tune_heap()   # as the command line does
    profile = load_profile(profile_source)
    # the OCR cache off: a page read from it costs no memory (the demo's invoice scan, read, is
    # the largest page here)
    profile = dataclasses.replace(profile, ocr=dataclasses.replace(profile.ocr, cache=False))
    pipe = Pipeline(profile, bundle=load_bundle(resolve_bundle(model)) if model else None)
    out = [("pipeline started", _vm_hwm_mb())]
    for p in sorted(DEMO_DIR.glob("*.jpg")):
        pipe.analyze(str(p))
    out.append(("every model loaded (demo photos read)", _vm_hwm_mb()))
    for p in photos:
        pipe.analyze(p)
    out.append(("12 MP photos without text", _vm_hwm_mb()))
    pipe = reading_every_photo(pipe)
    for p in documents:
        pipe.analyze(p)
    out.append(("document photos read (OCR)", _vm_hwm_mb()))
    return out


def _cold_start(profile: Profile, model: str | None) -> float:
    code = ("import time,sys; t=time.perf_counter(); "
            "from edge.config import load_profile; from edge.pipeline import Pipeline; "
            "from edge.bundle import load_bundle, resolve_bundle; "
            f"p=load_profile({profile.source!r}); m={model!r}; "
            "Pipeline(p, load_bundle(resolve_bundle(m)) if m else None); "
            "print(time.perf_counter()-t)")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t


def _bench_detector(pipe: Pipeline) -> None:
    """Detector alone (one pass) and the zoom cost (the second pass on a small plate's crop)."""
    from .detect import DetectStage, DetectTimings, detect_photo
    stage = next((s for s in pipe.stages if isinstance(s, DetectStage)), None)
    det = stage._get() if stage is not None else None
    if det is None:
        print("detector: not loaded (no detector bundle or detection off)", flush=True)
        return
    w, h = det.size
    x = np.zeros((1, h, w, 3), np.float32)
    ms = []
    for i in range(60):
        t = time.perf_counter()
        det.model.run(**{det.bundle.input.name: x})
        if i >= 10:
            ms.append((time.perf_counter() - t) * 1000)
    print(f"detector alone ({w}x{h}, {pipe.profile.runtime.threads} threads, 50 runs): median "
          f"{_pct(ms, 50):.2f} ms, p95 {_pct(ms, 95):.2f} ms", flush=True)
    # a distant plate in a 12 MP photo: first pass on the reduced decode, zoom on the full one
    big = cv2.resize(street_scene(1280, 720, seed=3), (4032, 3024))
    plate = cv2.resize(plate_closeup("ZOM1234", 640, 360, seed=3), (520, 290))
    big[2200:2490, 1700:2220] = plate
    small = cv2.resize(big, (1008, 756), interpolation=cv2.INTER_AREA)
    first, zoom, n = [], [], []
    for _ in range(10):
        t = DetectTimings()
        detect_photo(det, small, lambda: big, 4032, 3024, stage.cfg, category="plate", timings=t)
        first.append(t.first_ms)
        zoom.append(t.zoom_ms)
        n.append(t.zooms + t.tiles)
    print(f"detect on a 12 MP photo with a small plate (10 runs): first pass median "
          f"{_pct(first, 50):.1f} ms, zoom/tile passes median {_pct(zoom, 50):.1f} ms "
          f"({int(np.median(n))} second passes)", flush=True)
    _bench_refiner(stage, small)
    _bench_plate_readers(stage.cfg.plate_reader, pipe.profile.runtime.threads)
    _bench_plate_photo(pipe, stage, det)


def _bench_plate_photo(pipe: Pipeline, stage, det) -> None:
    """A 12 MP JPEG of a car's rear with its plate 10% of the width, the way the pipeline meets
    it: reduced decode, detection with the zoom (its crop cut from the cheapest decode that
    serves it), plate read with the profile's reader and region. Beside the DESIGN budget of a
    photo without text (the classifier and quality stages come on top)."""
    from .decode import decode_bytes
    from .detect import DetectTimings, detect_photo
    from .plates import open_recognizer, read_plate_field
    from .samples import jpeg_bytes
    cfg = stage.cfg
    big = cv2.resize(street_scene(1280, 720, seed=5), (4032, 3024))
    big[2300:2390, 1800:2200] = cv2.resize(plate_closeup("ZOM1234", 640, 360, seed=3)[124:236, 90:550],
                                           (400, 90), interpolation=cv2.INTER_AREA)
    data = jpeg_bytes(big, 90)
    rec = open_recognizer(cfg.plate_reader, pipe.profile.runtime.threads,
                          settled=cfg.plate_settled)
    parts: dict[str, list[float]] = {"decode": [], "detect + zoom": [], "read": [], "total": []}
    reads = set()
    for i in range(11):
        t0 = time.perf_counter()
        dec = decode_bytes(data, "bench-plate.jpg", max_pixels=pipe.profile.runtime.max_pixels,
                           classify_side=pipe.profile.runtime.classify_max_side)
        t1 = time.perf_counter()
        t = DetectTimings()
        dets = detect_photo(det, dec.small, dec.full, dec.width, dec.height, cfg,
                            category="vehicle", timings=t, crop=dec.crop)
        t2 = time.perf_counter()
        fv = read_plate_field(dec, [d for d in dets if d.label == "plate"], cfg.plate_region, rec)
        t3 = time.perf_counter()
        reads.add(fv.value if fv else "(none)")
        if i:  # the first run loads the recogniser
            for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                parts[k].append(v * 1000)
    total = _pct(parts["total"], 50)
    print("decode + detect + zoom + plate read, 12 MP car photo, plate 10% of the width (10 runs, "
          "median): " + ", ".join(f"{k} {_pct(v, 50):.1f} ms" for k, v in parts.items())
          + f" (read {'/'.join(sorted(reads))}, reader {rec.name}, region "
          f"{cfg.plate_region or 'any'}); DESIGN budget for a photo without text "
          f"{BUDGETS['photo_total']:.0f} ms: ratio {total / BUDGETS['photo_total']:.2f}"
          + ("" if total <= BUDGETS["photo_total"] else "  OVER"), flush=True)


def _bench_refiner(stage, small: np.ndarray) -> None:
    """The box refiner on one box (its iterations included): the cost per refined VIN."""
    ref = stage._get_refiner()
    if ref is None:
        print("box refiner: not loaded (detect.box_refiner empty or its bundle unusable)",
              flush=True)
        return
    ms = []
    for i in range(60):
        t = time.perf_counter()
        ref.refine_bgr(small, (300.0, 400.0, 360.0, 24.0))
        if i >= 10:
            ms.append((time.perf_counter() - t) * 1000)
    print(f"box refiner ({ref.bundle.name} {ref.bundle.version}, {ref.iterations} iterations, "
          f"50 runs): median {_pct(ms, 50):.2f} ms, p95 {_pct(ms, 95):.2f} ms per refined box",
          flush=True)


def _bench_plate_readers(configured: str, threads: int) -> None:
    """Plate read (rectify + recognise + normalise) on a plate crop: each available recogniser."""
    from .plates import open_recognizer, read_plate_image
    crop = plate_closeup("ZOM1234", 640, 360, seed=3)[124:236, 90:550]  # its plate, 6 px margin
    names = [configured] + [n for n in ("plate-reader", "rapidocr") if n != configured]
    res = {}
    for name in names:
        rec = open_recognizer(name, threads)
        if rec.name in res:  # a missing bundle fell back to RapidOCR
            continue
        ms = []
        for i in range(25):
            t = time.perf_counter()
            read_plate_image(crop, rec)
            if i >= 5:
                ms.append((time.perf_counter() - t) * 1000)
        res[rec.name] = _pct(ms, 50)
    base = res.get("rapidocr-rec")
    print("plate read on a crop (20 runs, median): " + ", ".join(
        f"{k} {v:.1f} ms" + (f" ({v / base:.2f}x rapidocr)" if base and k != "rapidocr-rec" else "")
        for k, v in res.items()) + f"; the profile uses {configured}", flush=True)


def run_bench(profile: Profile, args) -> int:
    model = getattr(args, "model", None)
    runs = max(1, args.runs)
    pipe = Pipeline(profile, bundle=load_bundle(resolve_bundle(model)) if model else None)
    bundle = pipe.bundle
    print(f"claim-edge bench: profile {profile.name}, {profile.runtime.threads} threads, model "
          f"{bundle.name} {bundle.version} ({bundle.provenance}), runtime "
          f"{pipe.classifier.model.runtime}, {runs} photos per size", flush=True)

    x = preprocess(np.zeros((480, 640, 3), np.uint8), bundle.input.width, bundle.input.height)
    cls_ms = []
    for i in range(60):
        t = time.perf_counter()
        pipe.classifier.model.run(**{bundle.input.name: x})
        if i >= 10:  # warm-up
            cls_ms.append((time.perf_counter() - t) * 1000)
    print(f"classifier alone ({bundle.input.width}x{bundle.input.height}, 50 runs): median "
          f"{_pct(cls_ms, 50):.2f} ms, p95 {_pct(cls_ms, 95):.2f} ms", flush=True)

    _bench_detector(pipe)
    from .documents.bench import BUDGET_MS as DOC_BUDGET_MS, bench_documents, receipt_photo

    rows = []
    with tempfile.TemporaryDirectory(prefix="claim-edge-bench-") as tmp:
        # Drawing 12 MP test photos takes far more memory than analysing them: do it in a child
        # process (see write_drawn)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            # vehicle scenes without text: the "photo without text" path of the budgets
            todo = {label: pool.apply_async(write_drawn, (tmp, f"{w}x{h}",
                                                          partial(street_scene, w, h), runs))
                    for label, (w, h) in SIZES.items()}
            receipts = pool.apply_async(write_drawn, (tmp, "receipt", receipt_photo, 3))
            photo_sets = {label: r.get() for label, r in todo.items()}
            receipts = receipts.get()
        for label, paths in photo_sets.items():
            stages: dict[str, list[float]] = {}
            t0 = time.perf_counter()
            for p in paths:
                r, _ = pipe.analyze(p)
                for k, v in r.timings_ms.items():
                    stages.setdefault(k, []).append(v)
            wall = time.perf_counter() - t0
            rows.append((label, stages, runs / wall))

        print(f"\n{'size':<16}{'stage':<10}{'median ms':>10}{'p95 ms':>10}")
        for label, stages, _ in rows:
            for k, v in stages.items():
                print(f"{label:<16}{k:<10}{_pct(v, 50):>10.1f}{_pct(v, 95):>10.1f}")
        print(f"\n{'size':<16}{'photos/s':>10}")
        for label, _, pps in rows:
            print(f"{label:<16}{pps:>10.1f}")

        med_doc = bench_documents(pipe, runs)
        # the memory a device process needs, measured in a fresh one (this process also holds
        # the bench's own test photos and timing state)
        with ctx.Pool(1) as pool:
            phases = pool.apply(memory_probe, (profile.source, model,
                                               photo_sets[list(SIZES)[-1]][:5], receipts))

    cold = _cold_start(profile, model)
    peak = max(v for _, v in phases)
    med_cls = _pct(cls_ms, 50)
    med_12 = _pct(rows[-1][1]["total"], 50)
    print("\nbudget (DESIGN)                     measured    budget   ratio")
    for name, got, budget in (("classifier int8 median ms", med_cls, BUDGETS["classify"]),
                              ("photo w/o text, 12MP, median ms", med_12, BUDGETS["photo_total"]),
                              ("document photo w/ OCR, median ms", med_doc, DOC_BUDGET_MS),
                              ("cold start to ready s", cold, BUDGETS["cold_start_s"]),
                              ("peak RSS MB", peak, BUDGETS["peak_rss_mb"])):
        print(f"{name:<34}{got:>10.2f}{budget:>10.1f}{got / budget:>8.2f}"
              f"{'' if got <= budget else '  OVER'}")
    print("peak RSS MB of a fresh device process (every model loaded, then 12 MP photos, then "
          "documents read): " + ", ".join(f"{k} {v:.0f}" for k, v in phases)
          + f"; this bench process: {_peak_rss_mb():.0f}")
    return 0
