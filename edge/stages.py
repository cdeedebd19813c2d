"""The default later stages of the pipeline (after decode, quality, classify, verify):
detection with the small-region zoom, plate reading, then OCR + documents (type, key fields,
completeness). ``Pipeline(profile)`` uses these when no stages are given."""

from __future__ import annotations

from .config import Profile
from .detect import DetectStage, PlateStage
from .documents.stage import DocumentStage
from .registry import ModelRegistry


def default_stages(profile: Profile, registry: ModelRegistry | None = None) -> list:
    """Each stage resolves its models through ``registry`` (active release, else shipped)."""
    stages: list = []
    threads = profile.runtime.threads
    if profile.detect.detector:
        stages.append(DetectStage(profile.detect, threads=threads, registry=registry))
        if profile.detect.read_plates:   # fields.plate from plate detections, before OCR
            stages.append(PlateStage(profile.detect, threads=threads, registry=registry))
    stages.append(DocumentStage(profile, registry=registry))
    return stages
