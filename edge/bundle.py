"""Model bundles: a folder holding ``model.tflite`` and ``manifest.json``.

manifest.json (format 1)::

    {
      "format": 1,
      "name": "claim-classifier",          # bundle name, also the folder name under models/
      "version": "1.0.0",                  # monotonic per name
      "kind": "classifier",                # classifier | detector | plate_reader | box_refiner
                                           # (other kinds: edge/modelref.py)
      "provenance": "trained",             # trained | untrained  (an untrained bundle is a smoke-test artefact)
      "description": "...",
      "model_file": "model.tflite",
      "sha256": "<hex sha256 of model_file>",
      "signature": "serving_default",      # signature key of the TFLite model
      "input": {"name": "image", "height": 224, "width": 224, "channels": 3,
                "dtype": "float32",        # dtype of the input tensor the runtime feeds
                "color": "rgb",
                "range": [0, 255]},        # pixel range fed (normalisation is inside the model)
      "outputs": {                         # by signature output name, never by tensor order
        "category": {"type": "logits", "labels": ["vehicle", "damage", "plate", "vin", "document", "other"]},
        "damage":   {"type": "logits", "labels": ["none", "minor", "moderate", "severe"]},
        "view":     {"type": "logits", "labels": ["front", "rear", "left", "right", "interior", "unknown"]},
        "embedding": {"type": "embedding", "dim": 128}
      },
      "dequantization": {"category": {"scale": 0.1, "zero_point": -3}, ...},   # informative; the runtime
                                           # reads the scale/zero point of each output tensor itself
      "prototypes": {                      # class prototypes for verified labels (head -> label -> ...)
        "category": {"vehicle": {"vector": [...], "similarity_range": [0.62, 1.0]}, ...}
      },
      "thresholds": {"min_score": 0.5},
      "metrics": {...},                    # free-form, quoted by the model card
      "canary": [{"file": "canary/0.png", "expect": {"category": "plate"}}],   # per kind: edge/health
      "created_by": "claim-edge-train ... (exact command)",
      "created_at": "2026-11-22T17:00:00Z"
    }
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .digest import sha256_file

MANIFEST = "manifest.json"
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
KINDS = ("classifier", "detector", "plate_reader", "document", "box_refiner")
PROVENANCES = ("trained", "untrained")
DTYPES = ("float32", "uint8", "int8")


class BundleError(Exception):
    """A bundle that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class InputSpec:
    name: str
    height: int
    width: int
    channels: int = 3
    dtype: str = "float32"
    color: str = "rgb"
    range: tuple[float, float] = (0.0, 255.0)


@dataclass(frozen=True)
class OutputSpec:
    name: str
    type: str  # logits | probabilities | embedding | raw
    labels: tuple[str, ...] = ()
    dim: int | None = None


@dataclass(frozen=True)
class Prototype:
    vector: tuple[float, ...]
    similarity_range: tuple[float, float]


@dataclass(frozen=True)
class Bundle:
    path: Path
    name: str
    version: str
    kind: str
    provenance: str
    sha256: str
    model_file: Path
    signature: str
    input: InputSpec
    outputs: Mapping[str, OutputSpec]
    prototypes: Mapping[str, Mapping[str, Prototype]] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def identity(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


def _req(d: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: str) -> Any:
    if key not in d:
        raise BundleError(f"{where}: missing key '{key}'")
    value = d[key]
    if not isinstance(value, typ) or (typ in (int, float) and isinstance(value, bool)):
        name = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise BundleError(f"{where}: key '{key}' must be {name}, got {type(value).__name__}")
    return value


def load_bundle(path: str | Path, *, verify_hash: bool = True) -> Bundle:
    """Read and validate a bundle folder. Raises BundleError naming the file and the key."""
    root = Path(path)
    mpath = root / MANIFEST
    if not root.is_dir():
        raise BundleError(f"{root}: model bundle folder not found")
    if not mpath.is_file():
        raise BundleError(f"{mpath}: manifest not found")
    try:
        m = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{mpath}: not valid JSON ({e})") from e
    if not isinstance(m, dict):
        raise BundleError(f"{mpath}: top level must be an object")
    w = str(mpath)
    if _req(m, "format", int, w) != 1:
        raise BundleError(f"{w}: unsupported format {m['format']} (this runtime reads format 1)")
    kind = _req(m, "kind", str, w)
    if kind not in KINDS:
        raise BundleError(f"{w}: key 'kind' must be one of {KINDS}, got {kind!r}")
    provenance = _req(m, "provenance", str, w)
    if provenance not in PROVENANCES:
        raise BundleError(f"{w}: key 'provenance' must be one of {PROVENANCES}, got {provenance!r}")
    model_file = root / _req(m, "model_file", str, w)
    if not model_file.is_file():
        raise BundleError(f"{model_file}: model file named by {w} not found")
    sha = _req(m, "sha256", str, w).lower()
    if verify_hash:
        actual = sha256_file(model_file)
        if actual != sha:
            raise BundleError(
                f"{model_file}: sha256 {actual[:12]}... does not match manifest {sha[:12]}... "
                "(corrupt or partial copy)")

    i = _req(m, "input", dict, w)
    wi = f"{w} [input]"
    rng = i.get("range", [0, 255])
    dtype = i.get("dtype", "float32")
    if dtype not in DTYPES:
        raise BundleError(f"{wi}: key 'dtype' must be one of {DTYPES}, got {dtype!r}")
    inp = InputSpec(
        name=_req(i, "name", str, wi), height=_req(i, "height", int, wi),
        width=_req(i, "width", int, wi), channels=int(i.get("channels", 3)), dtype=dtype,
        color=str(i.get("color", "rgb")), range=(float(rng[0]), float(rng[1])))
    if inp.height < 8 or inp.width < 8:
        raise BundleError(f"{wi}: input size {inp.width}x{inp.height} is too small")

    outputs: dict[str, OutputSpec] = {}
    for name, spec in _req(m, "outputs", dict, w).items():
        wo = f"{w} [outputs.{name}]"
        if not isinstance(spec, dict):
            raise BundleError(f"{wo}: must be an object")
        labels = tuple(spec.get("labels", ()))
        outputs[name] = OutputSpec(name=name, type=_req(spec, "type", str, wo), labels=labels,
                                   dim=spec.get("dim"))
    if not outputs:
        raise BundleError(f"{w}: key 'outputs' is empty")

    prototypes: dict[str, dict[str, Prototype]] = {}
    for head, per_label in (m.get("prototypes") or {}).items():
        if head not in outputs:
            raise BundleError(f"{w} [prototypes]: head '{head}' is not an output")
        prototypes[head] = {}
        for label, p in per_label.items():
            wp = f"{w} [prototypes.{head}.{label}]"
            if label not in outputs[head].labels:
                raise BundleError(f"{wp}: '{label}' is not a label of head '{head}'")
            lo, hi = _req(p, "similarity_range", list, wp)
            prototypes[head][label] = Prototype(
                vector=tuple(float(x) for x in _req(p, "vector", list, wp)),
                similarity_range=(float(lo), float(hi)))

    return Bundle(
        path=root, name=_req(m, "name", str, w), version=_req(m, "version", str, w), kind=kind,
        provenance=provenance, sha256=sha, model_file=model_file,
        signature=str(m.get("signature", "serving_default")), input=inp, outputs=outputs,
        prototypes=prototypes, thresholds=dict(m.get("thresholds") or {}), raw=m)


def resolve_bundle(name_or_path: str) -> Path:
    """A bundle folder by name (under models/) or by path."""
    p = Path(name_or_path).expanduser()
    if p.is_dir() or "/" in name_or_path:
        return p
    return MODELS_DIR / name_or_path
