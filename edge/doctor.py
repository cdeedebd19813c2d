"""``claim-edge doctor``: is this device ready to work? One line per check."""

from __future__ import annotations

import importlib.metadata as md
import shutil
import time
from pathlib import Path

from .bundle import BundleError
from .registry import ModelRegistry, RegistryError, resolve_model
from .config import Profile

OK, WARN, FAIL = "ok", "WARN", "FAIL"


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "?"


def checks(profile: Profile, store_path: Path, model: str | None):
    yield OK, "profile", f"{profile.name} ({profile.source}), device id {profile.device.id}"

    from .inference import InterpreterError, available_runtime, use_runtime
    try:
        use_runtime(profile.runtime.interpreter)
        name, _ = available_runtime()
        yield OK, "runtime", f"{name} {_version(name)}"
    except InterpreterError as e:
        yield FAIL, "runtime", str(e)

    registry = ModelRegistry(profile.fleet.resolved_models_dir(profile.store))
    try:
        bundle = resolve_model(model or profile.runtime.classifier, registry)
        from .classifier import Classifier
        t = time.perf_counter()
        Classifier(bundle, threads=profile.runtime.threads)
        ms = (time.perf_counter() - t) * 1000
        state = OK if bundle.provenance == "trained" else WARN
        note = "" if state == OK else " - NOT a trained model: results are meaningless"
        yield state, "model", (f"{bundle.name} {bundle.version} sha256 {bundle.sha256[:12]} "
                               f"({bundle.provenance}) from {bundle.path}, loads in {ms:.0f} ms{note}")
    except (BundleError, InterpreterError, RegistryError) as e:
        yield FAIL, "model", str(e)

    yield from _aux_bundles(profile, registry)

    from .ocr.models import OcrModelMissing, detector_files, rec_model_files
    try:
        import onnxruntime  # noqa: F401
        import rapidocr  # noqa: F401
        rec = rec_model_files(profile.ocr.rec_model, profile.ocr.rec_keys, registry)
        det = detector_files(profile.ocr.det_model, registry)
        yield OK, "ocr", (f"rapidocr {_version('rapidocr')} on onnxruntime "
                          f"{_version('onnxruntime')}, detector {det.model}, recogniser "
                          f"{rec.identity} ({rec.model}, sha256 checked)")
    except ImportError as e:
        yield WARN, "ocr", f"not installed ({e}); documents will not be read"
    except OcrModelMissing as e:
        yield FAIL, "ocr", f"{e}; documents and VINs will not be read"

    from .store import Store
    from .store.migrations import current_version
    from .store.schema import Outbox, Photo
    try:
        store = Store.open(store_path)
        pending = Outbox.select().where(Outbox.state != "acked").count()
        yield OK, "store", (f"{store_path} schema v{current_version(store.db)}, "
                            f"{Photo.select().count()} photos, {pending} not yet synced")
        store.close()
    except Exception as e:  # noqa: BLE001 - doctor reports, it does not crash
        yield FAIL, "store", f"{store_path}: {e}"

    where = store_path.parent if store_path.parent.exists() else Path.home()
    free = shutil.disk_usage(where).free / 1e6
    state = OK if free >= profile.store.min_free_mb else FAIL
    yield state, "disk", f"{free:,.0f} MB free at {where} (reserve {profile.store.min_free_mb} MB)"

    # a login with the device's own credentials: a TCP check passes with a wrong password
    from sync.device.login import check_login
    from sync.settings import BrokerSettings
    login = check_login(BrokerSettings.from_config(profile.broker, profile.device.id),
                        profile.device.id, timeout=3.0)
    if login.ok:
        yield OK, "broker", login.detail
    elif login.reachable or "credentials" in login.detail:
        yield FAIL, "broker", login.detail + "; nothing can be synced until this is fixed"
    else:
        yield WARN, "broker", f"{login.detail}; photos are kept and synced later"


def _aux_bundles(profile: Profile, registry: ModelRegistry):
    """The detector, box refiner, plate reader(s) and document classifier the profile names, as
    the registry resolves them (an installed release, else the shipped copy; missing: that step
    is skipped or falls back, the photo is still processed)."""
    from .registry import resolve_ref
    d = profile.detect
    readers = [r.strip() for r in d.plate_reader.split("+")] if d.read_plates else []
    parts = [("detector", d.detector, "detector", "no detections, no plate reading"),
             ("refiner", d.box_refiner, "box_refiner", "boxes stay as detected")]
    parts += [("plates", r, "plate_reader", "plates read with RapidOCR's recogniser") for r in readers]
    if not readers:
        parts.append(("plates", "", "plate_reader", ""))
    parts.append(("document", profile.ocr.document_model, "document",
                  "documents are read but not typed"))
    for what, name, kind, fallback in parts:
        if not name or name == "rapidocr":
            yield OK, what, "off" if not name else "RapidOCR's recogniser"
            continue
        try:
            b = resolve_ref(kind, name, registry)
            yield OK, what, f"{b.name} {b.version} sha256 {b.sha256[:12]} from {b.path}"
        except (BundleError, OSError) as e:
            yield WARN, what, f"{name}: {e}; {fallback}"


def run_doctor(profile: Profile, store_path: Path, model: str | None) -> int:
    failed = False
    for state, name, text in checks(profile, store_path, model):
        failed |= state == FAIL
        print(f"{state:>4}  {name:<8} {text}", flush=True)
    return 1 if failed else 0
