"""Every model bundle's identity, whatever its kind: kind, name, version and the sha256 of its
main file, with every file it names hash-checked.

Kinds (the fleet channel carries each of them; ``edge/registry.py`` keys installed releases by
kind and name):

- ``classifier``, ``detector``, ``plate_reader``, ``box_refiner``: TFLite bundles
  (``edge/bundle.py`` documents and validates their manifest);
- ``document``: the document classifier and bill reader (numpy, ``models/document-classifier``);
  its manifest has ``format: "numpy-npz"``, ``weights`` + ``sha256`` and
  ``bill_typer.weights`` + ``bill_typer.sha256`` and ``bill_lexicon.file`` +
  ``bill_lexicon.sha256`` (the words the bill reader repairs OCR with);
- ``ocr_recognizer``, ``ocr_detector``: ONNX files read by the OCR engine. manifest.json::

      {"format": 1, "kind": "ocr_recognizer", "name": "text-recognizer", "version": "...",
       "model_file": "model.onnx", "sha256": "<of model_file>",
       "dictionary": "dictionary.txt", "dictionary_sha256": "<sha256>",   # recogniser only
       "files": {"LICENSE": "<sha256>"},           # optional: any other file, hash-checked
       "source": "...", "licence": "...", "canary": [...]}
  (``models/text-recognizer`` is the shipped recogniser; edge/ocr/models.py reads it.)
  ``model_file`` may be ``package:<package>/<path>``: a file an installed Python package
  carries (the shipped recogniser is the one inside the ``rapidocr`` wheel), hash-checked as a
  file of the bundle is.

Any manifest may carry ``files`` ({relative path: sha256}) and ``canary`` (edge/health).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .bundle import MANIFEST, BundleError, load_bundle
from .digest import sha256_file

TFLITE_KINDS = ("classifier", "detector", "plate_reader", "box_refiner")
FILE_KINDS = ("document", "ocr_recognizer", "ocr_detector")
KINDS = TFLITE_KINDS + FILE_KINDS


@dataclass(frozen=True)
class ModelRef:
    kind: str
    name: str
    version: str
    sha256: str
    path: Path
    manifest: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def identity(self) -> dict[str, str]:
        """What a result names for each model that touched it."""
        return {"kind": self.kind, "name": self.name, "version": self.version,
                "sha256": self.sha256}

    def file(self, rel: str) -> Path:
        return bundle_file(self.path, rel)


PACKAGE_PREFIX = "package:"


def bundle_file(root: Path, rel: str) -> Path:
    """The file a manifest names: ``rel`` inside the bundle folder ``root``, or, written
    ``package:<package>/<path>``, inside an installed Python package (``BundleError`` when that
    package is not installed)."""
    named = _package_and_path(rel)
    if named is None:
        return root / rel
    package, inner = named
    f = package_file(package, inner)
    if f is None:
        raise BundleError(f"{root / MANIFEST}: file {rel!r} names the Python package "
                          f"{package!r}, which is not installed")
    return f


def _package_and_path(rel: str) -> tuple[str, str] | None:
    """(package, path inside it) of a ``package:<package>/<path>`` name, else None."""
    if not rel.startswith(PACKAGE_PREFIX):
        return None
    package, _, inner = rel[len(PACKAGE_PREFIX):].partition("/")
    return package, inner


def package_file(package: str, inner: str) -> Path | None:
    """``inner`` inside the installed Python package ``package`` (None when it is not
    installed; the file itself may be missing)."""
    spec = importlib.util.find_spec(package) if package.isidentifier() else None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / inner


def _manifest(root: Path) -> dict:
    mpath = root / MANIFEST
    if not root.is_dir():
        raise BundleError(f"{root}: model bundle folder not found")
    try:
        m = json.loads(mpath.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{mpath}: manifest not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{mpath}: not valid JSON ({e})") from e
    if not isinstance(m, dict):
        raise BundleError(f"{mpath}: top level must be an object")
    return m


def _check_file(root: Path, rel: object, sha: object, where: str, verify: bool) -> None:
    if not isinstance(rel, str) or not isinstance(sha, str):
        raise BundleError(f"{where}: file names and sha256 values must be strings")
    inner = (_package_and_path(rel) or ("", rel))[1]
    if ".." in Path(inner).parts or Path(inner).is_absolute():
        raise BundleError(f"{where}: file {rel!r} is outside the bundle")
    path = bundle_file(root, rel)
    if not path.is_file():
        raise BundleError(f"{path}: file named by {where} not found")
    if verify and sha256_file(path) != sha.lower():
        raise BundleError(f"{path}: sha256 does not match {where} (corrupt or partial copy)")


def kind_of(manifest: Mapping[str, Any]) -> str | None:
    if manifest.get("format") == "numpy-npz":   # the document classifier's own manifest
        return "document"
    kind = manifest.get("kind")
    return kind if isinstance(kind, str) else None


def read_ref(path: str | Path, *, verify_hash: bool = True) -> ModelRef:
    """Read and check a bundle folder of any kind. Raises BundleError naming file and key."""
    root = Path(path)
    m = _manifest(root)
    w = str(root / MANIFEST)
    kind = kind_of(m)
    if kind not in KINDS:
        raise BundleError(f"{w}: key 'kind' must be one of {KINDS}, got {m.get('kind')!r}")
    if kind in TFLITE_KINDS:
        b = load_bundle(root, verify_hash=verify_hash)
        name, version, sha = b.name, b.version, b.sha256
    elif kind == "document":
        for key in ("name", "version", "weights", "sha256"):
            if not isinstance(m.get(key), str):
                raise BundleError(f"{w}: key '{key}' missing or not a string")
        _check_file(root, m["weights"], m["sha256"], w, verify_hash)
        for key, default in (("bill_typer", "bill_typer.npz"),
                             ("bill_lexicon", "bill_lexicon.json")):
            part = m.get(key)
            if isinstance(part, dict) and "sha256" in part:
                _check_file(root, part.get("weights", part.get("file", default)), part["sha256"],
                            f"{w} [{key}]", verify_hash)
        name, version, sha = m["name"], m["version"], m["sha256"].lower()
    else:
        if m.get("format") != 1:
            raise BundleError(f"{w}: unsupported format {m.get('format')!r} (this runtime reads 1)")
        for key in ("name", "version", "model_file", "sha256"):
            if not isinstance(m.get(key), str):
                raise BundleError(f"{w}: key '{key}' missing or not a string")
        _check_file(root, m["model_file"], m["sha256"], w, verify_hash)
        if kind == "ocr_recognizer" and "dictionary" in m:
            _check_file(root, m["dictionary"], m.get("dictionary_sha256"), f"{w} [dictionary]",
                        verify_hash)
        name, version, sha = m["name"], m["version"], m["sha256"].lower()
    files = m.get("files") or {}
    if not isinstance(files, dict):
        raise BundleError(f"{w}: key 'files' must be an object of path -> sha256")
    for rel, fsha in files.items():
        _check_file(root, rel, fsha, f"{w} [files]", verify_hash)
    return ModelRef(kind=kind, name=name, version=version, sha256=sha, path=root, manifest=m)
