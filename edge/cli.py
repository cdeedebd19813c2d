"""The ``claim-edge`` command line."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .bundle import BundleError, load_bundle, resolve_bundle
from .config import PROFILE_DIR, ConfigError, Profile, available_profiles, load_profile
from .inference import InterpreterError
from .store import StoreWriteError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _opt(args, name: str):
    return getattr(args, name, None)


def _profile(args) -> Profile:
    return load_profile(_opt(args, "profile"))


def _store_path(args, profile: Profile) -> Path:
    store = _opt(args, "store")
    return Path(store).expanduser() if store else profile.store.resolved


def _pipeline(args, profile: Profile):
    from .pipeline import Pipeline
    model = _opt(args, "model")
    return Pipeline(profile, bundle=load_bundle(resolve_bundle(model)) if model else None)


def cmd_analyze(args) -> int:
    from .paths import expand
    profile = _profile(args)
    pipeline = _pipeline(args, profile)
    failed = 0
    for path in expand(args.images):
        result, _ = pipeline.analyze(path)
        failed += not result.ok
        if args.json:
            print(json.dumps(result.to_contract(), ensure_ascii=False), flush=True)
        elif result.ok:
            c, v = result.category, result.verification
            heads = ", ".join(f"{k}={h.label}" for k, h in result.heads.items())
            q = "ok" if result.quality.ok else "retake: " + ", ".join(result.quality.issues)
            print(f"{path}: {c.label} {c.score:.2f} {'verified' if v.verified else 'to review'}"
                  f" [{heads}] -> {', '.join(result.scenarios)} (quality {q}; "
                  f"{result.timings_ms['total']:.0f} ms)", flush=True)
            if result.document is not None or result.fields:
                doc = f"{result.document.label} {result.document.score:.2f}; " \
                    if result.document is not None else ""
                fv = ", ".join(f"{k}={f.value}{'' if f.valid else ' (invalid)'}"
                               for k, f in result.fields.items())
                miss = (result.completeness or {}).get("missing")
                print(f"  {doc}{fv or 'no fields'}" + (f"; missing {', '.join(miss)}"
                                                        if miss else ""), flush=True)
        else:
            print(f"{path}: FAILED {result.error['code']}: {result.error['message']}", flush=True)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_ingest(args) -> int:
    from .ingest import ingest
    from .paths import expand
    from .store import Store
    profile = _profile(args)
    pipeline = _pipeline(args, profile)
    store = Store.open(_store_path(args, profile))
    paths = expand(args.paths)
    s = ingest(paths, args.claim, pipeline, store)
    print(f"claim {args.claim}: {s.new} new, {s.already} already filed, {len(s.failed)} failed "
          f"of {len(paths)}; store {store.root}", file=sys.stderr)
    return EXIT_FAILED if s.failed else EXIT_OK


def cmd_claims(args) -> int:
    from .checklist import claim_checklist
    from .store import Store
    from .store.schema import Claim, Photo, ScenarioAssignment
    profile = _profile(args)
    store = Store.open(_store_path(args, profile))
    if args.claims_cmd == "list":
        claims = list(Claim.select().order_by(Claim.created_at))
        if not claims:
            print(f"no claims in {store.root}")
        for c in claims:
            n = Photo.select().where(Photo.claim == c.id).count()
            missing = sum(1 for it in claim_checklist(c.id, profile) if it.status != "present")
            print(f"{c.id}\t{n} photos\t{missing} checklist items open\tcreated "
                  f"{c.created_at:%Y-%m-%d %H:%M}")
        return EXIT_OK
    claim = Claim.get_or_none(Claim.id == args.claim)
    if claim is None:
        print(f"no claim '{args.claim}' in {store.root}", file=sys.stderr)
        return EXIT_FAILED
    items = claim_checklist(claim.id, profile)
    if args.json:
        print(json.dumps([it.__dict__ for it in items], indent=2))
        return EXIT_OK
    photos = list(Photo.select().where(Photo.claim == claim.id))
    print(f"Claim {claim.id}: {len(photos)} photos")
    for p in photos:
        zones = [a.scenario for a in ScenarioAssignment.select().where(
            ScenarioAssignment.photo == p)]
        print(f"  {Path(p.source_path).name}: {p.category} "
              f"{'verified' if p.verified else 'to review'} -> {', '.join(zones)}")
    marks = {"present": "[x]", "missing": "[ ]", "invalid": "[!]", "doubtful": "[?]"}
    print("Checklist:")
    for it in items:
        print(f"  {marks[it.status]} {it.item}: {it.status}" + (f" ({it.detail})" if it.detail else ""))
    todo = [it for it in items if it.status != "present"]
    print(f"{len(items) - len(todo)} of {len(items)} done" +
          (f"; next: {todo[0].item}" if todo else "; complete"))
    return EXIT_OK


def cmd_samples(args) -> int:
    if args.drawn:
        from .samples import write_samples
        for p in write_samples(args.folder):
            print(p)
        return EXIT_OK
    from .demo_photos import DEMO_DIR, write_demo_photos
    for p, photo in write_demo_photos(args.folder):
        print(f"{p}  ({photo.category}; {photo.licence}, {photo.source_repo})")
    print(f"real example photos; sources and licences: {DEMO_DIR / 'SOURCES.md'}")
    return EXIT_OK


def cmd_doctor(args) -> int:
    from .doctor import run_doctor
    profile = _profile(args)
    return run_doctor(profile, _store_path(args, profile), _opt(args, "model"))


EVAL_MODULES = {"category": "models.toolkit.classifier.evaluate",
                "receipts": "models.toolkit.documents.evaluate",
                "documents": "models.toolkit.documents.evaluate",
                "detect": "models.toolkit.detector.evaluate",
                "plates": "models.toolkit.detector.evaluate"}


def cmd_purge(args) -> int:
    from .purge import purge_expired
    from .store import Store
    profile = _profile(args)
    store = Store.open(_store_path(args, profile))
    rep = purge_expired(store, dry_run=args.dry_run, include_unsynced=args.include_unsynced)
    verb = "would remove" if args.dry_run else "removed"
    for sha in rep.purged:
        print(f"{verb} {sha}")
    print(f"{verb} {len(rep.purged)} expired original(s), {rep.freed_bytes / 1e6:.1f} MB; "
          f"kept {len(rep.kept_unsynced)} not yet synced"
          + (f"; {len(rep.missing_files)} were already gone" if rep.missing_files else ""),
          file=sys.stderr)
    return EXIT_OK


def cmd_bench(args) -> int:
    if args.what == "sync":
        return _delegate("sync.harness.bench", "main", args.rest)
    if args.what == "web":
        return _delegate("edge.web.bench", "main", args.rest)
    from .bench import run_bench
    return run_bench(_profile(args), args)


def cmd_models(args) -> int:
    from .health import check_bundle
    from .modelset import rows
    from .registry import ModelRegistry
    profile = _profile(args)
    registry = ModelRegistry(profile.fleet.resolved_models_dir(profile.store))
    if args.models_cmd == "list":
        for r in rows(registry, profile):
            if args.name and r.name != args.name:
                continue
            print(f"{r.kind:<15} {r.name:<22} {r.release:<22} {r.version:<14} {r.state}".rstrip())
        return EXIT_OK
    name = args.name or profile.runtime.classifier
    if args.models_cmd == "activate":
        registry.activate(name, args.release, reason="operator")
        h = check_bundle(registry.root / name / args.release, profile.runtime.threads,
                         profile.fleet.max_classify_ms)
        if not h.ok:
            back = registry.rollback(name, reason=f"health check failed: {h.reason}")
            print(f"{name} {args.release}: health check failed ({h.reason}); back to "
                  f"{back or 'the shipped bundle'}", file=sys.stderr)
            return EXIT_FAILED
        print(f"{name} {args.release} active ({h.reason})")
        return EXIT_OK
    back = registry.rollback_group(name, reason="operator")
    for n, now in (back or {name: None}).items():
        print(f"{n}: now {now or 'the shipped bundle'}")
    return EXIT_OK


def _delegate(module: str, func: str, argv: list[str]) -> int:
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        print(f"claim-edge: {module} is not available ({e}); install the matching extra",
              file=sys.stderr)
        return EXIT_USAGE
    return int(getattr(mod, func)(argv) or 0)


def cmd_serve(args) -> int:
    from .web.listen import serve
    profile = _profile(args)
    return serve(profile, _store_path(args, profile), lambda: _pipeline(args, profile),
                 host=args.listen, port=args.port, token=args.token, watch=args.watch,
                 claim=args.claim, max_upload_mb=args.max_upload_mb)


def cmd_service(args) -> int:
    from .service import ServiceError, install, render
    from .service.units import default_executable
    profile = _profile(args)        # refuse a profile that does not load before writing units
    src = Path(profile.source).resolve()
    name = profile.name if src.parent == PROFILE_DIR.resolve() else str(src)
    units = tuple(args.units.split(",")) if args.units else ("serve", "sync", "fleet")
    try:
        exe = Path(args.exec).absolute() if args.exec else default_executable()
        if args.dry_run:
            for fname, text in render(name, exe, args.user, units).items():
                print(f"# --- {fname}\n{text}")
            return EXIT_OK
        done = install(name, Path(args.root), exe, args.user, units, enable=args.enable)
    except ServiceError as e:
        print(f"claim-edge service: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print(f"claim-edge service: cannot write {e.filename}: {e.strerror}", file=sys.stderr)
        return EXIT_FAILED
    for f in done.files + done.enabled:
        print(f"wrote {f}")
    if Path(args.root).resolve() == Path("/"):
        print("next: systemd-sysusers && systemctl daemon-reload && systemctl "
              f"{'restart' if args.enable else 'enable --now'} "
              + " ".join(f"claim-edge-{u}" for u in units))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    # SUPPRESS: an option given before the command is not reset by the sub-parser's default.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--profile", help="device profile name in firmware_config/ or a path to a "
                        f"TOML file (default: $CLAIM_EDGE_PROFILE or kiosk-x86; known: "
                        f"{', '.join(available_profiles())})")
    common.add_argument("--store", help="SQLite store file (default: the profile's store.path)")
    common.add_argument("--model", help="classifier bundle name or folder (default: the "
                        "profile's runtime.classifier)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    p = argparse.ArgumentParser(
        prog="claim-edge", parents=[common],
        description="On-device analysis of vehicle-insurance claim photos: quality, category, "
                    "verified labels, scenario store, sync.")
    p.add_argument("--version", action="version", version=f"claim-edge {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    a = sub.add_parser("analyze", parents=[common], help="analyse photos and print the results "
                       "(stores nothing)")
    a.add_argument("images", nargs="+", help="image files or folders")
    a.add_argument("--json", action="store_true", help="one JSON object per image per line "
                   "(the contract in DESIGN.md)")
    a.set_defaults(func=cmd_analyze)

    i = sub.add_parser("ingest", parents=[common], help="analyse photos and file them in the "
                       "store under a claim")
    i.add_argument("paths", nargs="+", help="image files or folders")
    i.add_argument("--claim", required=True, help="claim id (created if new)")
    i.set_defaults(func=cmd_ingest)

    c = sub.add_parser("claims", parents=[common], help="list claims or show one's checklist")
    csub = c.add_subparsers(dest="claims_cmd", required=True, metavar="list|show")
    csub.add_parser("list", parents=[common], help="all claims in the store")
    cs = csub.add_parser("show", parents=[common], help="photos and checklist of one claim")
    cs.add_argument("claim")
    cs.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_claims)

    d = sub.add_parser("doctor", parents=[common], help="check runtime, model, store, broker, disk")
    d.set_defaults(func=cmd_doctor)

    s = sub.add_parser("samples", parents=[common], help="write the demo photos (real, "
                       "redistributable examples) to a folder")
    s.add_argument("folder")
    s.add_argument("--drawn", action="store_true", help="write the photos the project draws "
                   "itself instead (plate, document page, street scene, blurred, dark)")
    s.set_defaults(func=cmd_samples)

    b = sub.add_parser("bench", parents=[common], help="benchmark: per-stage latency, photos/s, "
                       "peak memory ('bench sync': sync throughput vs raw broker; 'bench web': "
                       "the operator screen under concurrent requests)")
    b.add_argument("what", nargs="?", default="pipeline", choices=["pipeline", "sync", "web"],
                   help="pipeline (default): per-stage latency on drawn 0.9/2/12 MP photos and "
                        "documents, and the peak RSS of a fresh device process, beside the DESIGN "
                        "budgets; sync and web: see 'claim-edge bench sync --help'")
    b.add_argument("--runs", type=int, default=20, help="photos per size (default 20)")
    b.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    b.set_defaults(func=cmd_bench)

    m = sub.add_parser("models", parents=[common], help="installed model releases on this device "
                       "(no broker needed)")
    msub = m.add_subparsers(dest="models_cmd", required=True, metavar="list|activate|rollback")
    for verb, text in (("list", "every model the profile runs (all kinds): shipped copy, "
                                "installed releases, which is active"),
                       ("activate", "make an installed release active (health-checked)"),
                       ("rollback", "back to the previous release (or the shipped bundle)")):
        mp = msub.add_parser(verb, parents=[common], help=text)
        if verb == "activate":
            mp.add_argument("release")
        mp.add_argument("--name", help="model name, any kind (default for activate/rollback: "
                                       "the profile's runtime.classifier; list: every model)")
    m.set_defaults(func=cmd_models)

    sub.add_parser("sync", help="drain the outbox to central over MQTT (`sync --until-empty`, "
                   "`sync status`; see `claim-edge sync --help`)")
    sub.add_parser("central", help="the insurer's ingest service: MQTT -> PostgreSQL/SQLite "
                   "(extra 'central'; see `claim-edge central --help`)")
    f = sub.add_parser("fleet", help="signed model updates over MQTT: publish, rollback, status, "
                       "keys (operator), follow (device)")
    f.add_argument("rest", nargs=argparse.REMAINDER, help="see `claim-edge fleet --help`")
    f.set_defaults(func=lambda a: _delegate(*DELEGATED["fleet"], a.rest))

    e = sub.add_parser("eval", help="evaluate the shipped models on a labelled data folder")
    e.add_argument("what", choices=list(EVAL_MODULES))
    e.add_argument("rest", nargs=argparse.REMAINDER, help="DATA_DIR and options")
    e.set_defaults(func=lambda a: _delegate(EVAL_MODULES[a.what], f"main_{a.what}", a.rest))

    pg = sub.add_parser("purge", parents=[common], help="remove originals whose retention has "
                        "run out (the profile's [retention_days]); fields and hashes stay")
    pg.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    pg.add_argument("--include-unsynced", action="store_true", help="also remove originals "
                    "central has not acknowledged yet (they can then never be sent)")
    pg.set_defaults(func=cmd_purge)

    sv = sub.add_parser("service", help="systemd units for serve, sync and fleet follow")
    svsub = sv.add_subparsers(dest="service_cmd", required=True, metavar="install")
    si = svsub.add_parser("install", parents=[common], help="write the units for a profile "
                          "(restart on failure, watchdog, journald, own user, hardening)")
    si.add_argument("--root", default="/", help="install under this root, e.g. a fleet image's "
                    "mounted root folder (default /)")
    si.add_argument("--user", default="claim-edge", help="system user the services run as "
                    "(created by systemd-sysusers; default claim-edge)")
    si.add_argument("--exec", default=None, metavar="PATH", help="the claim-edge command the "
                    "units run (default: the one beside this Python)")
    si.add_argument("--units", default=None, help="comma-separated subset of serve,sync,fleet")
    si.add_argument("--enable", action="store_true", help="also link them into "
                    "multi-user.target.wants (start at boot)")
    si.add_argument("--dry-run", action="store_true", help="print the units, write nothing")
    si.set_defaults(func=cmd_service)

    w = sub.add_parser("serve", parents=[common], help="operator screen: a local web page to "
                       "capture photos, follow the claim checklist and correct fields")
    w.add_argument("--listen", default="127.0.0.1", metavar="ADDR", help="address to bind "
                   "(default 127.0.0.1; another address, e.g. 0.0.0.0 for the LAN, needs --token)")
    w.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0: any free)")
    w.add_argument("--token", default=None, help="access token, required off loopback (default: "
                   "$CLAIM_EDGE_WEB_TOKEN); open http://DEVICE:PORT/?token=T once")
    w.add_argument("--watch", metavar="DIR", default=None, help="also file every new photo "
                   "that appears in DIR (e.g. a camera module's folder); needs --claim")
    w.add_argument("--claim", default=None, help="claim the watched folder's photos go to")
    w.add_argument("--max-upload-mb", type=float, default=None, help="largest photo accepted "
                   "(default: the profile's runtime.max_file_mb)")
    w.set_defaults(func=cmd_serve)
    return p


# Own parsers, own --help.
DELEGATED = {"fleet": ("sync.fleet.cli", "main"), "sync": ("sync.cli", "main_sync"),
             "central": ("sync.cli", "main_central")}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in DELEGATED:
        return _delegate(*DELEGATED[argv[0]], argv[1:])
    args = build_parser().parse_args(argv)
    from .memory import tune_heap
    tune_heap()   # the C allocator's setting for a long-running process (edge/memory.py)
    logging.basicConfig(level=logging.DEBUG if _opt(args, "verbose") else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ConfigError, BundleError, InterpreterError) as e:
        print(f"claim-edge: {e}", file=sys.stderr)
        return EXIT_USAGE
    except StoreWriteError as e:
        print(f"claim-edge: store: {e.strerror or e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("claim-edge: interrupted; what was filed stays filed, run again to finish",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
