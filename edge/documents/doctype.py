"""Document type by fusion: per text box a text, a visual and a position feature, fused per box
(one dense layer over their concatenation), pooled over the boxes (mean and max) and classified
into the DESIGN document types. A small numpy model: ``weights.npz`` + ``manifest.json`` under
``models/document-classifier/`` (trained by ``models/toolkit/documents/train.py``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..result import HeadResult
from .layout import Box, box_features

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "document-classifier"
MODALITIES = ("text", "visual", "position")


def stack_inputs(feats: dict[str, np.ndarray], modalities) -> np.ndarray:
    return np.concatenate([feats[m] for m in modalities], axis=1)


def forward(x: np.ndarray, mask: np.ndarray, w: dict[str, np.ndarray]):
    """x: (B, N, D) standardised box features, mask: (B, N). Returns logits and the cache the
    trainer needs for the backward pass."""
    B, N, D = x.shape
    # one 2-D product: a stacked (B, N, D) @ (D, K) does not go through BLAS
    pre = (x.reshape(B * N, D) @ w["W1"]).reshape(B, N, -1) + w["b1"]
    h = np.maximum(pre, 0) * mask[..., None]
    count = np.maximum(mask.sum(1, keepdims=True), 1)
    mean = h.sum(1) / count
    mx = h.max(1)
    pooled = np.concatenate([mean, mx], axis=1)
    logits = pooled @ w["W2"] + w["b2"]
    return logits, (pre, h, count, pooled)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def tighten_boxes(boxes: list[Box], m: dict) -> list[Box]:
    """Each box moved in by margins ``m`` given in box heights (left, right, top, bottom, and the
    padded-to-tight height ratio)."""
    out = []
    for b in boxes:
        h = b.h / m["height_ratio"]
        out.append(Box(b.x0 + m["left"] * h, b.y0 + m["top"] * h, b.x1 - m["right"] * h,
                       b.y1 - m["bottom"] * h, b.text, b.score))
    return out


@dataclass
class DocTypeModel:
    labels: list[str]
    modalities: tuple[str, ...]
    weights: dict[str, np.ndarray]
    manifest: dict

    @classmethod
    def load(cls, folder: str | Path = MODEL_DIR) -> "DocTypeModel":
        folder = Path(folder)
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        with np.load(folder / manifest.get("weights", "weights.npz")) as z:
            weights = {k: z[k].astype(np.float32) for k in z.files}
        return cls(list(manifest["labels"]), tuple(manifest["modalities"]), weights, manifest)

    def tighten(self, boxes: list[Box]) -> list[Box]:
        """OCR boxes to the tight text extents the model was trained on. The detector's boxes
        are padded (DB unclip); the margins, in box heights, were measured on generated
        documents read by our OCR and are stored in the manifest (``ocr_box_margins``)."""
        m = self.manifest.get("ocr_box_margins")
        return tighten_boxes(boxes, m) if m else boxes

    def features(self, boxes: list[Box], gray: np.ndarray | None) -> np.ndarray:
        x = stack_inputs(box_features(boxes, gray), self.modalities)
        return (x - self.weights["mu"]) / self.weights["sigma"]

    def predict_proba(self, boxes: list[Box], gray: np.ndarray | None,
                      from_ocr: bool = True) -> np.ndarray:
        """``from_ocr``: the boxes come from the OCR (tightened first); False for exact boxes
        (generated documents, annotations)."""
        if not boxes:
            p = np.zeros(len(self.labels), np.float32)
            p[self.labels.index("other_document")] = 1.0
            return p
        if from_ocr:
            boxes = self.tighten(boxes)
        x = self.features(boxes, gray)[None]
        logits, _ = forward(x, np.ones(x.shape[:2], np.float32), self.weights)
        return softmax(logits)[0]

    def classify(self, boxes: list[Box], gray: np.ndarray | None,
                 from_ocr: bool = True) -> HeadResult:
        p = self.predict_proba(boxes, gray, from_ocr)
        i = int(np.argmax(p))
        return HeadResult(self.labels[i], float(p[i]), tuple(float(v) for v in p))
