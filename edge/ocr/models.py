"""Which model files RapidOCR runs, all from this machine's disk (a device is offline: RapidOCR
must never reach for its download).

- The text detector is the PP-OCRv6 small detector inside the ``rapidocr`` wheel
  (``DETECTOR_FILE``), named by path so that RapidOCR never resolves (or downloads) a default,
  or a detector bundle (``[ocr] det_model``): the kiosk profile runs ``models/text-detector``,
  the same network quantized to int8 by ``models/toolkit/documents/text_detector.py``.
- The text recogniser is a bundle (``models/text-recognizer``: PP-OCRv6 small, PaddleOCR,
  Apache-2.0): ``manifest.json`` names the ONNX file and its character dictionary with their
  sha256, checked when the engine is opened. ``[ocr] rec_model`` names a recogniser bundle
  (under models/ or a folder), ``rapidocr`` (the recogniser inside the wheel), or an ONNX file.
- Both are fleet-updatable (edge/registry.py): an installed release of the recogniser bundle
  (kind ``ocr_recognizer``) comes before the shipped copy, and ``[ocr] det_model`` may name a
  detector bundle (kind ``ocr_detector``: ``model_file`` + ``sha256``) instead of the wheel's.
  Each comes with its identity (kind, name, version, sha256), which the results name.

Receipts end to end (``claim-edge eval receipts``, held-out split): see README "OCR".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..bundle import BundleError
from ..digest import sha256_file
from ..modelref import bundle_file, package_file

RAPIDOCR = "rapidocr"
DEFAULT_RECOGNISER = "text-recognizer"
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
KIND = "ocr_recognizer"
# inside the rapidocr wheel (3.10): its PP-OCRv6 small detector and recogniser
DETECTOR_FILE = "models/PP-OCRv6_det_small.onnx"
WHEEL_RECOGNISER_FILE = "models/PP-OCRv6_rec_small.onnx"
# word gaps put back from the character cells (``recover_spaces``) where the gap exceeds this
# many character pitches: PP-OCRv6 writes its own spaces, and at 0.55 the gap after a thin "1"
# split dates ("22/1 1/87"). Receipts F1 with PP-OCRv6 small: 0.829 at 0.55, 0.833 at 0.7-1.0.
SPACE_GAP = 0.8


def space_gap(name: str) -> float:  # noqa: ARG001 - every recogniser shipped is PP-OCRv6
    return SPACE_GAP


class OcrModelMissing(RuntimeError):
    """A model file OCR needs is not on this machine, or is not the file its manifest names."""


@dataclass(frozen=True)
class RecogniserFiles:
    model: str
    dictionary: str          # "" = the model's own metadata
    identity: str            # "name version sha256[:12]" or the file path, for doctor and caches
    used: tuple = ()         # (kind, name, version, sha256): what a result names
    bundle: bool = False     # from a bundle (an installed release or the shipped copy)

    @property
    def model_used(self) -> dict:
        return dict(zip(("kind", "name", "version", "sha256"), self.used))


def _file_used(kind: str, name: str, version: str, path: str) -> tuple:
    return (kind, name, version, _sha(path, Path(path).stat().st_mtime))


@lru_cache(maxsize=16)
def _sha(path: str, mtime: float) -> str:   # noqa: ARG001 - mtime: a replaced file rehashes
    return sha256_file(path)


def _wheel_file(relative: str, what: str) -> Path:
    f = package_file("rapidocr", relative)
    if f is None:
        raise OcrModelMissing("the Python package 'rapidocr' is not installed "
                              "(pip install 'rapidocr~=3.10.0')")
    if not f.is_file():
        raise OcrModelMissing(f"{what} {f} is missing from the installed rapidocr "
                              "(this runtime expects rapidocr 3.10, whose wheel carries it)")
    return f


def detector_file() -> str:
    return str(_wheel_file(DETECTOR_FILE, "text detector"))


def detector_files(name: str = "", registry=None) -> RecogniserFiles:
    """The text detector: the wheel's (``name`` empty), else the ``ocr_detector`` bundle
    ``name`` through the registry (an installed release, else the shipped copy)."""
    if not name:
        f = detector_file()
        from .rapid import rapidocr_version
        return RecogniserFiles(f, "", f"rapidocr {Path(f).name}",
                               _file_used("ocr_detector", "rapidocr-det", rapidocr_version(), f))
    from ..bundle import BundleError
    from ..registry import resolve_ref
    try:
        ref = resolve_ref("ocr_detector", name, registry)
    except BundleError as e:
        raise OcrModelMissing(f"OCR text detector {name!r}: {e}") from e
    return RecogniserFiles(str(ref.file(ref.manifest["model_file"])), "",
                           f"{ref.name} {ref.version} {ref.sha256[:12]}",
                           tuple(ref.identity.values()), bundle=True)


def bundle_dir(name: str) -> Path | None:
    """The recogniser bundle folder ``name`` names (a folder, or a bundle under models/)."""
    p = Path(name).expanduser()
    if p.is_dir():
        return p
    if "/" not in name and (MODELS_DIR / name).is_dir():
        return MODELS_DIR / name
    return None


def valid_name(name: str) -> bool:
    """``rapidocr``, an ONNX file path (checked when used) or an existing bundle folder."""
    return name == RAPIDOCR or name.endswith(".onnx") or bundle_dir(name) is not None


def load_recogniser_bundle(folder: Path, verify_hash: bool = True) -> RecogniserFiles:
    """The files of a recogniser bundle, checked against its manifest; ``OcrModelMissing``
    names the file and the key that is wrong."""
    mpath = folder / "manifest.json"
    try:
        m = json.loads(mpath.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OcrModelMissing(f"{mpath}: manifest not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise OcrModelMissing(f"{mpath}: not a readable JSON manifest ({e})") from e
    if not isinstance(m, dict) or m.get("kind") != KIND:
        raise OcrModelMissing(f"{mpath}: key 'kind' must be {KIND!r}")
    files = []
    for key, sha_key in (("model_file", "sha256"), ("dictionary", "dictionary_sha256")):
        name, sha = m.get(key), m.get(sha_key)
        if not isinstance(name, str) or not isinstance(sha, str):
            raise OcrModelMissing(f"{mpath}: keys '{key}' and '{sha_key}' must be strings")
        try:
            f = bundle_file(folder, name)
        except BundleError as e:
            raise OcrModelMissing(str(e)) from e
        if not f.is_file():
            raise OcrModelMissing(f"{f}: file named by {mpath} key '{key}' not found")
        if verify_hash and sha256_file(f) != sha.lower():
            raise OcrModelMissing(f"{f}: sha256 does not match {mpath} key '{sha_key}' "
                                  "(corrupt or partial copy)")
        files.append(str(f))
    return RecogniserFiles(files[0], files[1],
                           f"{m.get('name', folder.name)} {m.get('version', '?')} "
                           f"{str(m['sha256'])[:12]}",
                           (KIND, str(m.get("name", folder.name)), str(m.get("version", "?")),
                            str(m["sha256"]).lower()), bundle=True)


def rec_model_files(name: str, keys: str = "", registry=None) -> RecogniserFiles:
    """The recogniser ``name`` names; ``OcrModelMissing`` when its files are not usable. With
    the device's ``registry``, an installed release of the bundle comes first."""
    if name == RAPIDOCR:
        f = str(_wheel_file(WHEEL_RECOGNISER_FILE, "text recogniser"))
        from .rapid import rapidocr_version
        return RecogniserFiles(f, "", f"rapidocr {Path(f).name}",
                               _file_used(KIND, "rapidocr-rec", rapidocr_version(), f))
    if name.endswith(".onnx"):
        model = Path(name).expanduser()
        dictionary = Path(keys).expanduser() if keys else None
        for f in (model, dictionary):
            if f is not None and not f.is_file():
                raise OcrModelMissing(f"OCR recogniser {name!r}: {f} is missing")
        return RecogniserFiles(str(model), str(dictionary or ""), str(model),
                               _file_used(KIND, model.name, "file", str(model)))
    folder = None
    if registry is not None and "/" not in name and registry.active_path(name) is not None:
        from ..bundle import BundleError
        try:
            folder = registry.resolve(KIND, name).path   # a release that fails rolls back
        except BundleError as e:
            raise OcrModelMissing(f"OCR recogniser {name!r}: {e}") from e
    folder = folder or bundle_dir(name)
    if folder is None:
        raise OcrModelMissing(f"OCR recogniser {name!r}: no such bundle (under {MODELS_DIR} "
                              f"or a folder); known: {DEFAULT_RECOGNISER}, {RAPIDOCR}, or a "
                              "path to an .onnx file")
    return load_recogniser_bundle(folder)
