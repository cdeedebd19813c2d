"""``claim-edge eval detect DATA_DIR`` and ``claim-edge eval plates DATA_DIR``.

Runs the shipped detector bundle through the device runtime (edge.detect: reduced decode, int8
TFLite, numpy decoding, NMS, zoom second pass) on ../shared/data and prints:

- detect: per set and class, recall and precision at IoU 0.5 at the profile's score threshold
  with and without the zoom pass and with and without the box refiner (edge/detect/refine.py), recall
  of small boxes (the ones the zoom rule applies to) with and without the zoom, AP50 (first
  pass, all scores >= 0.05), the mean IoU of each labelled box with its best detection (how
  tight the boxes are, not only whether past 0.5), and the latencies.
  plate_photos and plate_scenes are reported per plate source (openalpr-eu, openalpr-br,
  ucsd-us, easypr-ccpd-cn), with plate recall by the box's width in the photo's pixels.
- plates: per plate source (models/toolkit/plates/evaluate.py): detection recall at IoU 0.5, recall
  by plate width, exact plate read end to end from the full photo (detect -> zoom -> crop ->
  rectify -> recognise -> normalise) and from the labelled box, the kinds of misread (O/0, I/1,
  B/8, S/5, Z/2, dropped first/last character ...), the mean and the worst source; and exact
  read on plate_crops (the crop is the whole image).

Splits: the toolkit's hash split of the file name (models.toolkit.sources.split_of); the detector
was trained on ``train`` only, so ``test`` (default) and ``val`` are held out. ``--split all``
with ``--sources SRC`` measures a source the models never saw (leave one source out:
models/toolkit/plates/loso.py). The plate-reader
bundle trains on the ``train`` split of plate_crops and plate_photos and picks its epoch on
``val``: plate_crops are read on ``test`` by default too.

Torch-free: runs in the runtime environment.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from edge.config import load_profile
from edge.decode import decode_bytes
from edge.detect import (DetectTimings, Detector, detect_photo, iou_xywh, needs_zoom,
                         open_detector)
from edge.detect.refine import open_refiner

from ..plates.evaluate import WIDTH_BUCKETS, width_bucket
from ..plates.sources import PLATE_SOURCES, source_region
from .data import LABELS, index, load


def _decode(path: str):
    data = Path(path).read_bytes()
    return decode_bytes(data, path, max_pixels=120_000_000, classify_side=640)


def _match(gts, dets, iou=0.5):
    """Greedy matching by score. Returns (tp flags per det in score order, scores, matched gt)."""
    order = sorted(range(len(dets)), key=lambda k: -dets[k][1])
    used = set()
    tp, sc = [], []
    for k in order:
        box, score = dets[k]
        best, bi = iou, -1
        for i, g in enumerate(gts):
            if i in used:
                continue
            v = iou_xywh(box, g)
            if v >= best:
                best, bi = v, i
        if bi >= 0:
            used.add(bi)
        tp.append(bi >= 0)
        sc.append(score)
    return tp, sc, used


def ap50(records, n_gt):
    """VOC all-point AP from (score, tp) over all images."""
    if n_gt == 0:
        return float("nan")
    if not records:
        return 0.0
    records = sorted(records, key=lambda r: -r[0])
    tp = np.cumsum([r[1] for r in records])
    fp = np.cumsum([not r[1] for r in records])
    rec = tp / n_gt
    prec = tp / np.maximum(tp + fp, 1e-9)
    mrec = np.concatenate([[0], rec, [1]])
    mpre = np.concatenate([[0], prec, [0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def _samples(data_dir, split, sources, extra=None):
    out = [s for s in index(data_dir, extra) if s["source"] in sources]
    if split != "all":
        splits = split.split("+")
        out = [s for s in out if s["split"] in splits]
    return out


def _common(prog, argv):
    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("data_dir")
    ap.add_argument("--split", default="test", help="test (default), val, val+test or all")
    ap.add_argument("--model", default=None, help="detector bundle (default: the profile's)")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="at most N photos per set")
    ap.add_argument("--json", default=None, help="also write the metrics to this file")
    return ap


def main_detect(argv=None) -> int:
    ap = _common("claim-edge eval detect", argv)
    ap.add_argument("--sets", default="plate_photos,plate_scenes,vin_boxes,damage_boxes,receipts",
                    help="data sets (plate_photos and plate_scenes are reported per plate source)")
    ap.add_argument("--refiner", default=None, help="box refiner bundle (default: the "
                    "profile's detect.box_refiner); every class is also scored without it")
    a = ap.parse_args(argv)
    prof = load_profile(a.profile)
    cfg = prof.detect
    det = open_detector(a.model or cfg.detector, a.threads)
    ref = open_refiner(a.refiner or cfg.box_refiner, a.threads) \
        if (a.refiner or cfg.box_refiner) else None
    sets = a.sets.split(",")
    samples = _samples(a.data_dir, a.split, sets)
    print(f"eval detect: {det.bundle.name} {det.bundle.version} ({det.bundle.path}), split "
          f"{a.split}, score >= {cfg.score_threshold}, zoom: short side < {cfg.zoom_min_side_px} "
          f"px or area < {cfg.zoom_max_fraction} of the photo, labels {cfg.zoom_labels}; refiner "
          f"{ref.bundle.name + ' ' + ref.bundle.version if ref else 'off'} on {cfg.refine_labels}",
          flush=True)
    low = replace(cfg, score_threshold=0.05, max_detections=100)
    metrics = {}
    first_ms, zoom_ms, zooms = [], [], []
    groups = []  # plate photos: one group per plate source (edge of a region), else per set
    for src in sets:
        if src in ("plate_photos", "plate_scenes"):
            groups += [(ps, src) for ps in PLATE_SOURCES if any(
                s["source"] == src and s["plate_source"] == ps for s in samples)]
        else:
            groups.append((src, src))
    for src, set_name in groups:
        lst = [s for s in samples if s["source"] == set_name and s.get("plate_source", src) == src]
        if a.limit:
            lst = lst[:a.limit]
        if not lst:
            continue
        per = {}
        for s in lst:
            dec = _decode(s["path"])
            _, boxes = load(s)
            # ground truth in the decoded image's pixels (load() reads the same file)
            W, H = dec.width, dec.height
            t = DetectTimings()
            with_zoom = detect_photo(det, dec.small, dec.full, W, H, cfg, timings=t, refiner=ref)
            first_ms.append(t.first_ms)
            if t.zooms:
                zoom_ms.append(t.zoom_ms)
            zooms.append(t.zooms)
            no_zoom = detect_photo(det, dec.small, dec.full, W, H, cfg, zoom=False, refiner=ref)
            no_refine = detect_photo(det, dec.small, dec.full, W, H, cfg) if ref else with_zoom
            all_low = detect_photo(det, dec.small, dec.full, W, H, low, zoom=False)
            for lab in LABELS:
                gts = [b[1:] for b in boxes if b[0] == lab]
                if not gts and lab not in {b[0] for b in boxes} and \
                        not any(d.label == lab for d in with_zoom):
                    continue
                m = per.setdefault(lab, {"n_gt": 0, "n_small": 0, "tp_zoom": 0, "det_zoom": 0,
                                         "tp_nozoom": 0, "det_nozoom": 0, "small_zoom": 0,
                                         "small_nozoom": 0, "tp_norefine": 0,
                                         "det_norefine": 0, "small_norefine": 0,
                                         "ap_records": [], "best_iou": [],
                                         "widths": {b[2]: [0, 0] for b in WIDTH_BUCKETS}})
                small = [needs_zoom(g, W, H, lab, replace(cfg, zoom_labels=LABELS)) for g in gts]
                m["n_gt"] += len(gts)
                m["n_small"] += sum(small)
                for key, dets in (("zoom", with_zoom), ("nozoom", no_zoom),
                                  ("norefine", no_refine)):
                    dd = [(d.box, d.score) for d in dets if d.label == lab]
                    tp, _, used = _match(gts, dd)
                    m[f"tp_{key}"] += sum(tp)
                    m[f"det_{key}"] += len(dd)
                    m[f"small_{key}"] += sum(1 for i in used if small[i])
                    if key == "zoom":  # recall by the box's width in the photo's pixels
                        for i, g in enumerate(gts):
                            wb = m["widths"][width_bucket(g[2])]
                            wb[0] += 1
                            wb[1] += i in used
                # how well each labelled box is covered, not only whether past 0.5
                m["best_iou"] += [max((iou_xywh(d.box, g) for d in with_zoom if d.label == lab),
                                      default=0.0) for g in gts]
                dd = [(d.box, d.score) for d in all_low if d.label == lab]
                tp, sc, _ = _match(gts, dd)
                m["ap_records"] += list(zip(sc, tp))
        for lab, m in per.items():
            if m["n_gt"] == 0:
                continue
            r = {"photos": len(lst), "boxes": m["n_gt"], "small_boxes": m["n_small"],
                 "recall": m["tp_zoom"] / m["n_gt"],
                 "precision": m["tp_zoom"] / max(1, m["det_zoom"]),
                 "recall_no_zoom": m["tp_nozoom"] / m["n_gt"],
                 "precision_no_zoom": m["tp_nozoom"] / max(1, m["det_nozoom"]),
                 "recall_no_refiner": m["tp_norefine"] / m["n_gt"],
                 "precision_no_refiner": m["tp_norefine"] / max(1, m["det_norefine"]),
                 "small_recall": m["small_zoom"] / m["n_small"] if m["n_small"] else None,
                 "small_recall_no_zoom": m["small_nozoom"] / m["n_small"] if m["n_small"] else None,
                 "ap50_first_pass": ap50(m["ap_records"], m["n_gt"]),
                 "mean_best_iou": float(np.mean(m["best_iou"])),
                 "recall_by_width": {k: {"boxes": v[0], "recall": v[1] / v[0] if v[0] else None}
                                     for k, v in m["widths"].items()}}
            metrics[f"{src}/{lab}"] = r
            sr = "" if r["small_recall"] is None else (
                f"; small ({m['n_small']}) recall {r['small_recall']:.3f} vs "
                f"{r['small_recall_no_zoom']:.3f} without zoom")
            print(f"{src:<14} {lab:<10} {len(lst):>4} photos {m['n_gt']:>5} boxes: recall@0.5 "
                  f"{r['recall']:.3f} (no zoom {r['recall_no_zoom']:.3f}, no refiner "
                  f"{r['recall_no_refiner']:.3f}), precision {r['precision']:.3f} (no zoom "
                  f"{r['precision_no_zoom']:.3f}, no refiner {r['precision_no_refiner']:.3f}), AP50 "
                  f"{r['ap50_first_pass']:.3f}, mean IoU {r['mean_best_iou']:.3f}{sr}", flush=True)
            if lab == "plate":
                print(f"{'':<13} plate recall by width (px): " + ", ".join(
                    f"{k} {v['recall']:.2f} ({v['boxes']})" for k, v in
                    r["recall_by_width"].items() if v["boxes"]), flush=True)
    lat = {"first_pass_median_ms": float(np.median(first_ms)) if first_ms else None,
           "zoom_pass_median_ms_when_zooming": float(np.median(zoom_ms)) if zoom_ms else None,
           "zooms_per_photo_mean": float(np.mean(zooms)) if zooms else None,
           "threads": a.threads}
    metrics["latency"] = lat
    print(f"latency ({a.threads} threads): first pass median {lat['first_pass_median_ms']:.1f} ms; "
          f"zoom passes median {lat['zoom_pass_median_ms_when_zooming'] or 0:.1f} ms on photos "
          f"that zoom; {lat['zooms_per_photo_mean'] or 0:.2f} zooms per photo", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    return 0


def _wide(s: dict, factor: float):
    """The photo of sample ``s`` as a wide shot (plates.evaluate.wide_shot), JPEG-encoded and decoded
    as the runtime would; the sample with its boxes moved."""
    import zlib

    import cv2

    from edge.samples import jpeg_bytes

    from ..plates.evaluate import wide_shot
    bgr = cv2.imread(s["path"], cv2.IMREAD_COLOR)
    frame, boxes = wide_shot(bgr, s["boxes"], factor, zlib.crc32(s["key"].encode()))
    data = jpeg_bytes(frame, quality=90)
    return decode_bytes(data, s["path"], max_pixels=120_000_000, classify_side=640), \
        {**s, "boxes": boxes}


def _read_crops(data_dir, split, rec, limit=0):
    from edge.plates import read_plate_image
    rows = list(csv.DictReader(open(Path(data_dir) / "plate_crops" / "labels.csv",
                                    encoding="utf-8")))
    from ..sources import split_of
    if split != "all":
        rows = [r for r in rows if split_of(f"plate_crops/{Path(r['image']).name}")
                in split.split("+")]
    if limit:
        rows = rows[:limit]
    ok, ms = 0, []
    wrong = []
    for r in rows:
        dec = _decode(str(Path(data_dir) / "plate_crops" / r["image"]))
        t = time.perf_counter()
        fv = read_plate_image(dec.full(), rec, "us")
        ms.append((time.perf_counter() - t) * 1000)
        got = fv.value if fv else ""
        ok += got == r["plate"]
        if got != r["plate"] and len(wrong) < 8:
            wrong.append(f"{r['plate']}->{got or '(none)'}")
    return ok, len(rows), ms, wrong


def main_plates(argv=None) -> int:
    ap = _common("claim-edge eval plates", argv)
    ap.add_argument("--crops-split", default="test", help="plate_crops split (default test: the "
                    "plate reader bundle trains on train and picks its epoch on val)")
    ap.add_argument("--skip-crops", action="store_true")
    ap.add_argument("--skip-reads", action="store_true", help="detection only: the plate photos' "
                    "plates are not read (no reader is loaded; implies --skip-crops)")
    ap.add_argument("--reader", help="plate recogniser: rapidocr, a plate_reader bundle name or "
                    "folder, or several joined by + (default: the profile's detect.plate_reader)")
    ap.add_argument("--sources", default=",".join(PLATE_SOURCES),
                    help=f"plate photo sources to measure (default: {','.join(PLATE_SOURCES)}; "
                    "an --extra source by its folder name)")
    ap.add_argument("--extra", metavar="DIR", help="further plate sources (DIR/<source>/"
                    "labels.csv, as `python -m models.toolkit.extra_sources build` writes them)")
    ap.add_argument("--head", help="a detector head trained with `models.toolkit.detector train "
                    "--no-export --head PATH`, run on the --model bundle's int8 trunk (before "
                    "any export; the leave-one-source-out runs)")
    ap.add_argument("--wide", type=float, default=1.0, help="measure wide shots: each photo "
                    "placed at its own resolution in a frame this many times larger (its blurred "
                    "enlargement), so a plate 10%% of the width becomes 10/F %%")
    ap.add_argument("--misses", action="store_true", help="also list every plate not detected "
                    "at IoU 0.5, with the closest plate box (the JSON always holds them)")
    ap.add_argument("--region", choices=["source", "profile"], default="source",
                    help="plate region the reads are normalised for: each source's own (a device "
                    "set up for its country; default) or the profile's detect.plate_region")
    a = ap.parse_args(argv)
    from edge.plates import open_recognizer
    prof = load_profile(a.profile)
    cfg = prof.detect
    reader = a.reader or cfg.plate_reader
    try:  # no silent fallback here: the numbers must be the named reader's
        rec = None if a.skip_reads else open_recognizer(reader, a.threads, strict=True,
                                                        settled=cfg.plate_settled)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    metrics = {}
    det: Detector | None = None
    try:
        det = open_detector(a.model or cfg.detector, a.threads)
        name = f"{det.bundle.name} {det.bundle.version}"
    except Exception as e:  # noqa: BLE001
        print(f"no detector ({e}): plate photos skipped", flush=True)
    if det is not None and a.head:  # a trained head on that bundle's int8 trunk
        from .trunk import HeadDetector
        try:  # the numbers must be this head's: no silent skip
            det = HeadDetector(a.head, det.bundle.model_file, a.threads)
        except (OSError, ValueError, RuntimeError) as e:
            raise SystemExit(f"--head {a.head}: {e}") from None
        name = det.name
    if det is not None:
        from ..plates.evaluate import (SourceTally, device_category, evaluate_photo, format_source,
                                       format_summary, format_undetected, summary)
        category = device_category(prof, a.threads)
        sources = a.sources.split(",")
        lst = _samples(a.data_dir, a.split, ["plate_photos", "plate_scenes", "plate_extra"],
                       a.extra)
        known = list(PLATE_SOURCES) + sorted({s["plate_source"] for s in lst} - set(PLATE_SOURCES))
        unknown = set(sources) - set(known)
        if unknown:
            raise SystemExit(f"--sources: unknown {sorted(unknown)} (known: {', '.join(known)})")
        lst = [s for s in lst if s["plate_source"] in sources]
        print(f"eval plates: {name}, recogniser {rec.name if rec else '(not read)'}, "
              f"split {a.split}, region {'per source' if a.region == 'source' else repr(cfg.plate_region)}"
              f" ({len(lst)} photos)", flush=True)
        per = {}
        for src in sources:
            tally = SourceTally(reads=rec is not None)
            todo = [s for s in lst if s["plate_source"] == src]
            if a.limit:
                todo = todo[:a.limit]
            for k, s in enumerate(todo):
                region = source_region(s) if a.region == "source" else cfg.plate_region
                if a.wide > 1:
                    dec, s = _wide(s, a.wide)
                else:
                    dec = _decode(s["path"])
                evaluate_photo(tally, dec, s, det, rec, cfg, region, category(dec))
                if (k + 1) % 100 == 0:
                    print(f"  {src}: {k + 1}/{len(todo)} photos", flush=True)
            if not tally.photos:
                continue
            per[src] = metrics[f"plates/{src}"] = tally.as_dict()
            for line in format_source(src, per[src]) + (
                    format_undetected(per[src]) if a.misses else []):
                print(line, flush=True)
        metrics["summary"] = summary(per)
        print(format_summary(metrics["summary"]), flush=True)
    if not (a.skip_crops or a.skip_reads):
        ok, n, ms, wrong = _read_crops(a.data_dir, a.crops_split, rec, a.limit)
        metrics["plate_crops"] = {"crops": n, "exact_read": ok / max(1, n),
                                  "median_ms": float(np.median(ms)) if ms else None}
        print(f"plate_crops (us, split {a.crops_split}) {n} crops: exact read {ok / max(1, n):.3f}, "
              f"recogniser median {np.median(ms):.0f} ms; misses e.g. {', '.join(wrong)}",
              flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main_detect() if sys.argv[1:2] != ["plates"] else main_plates(sys.argv[2:]))
