"""claim-edge-train: index, train, export, eval, all (reproduces the shipped bundle end to end)."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DEFAULT_OUT = REPO / "models" / "claim-classifier"
DEFAULT_CACHE = REPO / ".cache"


def log(msg):
    print(msg, flush=True)


def _common(ap):
    ap.add_argument("data_dir", help="folder with the labelled sets (../shared/data layout)")
    ap.add_argument("--size", type=int, default=224, help="input size (the model is built at it)")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE))
    ap.add_argument("--n-docs", type=int, default=840, help="synthetic document photos")
    ap.add_argument("--n-other", type=int, default=360, help="synthetic `other` images")
    ap.add_argument("--n-ood", type=int, default=240, help="generated out-of-domain images (eval only)")
    ap.add_argument("--max-per-source", type=int, default=None, help="cap per real set (smoke runs)")
    ap.add_argument("--corrections", action="append", default=[], metavar="EXPORT_DIR",
                    help="fold in an export of `claim-edge central export-labels` (train split; "
                         "repeatable); the card says how many corrected samples were used")
    ap.add_argument("--extra", action="append", default=[], metavar="DIR",
                    help="a folder of further real sources (DIR/<source>/labels.csv with image,category,"
                         "damage,view,group; repeatable): see models/claim-classifier/extra_sources")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint", default=None,
                    help="train writes / export reads this checkpoint (default CACHE/run/checkpoint_SIZE.pt)")


def _train_args(ap):
    ap.add_argument("--mode", choices=["frozen", "full"], default="frozen",
                    help="frozen: CPU, cached trunk features, trains the last --train-blocks blocks, conv_head and heads; full: all layers (GPU)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--train-blocks", type=int, default=2,
                    help="frozen mode: also train the trunk's last N MBConv blocks (0: conv_head + heads only)")
    ap.add_argument("--views-scale", type=float, default=1.0, help="scale the augmented views per sample")
    ap.add_argument("--cache-blocks", type=int, default=None,
                    help="frozen mode: read the trunk-feature cache made for this many trained blocks "
                         "(>= --train-blocks; default --train-blocks), running the frozen blocks in between")
    ap.add_argument("--freeze-neck", action="store_true",
                    help="frozen mode with --train-blocks 0: keep conv_head at ImageNet weights, train the heads alone")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-pretrained", action="store_true", help="random init (tests only)")


def _export_args(ap):
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--calib", type=int, default=240, help="calibration images (one at a time)")
    ap.add_argument("--min-agreement", type=float, default=0.98)
    ap.add_argument("--min-cosine", type=float, default=0.95)
    ap.add_argument("--check-n", type=int, default=None, help="cap validation images for the int8 check")


def _samples(a):
    from .data import build_samples
    return build_samples(a.data_dir, n_docs=a.n_docs, n_other=a.n_other, n_ood=a.n_ood,
                         max_per_source=a.max_per_source, corrections=a.corrections,
                         extra=a.extra)


def _command(a):
    return "claim-edge-train " + " ".join(shlex.quote(x) for x in a.argv)


def cmd_index(a):
    s = _samples(a)
    c = Counter((x["source"], x["split"]) for x in s)
    srcs = sorted({x["source"] for x in s})
    log(f"{'source':<22}{'train':>7}{'val':>7}{'test':>7}")
    for src in srcs:
        log(f"{src:<22}{c[(src, 'train')]:>7}{c[(src, 'val')]:>7}{c[(src, 'test')]:>7}")
    out = Path(a.cache) / "index.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(s, indent=0))
    log(f"index: {len(s)} samples -> {out}")
    return 0


def _checkpoint_path(a):
    if getattr(a, "checkpoint", None):
        return Path(a.checkpoint)
    return Path(a.cache) / "run" / f"checkpoint_{a.size}.pt"


def cmd_train(a):
    import torch
    from .net import MultiTaskNet
    from . import train as T
    torch.set_num_threads(a.threads)
    samples = _samples(a)
    net = MultiTaskNet(a.size, pretrained=not a.no_pretrained).eval()
    t0 = time.time()
    if a.mode == "frozen":
        res = T.train_frozen(net, samples, Path(a.cache) / "features", size=a.size,
                             epochs=a.epochs or 14, views_scale=a.views_scale, seed=a.seed,
                             train_blocks=a.train_blocks, cache_blocks=a.cache_blocks,
                             freeze_neck=a.freeze_neck, log=log)
    else:
        res = T.train_full(net, samples, size=a.size, epochs=a.epochs or 10, seed=a.seed, log=log)
    ck = _checkpoint_path(a)
    ck.parent.mkdir(parents=True, exist_ok=True)
    mode = a.mode if a.mode == "full" else (
        f"frozen, last {a.train_blocks} blocks trained" + (", conv_head frozen (heads only)" if a.freeze_neck else "")
        + f", views x{a.views_scale}")
    torch.save({"state": net.state_dict(), "size": a.size, "mode": mode,
                "prototypes": res["prototypes"], "history": res["history"]}, ck)
    log(f"[train] done in {time.time() - t0:.0f}s -> {ck}")
    return 0


def cmd_export(a, created_by=None):
    import torch
    from .net import MultiTaskNet
    from .export import export_bundle
    torch.set_num_threads(a.threads)
    ck = torch.load(_checkpoint_path(a), weights_only=False)
    net = MultiTaskNet(ck["size"], pretrained=False)
    net.load_state_dict(ck["state"])
    net.eval()
    samples = _samples(a)
    hist = ck.get("history") or []
    export_bundle(net, samples, Path(a.out), size=ck["size"], prototypes=ck["prototypes"],
                  created_by=created_by or _command(a),
                  version=a.version, n_calib=a.calib, min_agreement=a.min_agreement,
                  min_cosine=a.min_cosine, n_check=a.check_n, log=log,
                  extra_metrics={"train_mode": ck.get("mode"),
                                 "val_last_epoch": hist[-1] if hist else None})
    return 0


def _record_before(a):
    """metrics.before in the manifest: the previous bundle's same-source figures (a JSON written by
    `claim-edge eval category --json`), for the card's before -> after table."""
    if not getattr(a, "before", None):
        return
    b = json.loads(Path(a.before).read_text())
    p = Path(a.out) / "manifest.json"
    man = json.loads(p.read_text())
    man.setdefault("metrics", {})["before"] = {
        "bundle": b.get("bundle", a.before), "sources": b.get("sources"),
        "severity": b.get("severity"), "policies": b.get("policies")}
    p.write_text(json.dumps(man, indent=1) + "\n")


def cmd_eval(a):
    from .evaluate import evaluate_bundle, format_report
    _record_before(a)
    m, _ = evaluate_bundle(a.data_dir, a.out, n_ood=a.n_ood, n_docs=a.n_docs, n_other=a.n_other,
                           max_per_source=a.max_per_source, write=True, log=log, threads=a.threads,
                           extra=a.extra)
    log(format_report(m, m.get("latency_int8")))
    from .card import write_card
    write_card(Path(a.out), a.data_dir, _samples(a), extra=a.extra)
    return 0


def cmd_loso(a):
    import torch
    from . import loso as L
    torch.set_num_threads(a.threads)
    samples = _samples(a)
    known = {s["source"] for s in samples if not s["synthetic"]}
    bad = [h for h in a.hold if h not in known]
    if bad:
        print(f"claim-edge-train loso: --hold {', '.join(bad)}: no such source in {a.data_dir} "
              f"(sources: {', '.join(sorted(known))})", file=sys.stderr)
        return 2
    if not a.no_write and not (Path(a.out) / "manifest.json").is_file():
        # said before the runs, not after them: the figures are written into that bundle
        print(f"claim-edge-train loso: --out {a.out} holds no bundle (manifest.json) to write the "
              "figures into: export one there first, or pass --no-write", file=sys.stderr)
        return 2
    results = {}
    # the frozen input of every run is the same ImageNet trunk (and neck): computed once
    from .net import MultiTaskNet
    from .train import training_features
    features = training_features(MultiTaskNet(a.size, pretrained=True).eval(), samples, a.size,
                                 Path(a.cache) / "features", train_blocks=a.train_blocks,
                                 cache_blocks=a.cache_blocks, views_scale=a.views_scale,
                                 freeze_neck=a.freeze_neck, log=log)
    for k, held in enumerate(a.hold):
        log(f"== loso {k + 1}/{len(a.hold)}: without {', '.join(L.held_group(held))} ==")
        results[held] = L.over_seeds([
            L.run_loso(samples, held, Path(a.cache) / "features", size=a.size,
                       epochs=a.epochs or 8, train_blocks=a.train_blocks,
                       cache_blocks=a.cache_blocks, freeze_neck=a.freeze_neck, features=features,
                       views_scale=a.views_scale, seed=a.seed + i, log=log)
            for i in range(a.seeds)])
        results[held]["command"] = _command(a)
        log(L.format_loso({held: results[held]}))
    log(L.format_loso(results))
    if not a.no_write:
        L.write_to_manifest(Path(a.out), results)
        log(f"written to {Path(a.out) / 'manifest.json'} (metrics.loso)")
    return 0


def cmd_all(a):
    cmd = _command(a)
    log("== 1/4 index ==")
    cmd_index(a)
    log(f"== 2/4 train ({a.mode}) ==")
    cmd_train(a)
    log("== 3/4 export int8 ==")
    cmd_export(a, created_by=cmd)
    log("== 4/4 evaluate the shipped bundle + model card ==")
    cmd_eval(a)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="claim-edge-train", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("index", help="build and print the dataset index")
    _common(p)
    p = sub.add_parser("train", help="train (frozen-backbone CPU mode or full fine-tune)")
    _common(p); _train_args(p)
    p = sub.add_parser("export", help="int8 export + agreement check + prototypes -> bundle")
    _common(p); _export_args(p)
    p = sub.add_parser("eval", help="evaluate the bundle, write confusion PNGs and MODEL_CARD.md")
    _common(p); _export_args(p)
    p.add_argument("--before", help="JSON of the previous bundle's `claim-edge eval category --json` (card: before -> after)")
    p = sub.add_parser("all", help="index, train, export, evaluate: reproduces the shipped bundle")
    _common(p); _train_args(p); _export_args(p)
    p.add_argument("--before", help="JSON of the previous bundle's `claim-edge eval category --json` (card: before -> after)")
    p = sub.add_parser("loso", help="leave one source out: train without a real source, score all its photos")
    _common(p); _train_args(p)
    p.add_argument("--hold", action="append", required=True,
                   help="real source to leave out (repeat for several runs, one each)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="bundle whose manifest gets metrics.loso")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--seeds", type=int, default=1,
                   help="train each held-out run this many times (seeds --seed, --seed+1 ...) and report "
                        "the mean with the lowest and highest (the heads-only runs move by up to 0.1)")
    argv = list(sys.argv[1:] if argv is None else argv)
    a = ap.parse_args(argv)
    a.argv = argv
    if not Path(a.data_dir).is_dir():
        print(f"{a.data_dir}: data folder not found", file=sys.stderr)
        return 2
    try:
        return {"index": cmd_index, "train": cmd_train, "export": cmd_export, "eval": cmd_eval,
                "all": cmd_all, "loso": cmd_loso}[a.cmd](a)
    except Exception as e:  # export agreement failures etc.: loud, non-zero
        from .export import AgreementError
        if isinstance(e, AgreementError):
            print(f"claim-edge-train: EXPORT REFUSED: {e}", file=sys.stderr)
            return 3
        raise


if __name__ == "__main__":
    sys.exit(main())
