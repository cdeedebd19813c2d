"""The default later stages of the pipeline (after decode, quality, classify, verify):
detection with the small-region zoom, plate reading, then OCR + documents (type, key fields,
completeness). ``Pipeline(profile)`` uses these when no stages are given."""

from __future__ import annotations

from .config import Profile
from .detect import DetectStage, PlateStage
from .documents.stage import DocumentStage


def default_stages(profile: Profile) -> list:
    stages: list = []
    if profile.detect.detector:
        stages.append(DetectStage(profile.detect, threads=profile.runtime.threads))
        if profile.detect.read_plates:   # fields.plate from plate detections, before OCR
            stages.append(PlateStage(profile.detect, threads=profile.runtime.threads))
    stages.append(DocumentStage(profile))
    return stages
