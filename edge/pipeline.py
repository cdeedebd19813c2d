"""The per-photo pipeline: decode -> quality -> classify -> verify -> later stages -> route.

Later stages (detection, OCR, extraction, completeness) plug in as ``Stage`` objects; each is
timed under its own name. A photo that fails gets an error result and the run goes on: whatever
a stage raises becomes that photo's ``stage_failed`` (the stage named), whatever the decoder
raises its ``decode_failed``.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Protocol

from .bundle import Bundle
from .classifier import Classifier
from .config import Profile
from .classifier.consistency import label_heads
from .decode import DecodedImage, decode_bytes, read_file
from .errors import PhotoError
from .inference import use_runtime
from .quality import measure
from .registry import ModelRegistry, resolve_model
from .result import PhotoResult
from .routing import route

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


@contextmanager
def stage_guard(name: str, image: str) -> Iterator[None]:
    """Turn anything but a PhotoError raised inside into this photo's ``stage_failed``."""
    try:
        yield
    except PhotoError:
        raise
    except Exception as e:  # noqa: BLE001 - one photo must never stop the batch
        log.debug("stage %s failed on %s", name, image, exc_info=True)
        raise PhotoError("stage_failed", f"stage '{name}' failed: {_describe(e)}") from e


def _describe(e: Exception) -> str:
    """``Type: last line of the message`` (OpenCV's messages end with the assertion)."""
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    return f"{type(e).__name__}: {lines[-1]}" if lines else type(e).__name__


class Pipeline:
    def __init__(self, profile: Profile, bundle: Bundle | None = None,
                 stages: list[Stage] | None = None):
        """Every model comes from the device's registry: the active installed release of its
        name, else the copy shipped in the package (edge/registry.py). Without a ``bundle`` the
        classifier is the profile's, and the start is counted against every active installed
        release until a photo has been through all the stages (a release that never gets there
        is rolled back after a few starts)."""
        self.profile = profile
        use_runtime(profile.runtime.interpreter)
        self.registry = ModelRegistry(profile.fleet.resolved_models_dir(profile.store))
        self._starting = bundle is None
        if bundle is None:
            self.registry.begin_start()
            bundle = resolve_model(profile.runtime.classifier, self.registry)
        self.bundle = bundle
        self.classifier = Classifier(self.bundle, threads=profile.runtime.threads)
        if stages is None:
            from .stages import default_stages
            stages = default_stages(profile, self.registry)
        self.stages = list(stages)

    def decode(self, path: str, name: str | None = None,
               max_bytes: int | None = None) -> DecodedImage:
        rt = self.profile.runtime
        data = read_file(path, max_bytes or rt.max_file_mb * 1024 * 1024)
        return decode_bytes(data, name or path, max_pixels=rt.max_pixels,
                            classify_side=rt.classify_max_side, max_decode_mb=rt.max_decode_mb)

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
        except Exception as e:  # noqa: BLE001 - decode_bytes converts what it knows; not the rest
            log.debug("decoding %s failed", shown, exc_info=True)
            err = PhotoError("decode_failed", _describe(e))
            return PhotoResult(image=shown, ok=False, error=err.as_dict()), None
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
                             height=decoded.height, model=self.bundle.identity,
                             models=[{"kind": self.bundle.kind, **self.bundle.identity}])

        t = time.perf_counter()
        with stage_guard("quality", decoded.path):
            result.quality = measure(decoded.small, (decoded.width, decoded.height),
                                     self.profile.quality, damaged=decoded.damage is not None)
        if decoded.damage:
            log.info("%s: %s", decoded.path, decoded.damage)
        timings["quality"] = (time.perf_counter() - t) * 1000

        t = time.perf_counter()
        try:
            cls = self.classifier.classify(decoded.small)
        except (RuntimeError, ValueError) as e:
            raise PhotoError("model_error", f"classifier failed: {e}") from e
        except Exception as e:  # noqa: BLE001 - e.g. cv2.error resizing a degenerate image
            raise PhotoError("model_error", f"classifier failed: {_describe(e)}") from e
        heads, result.verification = label_heads(
            cls.heads, cls.embedding, self.bundle, self.profile.verify.min_score,
            self.profile.verify.consistency)
        category = heads.pop("category", None)
        result.category, result.heads = category, heads
        timings["classify"] = (time.perf_counter() - t) * 1000

        ctx = PhotoContext(decoded=decoded, profile=self.profile, result=result)
        for stage in self.stages:
            t = time.perf_counter()
            with stage_guard(stage.name, decoded.path):
                stage.run(ctx)
            timings[stage.name] = (time.perf_counter() - t) * 1000

        damage = heads.get("damage")
        with stage_guard("route", decoded.path):
            result.routing = route(self.profile.routing, category.label if category else None,
                                   bool(result.verification and result.verification.verified),
                                   damage.label if damage else None,
                                   result.document.label if result.document else None)
        if decoded.damage and "review" not in result.scenarios:
            # Filed, not refused: libjpeg also complains about harmless padding some cameras
            # write, so a person looks at it (and the checklist asks for a retake).
            result.routing.append(("review", "damaged image data"))
        result.timings_ms = timings
        if self._starting:
            self._starting = False
            self.registry.mark_healthy()
        return result
