"""Quality gate: is the photo sharp, exposed right and free of glare? Says why to retake it."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .config import QualityConfig

ANALYSIS_SIDE = 640  # metrics are computed at this long side so thresholds do not depend on MP

REASONS = {
    "too_small": "resolution too low",
    "blurred": "blurred: hold still or tap to focus",
    "too_dark": "too dark: add light or use the flash",
    "overexposed": "overexposed: step out of direct light",
    "glare": "glare: change the angle to avoid reflections",
}


@dataclass(frozen=True)
class Quality:
    ok: bool
    issues: list[str] = field(default_factory=list)
    sharpness: float = 0.0
    brightness: float = 0.0
    glare: float = 0.0

    def as_dict(self) -> dict:
        return {"ok": self.ok, "issues": list(self.issues), "sharpness": round(self.sharpness, 1),
                "brightness": round(self.brightness, 3), "glare": round(self.glare, 4)}


def measure(bgr: np.ndarray, full_size: tuple[int, int], cfg: QualityConfig) -> Quality:
    """Metrics on the reduced image; ``full_size`` is (width, height) of the original."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    scale = ANALYSIS_SIDE / max(gray.shape)
    if scale < 1:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    sharpness = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    brightness = float(gray.mean() / 255.0)
    # Glare: saturated blobs, not isolated bright pixels. Opening removes specks and thin text
    # strokes; what is left are specular patches.
    saturated = (gray >= 250).astype(np.uint8)
    saturated = cv2.morphologyEx(saturated, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    glare = float(saturated.mean())

    issues = []
    if min(full_size) < cfg.min_side:
        issues.append("too_small")
    if sharpness < cfg.min_sharpness:
        issues.append("blurred")
    if brightness < cfg.min_brightness:
        issues.append("too_dark")
    elif brightness > cfg.max_brightness:
        issues.append("overexposed")
    if glare > cfg.max_glare and "overexposed" not in issues:
        issues.append("glare")
    return Quality(ok=not issues, issues=issues, sharpness=sharpness, brightness=brightness,
                   glare=glare)
