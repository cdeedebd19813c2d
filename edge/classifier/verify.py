"""Verified labels: a label counts only if the photo's embedding is close enough to the mean
training embedding (prototype) of its class; otherwise the photo goes to review."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..bundle import Prototype
from ..result import Verification


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 0.0
    # Clamped: rounding can give 1.0000001, which would fall outside a range ending at 1.0.
    return float(np.clip(np.dot(a, b) / (na * nb), -1.0, 1.0))


def verify(label: str, score: float, embedding: np.ndarray | None,
           prototypes: Mapping[str, Prototype], min_score: float) -> Verification:
    proto = prototypes.get(label)
    if embedding is None or proto is None:
        return Verification(False, None, f"no prototype for '{label}' in the model bundle")
    sim = cosine(embedding, np.asarray(proto.vector, dtype=np.float32))
    lo, hi = proto.similarity_range
    if score < min_score:
        return Verification(False, sim, f"score {score:.2f} below {min_score:.2f}")
    if not lo <= sim <= hi:
        return Verification(False, sim, f"similarity {sim:.2f} outside [{lo:.2f}, {hi:.2f}]")
    return Verification(True, sim)
