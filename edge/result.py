"""Typed results at every boundary, and the one place that turns them into the analyze --json
contract (see DESIGN.md). Keys a stage did not run for are left out, never invented."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .quality import Quality


@dataclass(frozen=True)
class HeadResult:
    label: str
    score: float
    probs: tuple[float, ...] = ()


@dataclass(frozen=True)
class Classification:
    heads: dict[str, HeadResult]
    embedding: np.ndarray | None = None


@dataclass(frozen=True)
class Verification:
    verified: bool
    similarity: float | None
    reason: str = ""


@dataclass(frozen=True)
class Detection:
    label: str
    box: tuple[float, float, float, float]  # x, y, w, h in original-image pixels
    score: float
    zoomed: bool = False


@dataclass(frozen=True)
class TextLine:
    box: tuple[tuple[float, float], ...]  # 4 corners
    text: str
    score: float


@dataclass(frozen=True)
class FieldValue:
    value: str
    confidence: float
    valid: bool
    source: str = "ocr"
    reason: str = ""
    region: str = ""   # plates: the region/format a layout decided (``us``, ``eu-de``, ``br``)
    format: str = ""   # plates: that layout's name (``BR Mercosul``)


@dataclass
class PhotoResult:
    image: str
    ok: bool = True
    error: dict[str, str] | None = None
    sha256: str = ""
    width: int = 0
    height: int = 0
    category: HeadResult | None = None
    verification: Verification | None = None
    heads: dict[str, HeadResult] = field(default_factory=dict)
    routing: list[tuple[str, str]] = field(default_factory=list)  # (scenario, reason)
    quality: Quality | None = None
    detections: list[Detection] = field(default_factory=list)
    document: HeadResult | None = None
    text: list[TextLine] = field(default_factory=list)
    fields: dict[str, FieldValue] = field(default_factory=dict)
    completeness: dict[str, Any] | None = None
    model: dict[str, str] | None = None
    models: list[dict[str, str]] = field(default_factory=list)  # every model that touched it
    timings_ms: dict[str, float] = field(default_factory=dict)

    def touched(self, identity: dict[str, str]) -> None:
        """Name a model (kind, name, version, sha256) that contributed to this result."""
        if identity not in self.models:
            self.models.append(dict(identity))

    @property
    def scenarios(self) -> list[str]:
        return [s for s, _ in self.routing]

    def to_contract(self) -> dict[str, Any]:
        if not self.ok:
            return {"image": self.image, "ok": False, "error": dict(self.error or {})}
        out: dict[str, Any] = {"image": self.image, "ok": True, "sha256": self.sha256,
                               "width": self.width, "height": self.height}
        if self.category is not None:
            cat = {"label": self.category.label, "score": round(self.category.score, 4)}
            if self.verification is not None:
                cat["verified"] = self.verification.verified
                if self.verification.similarity is not None:
                    cat["similarity"] = round(self.verification.similarity, 4)
            out["category"] = cat
        if self.heads:
            out["heads"] = {k: {"label": h.label, "score": round(h.score, 4)}
                            for k, h in self.heads.items()}
        out["scenarios"] = self.scenarios
        if self.quality is not None:
            out["quality"] = self.quality.as_dict()
        if self.detections:
            out["detections"] = [{"label": d.label, "box": [round(v, 1) for v in d.box],
                                  "score": round(d.score, 4), "zoomed": d.zoomed}
                                 for d in self.detections]
        if self.document is not None:
            out["document"] = {"type": self.document.label, "score": round(self.document.score, 4)}
        if self.text:
            out["text"] = [{"box": [[round(x, 1), round(y, 1)] for x, y in t.box], "text": t.text,
                            "score": round(t.score, 4)} for t in self.text]
        if self.fields:
            out["fields"] = {k: _field(f) for k, f in self.fields.items()}
        if self.completeness is not None:
            out["completeness"] = self.completeness
        if self.model is not None:
            out["model"] = dict(self.model)
        if self.models:
            out["models"] = [dict(m) for m in self.models]
        out["timings_ms"] = {k: round(v, 1) for k, v in self.timings_ms.items()}
        return out


def _field(f: FieldValue) -> dict[str, Any]:
    out: dict[str, Any] = {"value": f.value, "confidence": round(f.confidence, 4),
                           "valid": f.valid}
    if f.region:
        out["region"] = f.region
        out["format"] = f.format
    return out
