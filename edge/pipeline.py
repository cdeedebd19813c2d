"""The per-photo pipeline: decode -> quality -> classify -> verify -> later stages -> route.

Later stages (detection, OCR, extraction, completeness) plug in as ``Stage`` objects; each is
timed under its own name. A photo that fails gets an error result and the run goes on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from .bundle import Bundle
from .classifier import Classifier
from .config import Profile
from .decode import DecodedImage, decode_bytes, read_file
from .errors import PhotoError
from .quality import measure
from .registry import ModelRegistry, resolve_model
from .result import PhotoResult
from .routing import route
from .verify import verify

log = logging.getLogger(__name__)


@dataclass
class PhotoContext:
    """What a stage sees: the decoded image, the profile and the result so far."""
    decoded: DecodedImage
    profile: Profile
    result: PhotoResult
    notes: dict = field(default_factory=dict)


class Stage(Protocol):
    name: str

    def run(self, ctx: PhotoContext) -> None: ...


class Pipeline:
    def __init__(self, profile: Profile, bundle: Bundle | None = None,
                 stages: list[Stage] | None = None):
        """Without a bundle, the profile's classifier: the active installed update if there is
        one (counted as a start until a photo is classified, see registry.py), else the
        shipped bundle."""
        self.profile = profile
        self.registry: ModelRegistry | None = None
        if bundle is None:
            self.registry = ModelRegistry(profile.fleet.resolved_models_dir(profile.store))
            self.registry.begin_start(profile.runtime.classifier)
            bundle = resolve_model(profile.runtime.classifier, self.registry)
        self.bundle = bundle
        self.classifier = Classifier(self.bundle, threads=profile.runtime.threads)
        if stages is None:
            from .stages import default_stages
            stages = default_stages(profile)
        self.stages = list(stages)

    def decode(self, path: str, name: str | None = None,
               max_bytes: int | None = None) -> DecodedImage:
        rt = self.profile.runtime
        data = read_file(path, max_bytes or rt.max_file_mb * 1024 * 1024)
        return decode_bytes(data, name or path, max_pixels=rt.max_pixels,
                            classify_side=rt.classify_max_side)

    def analyze(self, path: str, name: str | None = None,
                max_bytes: int | None = None) -> tuple[PhotoResult, DecodedImage | None]:
        """Read and analyse ``path`` (reported as ``name``, default the path). Never raises for
        a bad photo: the error is in the result."""
        shown = name or path
        t0 = time.perf_counter()
        try:
            decoded = self.decode(path, shown, max_bytes)
        except PhotoError as e:
            return PhotoResult(image=shown, ok=False, error=e.as_dict()), None
        t_decode = (time.perf_counter() - t0) * 1000
        try:
            result = self.analyze_decoded(decoded)
        except PhotoError as e:
            return PhotoResult(image=shown, ok=False, error=e.as_dict()), decoded
        result.timings_ms = {"decode": t_decode, **result.timings_ms,
                             "total": (time.perf_counter() - t0) * 1000}
        return result, decoded

    def analyze_decoded(self, decoded: DecodedImage) -> PhotoResult:
        timings: dict[str, float] = {}
        result = PhotoResult(image=decoded.path, sha256=decoded.sha256, width=decoded.width,
                             height=decoded.height, model=self.bundle.identity)

        t = time.perf_counter()
        result.quality = measure(decoded.small, (decoded.width, decoded.height),
                                 self.profile.quality)
        timings["quality"] = (time.perf_counter() - t) * 1000

        t = time.perf_counter()
        try:
            cls = self.classifier.classify(decoded.small)
        except (RuntimeError, ValueError) as e:
            raise PhotoError("model_error", f"classifier failed: {e}") from e
        if self.registry is not None:
            self.registry.mark_healthy(self.profile.runtime.classifier)
            self.registry = None
        heads = dict(cls.heads)
        category = heads.pop("category", None)
        result.category, result.heads = category, heads
        if category is not None:
            result.verification = verify(
                category.label, category.score, cls.embedding,
                self.bundle.prototypes.get("category", {}), self.profile.verify.min_score)
        timings["classify"] = (time.perf_counter() - t) * 1000

        ctx = PhotoContext(decoded=decoded, profile=self.profile, result=result)
        for stage in self.stages:
            t = time.perf_counter()
            stage.run(ctx)
            timings[stage.name] = (time.perf_counter() - t) * 1000

        damage = heads.get("damage")
        result.routing = route(self.profile.routing, category.label if category else None,
                       bool(result.verification and result.verification.verified),
                       damage.label if damage else None,
                       result.document.label if result.document else None)
        result.timings_ms = timings
        return result
