"""The default later stages of the pipeline (after decode, quality, classify, verify):
detection with the small-region zoom, then OCR + documents (type, key fields, completeness).

``Pipeline(profile)`` uses these when no stages are given."""

from __future__ import annotations

from .config import Profile


def default_stages(profile: Profile) -> list:
    stages: list = []
    try:
        from .detect import DetectStage, PlateStage
    except ImportError:  # the detector module is optional in this build
        DetectStage = PlateStage = None  # noqa: N806
    if DetectStage is not None and profile.detect.detector:
        stages.append(DetectStage(profile.detect, threads=profile.runtime.threads))
        if profile.detect.read_plates:   # fields.plate from plate detections, before OCR
            stages.append(PlateStage(profile.detect, threads=profile.runtime.threads))
    from .documents.stage import DocumentStage
    stages.append(DocumentStage(profile))
    return stages
