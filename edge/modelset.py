"""The models a profile runs, every kind, and where each comes from on this device (an
installed release or the copy shipped in the package): what ``claim-edge models list`` prints."""

from __future__ import annotations

from dataclasses import dataclass

from .bundle import BundleError
from .config import Profile
from .modelref import read_ref
from .registry import ModelRegistry


def configured(profile: Profile) -> list[tuple[str, str]]:
    """(kind, name) of every model bundle the profile names, in pipeline order."""
    out = [("classifier", profile.runtime.classifier)]
    d, o = profile.detect, profile.ocr
    if d.detector:
        out.append(("detector", d.detector))
        if d.box_refiner:
            out.append(("box_refiner", d.box_refiner))
        if d.read_plates:
            out += [("plate_reader", p.strip()) for p in d.plate_reader.split("+")
                    if p.strip() and p.strip() != "rapidocr"]
    if o.enabled:
        if o.det_model:
            out.append(("ocr_detector", o.det_model))
        if not o.rec_model.endswith(".onnx") and o.rec_model != "rapidocr":
            out.append(("ocr_recognizer", o.rec_model))
        out.append(("document", o.document_model))
    return out


@dataclass(frozen=True)
class Row:
    kind: str
    name: str
    release: str          # "shipped" or the installed release folder
    version: str
    state: str            # active | previous | fallback | "" | an error


def _version(path) -> tuple[str, str]:
    try:
        ref = read_ref(path, verify_hash=False)
        return ref.kind, ref.version
    except BundleError as e:
        return "", f"unusable: {e}"


def rows(registry: ModelRegistry, profile: Profile) -> list[Row]:
    kinds = dict((n, k) for k, n in configured(profile))
    names = list(kinds) + [n for n in registry.names() if n not in kinds]
    out = []
    for name in names:
        st = registry.state(name)
        shipped = registry.shipped_path(name)
        kind = kinds.get(name) or st.get("kind") or ""
        if (shipped / "manifest.json").is_file():
            k, v = _version(shipped)
            out.append(Row(kind or k, name, "shipped", v,
                           "fallback" if st.get("active") else "active"))
        elif name in kinds and not st.get("active"):
            out.append(Row(kind, name, "shipped", "(package files)", "active"))
        for release in registry.releases(name):
            k, v = _version(registry.root / name / release)
            state = "active" if release == st.get("active") else \
                "previous" if release == st.get("previous") else ""
            out.append(Row(kind or k, name, release, v, state))
    return out
