"""Leave one plate source out: for each source, a detector and a plate reader trained without
it, measured end to end on all of its photos (``claim-edge eval plates --split all``).

    nice -n 10 python -m models.toolkit.plates.loso ../shared/data [--sources a,b] [--out DIR]

Per held-out source it runs, as separate processes (each prints its own progress):

1. ``models.toolkit.detector train DATA --exclude-source SRC --no-export`` (one cycle of
   ``--detector-epochs`` on ``--detector-views``, trunk features read out of the shipped int8
   detector; the shipped recipe has more views, 8+8 epochs and an int8 export), the head in
   ``OUT/SRC/head.pt``, measured in float on that int8 trunk (``eval plates --head``);
2. ``models.toolkit.plates.reader train DATA --exclude-source SRC`` (one network: a smaller recipe
   of the same architecture, ``--reader-epochs``, ``--reader-synth``, ``--reader-views``), the
   bundle in ``OUT/SRC/reader``;
3. ``claim-edge eval plates DATA --split all --sources SRC --head OUT/SRC/head.pt`` with the
   reader (with RapidOCR as in the profiles), metrics in ``OUT/SRC/plates.json``.

A step whose output is already there is not run again (``--force`` reruns), except a head
trained on another detector's int8 trunk (``OUT/SRC/head.trunk`` records it: a new detector
export re-quantizes the trunk), which is trained and measured again. The table at the end
(also ``OUT/loso.json``) is the model cards' headline: per held-out source, the mean and the
worst. ``--skip-reader`` measures held-out detectors with the shipped reader.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from .sources import PLATE_SOURCES, read_extra_plates
from ..detector.trunk import recorded_trunk, trunk_graph, trunk_key

ROOT = Path(__file__).resolve().parents[3]
# the held-out runs' smaller detector recipe (CPU): fewer augmented views per photo
SMALL_VIEWS = ("plate_photos=2,plate_scenes=2,vin_boxes=1,damage_boxes=1,receipts=1,not_claim=1,"
               "synthetic_plates=1,plate_extra=2")


def _run(cmd: list[str], log: Path) -> None:
    print(f"[loso] {' '.join(cmd)}  (log {log})", flush=True)
    t = time.time()
    with open(log, "w", encoding="utf-8") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    if r.returncode:
        raise SystemExit(f"[loso] failed ({r.returncode}) after {time.time() - t:.0f}s: see {log}")
    print(f"[loso]   done in {time.time() - t:.0f}s", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.toolkit.plates.loso")
    ap.add_argument("data_dir")
    ap.add_argument("--sources", default=",".join(PLATE_SOURCES))
    ap.add_argument("--out", default=str(ROOT / ".cache" / "loso"))
    ap.add_argument("--detector-epochs", type=int, default=4)
    ap.add_argument("--detector-views", default=SMALL_VIEWS,
                    help=f"training views per set (default {SMALL_VIEWS}; the shipped recipe: "
                    "models.toolkit.detector.train.VIEWS)")
    # 6 epochs of 1,500 generated plates never left the CTC plateau (val exact 0.000); 15 of
    # 3,000 reached 0.81-0.86 on val (the plate-reader card, 2026-12-06)
    ap.add_argument("--reader-epochs", type=int, default=15)
    ap.add_argument("--reader-synth", type=int, default=3000)
    ap.add_argument("--reader-views", type=int, default=4)
    ap.add_argument("--trunk", default="int8", help="detector trunk features: int8 (read out of "
                    "the shipped detector's graph, fast) or float")
    ap.add_argument("--skip-reader", action="store_true",
                    help="held-out detectors only; plates read by the profile's reader")
    ap.add_argument("--extra", metavar="DIR", help="further plate sources (DIR/<source>/labels.csv,"
                    " `python -m models.toolkit.extra_sources build`): in every held-out run's "
                    "training; --sources may name them too. Give such runs their own --out: "
                    "what is already there is not retrained")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--force", action="store_true", help="retrain and re-measure everything")
    a = ap.parse_args(argv)
    py = sys.executable
    out = Path(a.out)
    results = {}
    extra = ["--extra", a.extra] if a.extra else []
    known = list(PLATE_SOURCES) + (sorted(read_extra_plates(a.extra)) if a.extra else [])
    graph = trunk_graph(a.trunk)  # the trunk this run's heads train on
    run_trunk = trunk_key(graph) if graph is not None else None
    for src in a.sources.split(","):
        if src not in known:
            ap.error(f"--sources: unknown {src!r} (known: {', '.join(known)})")
        d = out / src
        d.mkdir(parents=True, exist_ok=True)
        head, rdr = d / "head.pt", d / "reader"
        trained_on = recorded_trunk(head) if head.is_file() else None
        stale = trained_on not in (None, run_trunk)
        if stale:
            print(f"[loso] {head} was trained on another int8 trunk ({trained_on}, this run's "
                  f"is {run_trunk}): training it again", flush=True)
        retrained = a.force or stale or not head.is_file()
        if retrained:
            _run([py, "-m", "models.toolkit.detector", "train", a.data_dir, "--exclude-source",
                  src, "--epochs", str(a.detector_epochs), "--no-export", "--head", str(head),
                  "--views", a.detector_views, "--trunk", a.trunk] + extra, d / "detector.log")
        reader = None
        if not a.skip_reader:
            if a.force or not (rdr / "manifest.json").is_file():
                _run([py, "-m", "models.toolkit.plates.reader", "train", a.data_dir,
                      "--exclude-source", src, "--epochs", str(a.reader_epochs), "--synth",
                      str(a.reader_synth), "--views", str(a.reader_views), "--threads",
                      str(a.threads), "--out", str(rdr)] + extra, d / "reader.log")
                retrained = True
            reader = f"{rdr}+rapidocr"
        res = d / ("plates.json" if reader else "plates-shipped-reader.json")
        if retrained or not res.is_file():
            _run([py, "-m", "edge.cli", "eval", "plates", a.data_dir, "--split", "all",
                  "--sources", src, "--skip-crops", "--head", str(head), "--json", str(res),
                  "--threads", str(a.threads)] + (["--reader", reader] if reader else []) + extra,
                 d / "eval.log")
        results[src] = json.loads(res.read_text(encoding="utf-8"))[f"plates/{src}"]
    from .evaluate import format_source, format_summary, summary
    print("[loso] held-out sources (each measured by models trained without it):", flush=True)
    for src, r in results.items():
        for line in format_source(src, r):
            print(line, flush=True)
    s = summary(results)
    print(format_summary(s), flush=True)
    (out / "loso.json").write_text(json.dumps({"per_source": results, "summary": s,
                                               "argv": argv or sys.argv[1:]}, indent=1),
                                   encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
