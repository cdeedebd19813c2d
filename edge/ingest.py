"""File photos into the store under a claim, one progress line per photo."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import Callable, TextIO

import peewee as pw

from .checklist import claim_checklist, record_checklist
from .errors import PhotoError
from .pipeline import Pipeline
from .result import PhotoResult
from .store import Store, StoreWriteError

log = logging.getLogger(__name__)


@dataclass
class IngestSummary:
    new: int = 0
    already: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, code)


def ingest(paths: list[str], claim_id: str, pipeline: Pipeline, store: Store,
           progress: TextIO = sys.stderr,
           on_result: Callable[[PhotoResult], None] | None = None) -> IngestSummary:
    summary = IngestSummary()
    profile = pipeline.profile
    store.ensure_claim(claim_id, profile)
    n = len(paths)
    for i, path in enumerate(paths, 1):
        result, decoded = pipeline.analyze(path)
        filed = ""
        if result.ok and decoded is not None:
            try:
                outcome = store.add_photo(claim_id, decoded, result, profile)
            except StoreWriteError as e:
                result = PhotoResult(image=path, ok=False, error=PhotoError(
                    "store_write_failed", str(e.strerror or e)).as_dict())
            except Exception as e:  # noqa: BLE001 - the next photo must still be filed
                log.warning("filing %s failed", path, exc_info=True)
                result = PhotoResult(image=path, ok=False, error=PhotoError(
                    "internal_error", f"filing failed: {type(e).__name__}: {e}").as_dict())
            else:
                if outcome.created:
                    summary.new += 1
                else:
                    summary.already += 1
                    filed = " (already filed)"
        if on_result:
            on_result(result)
        if not result.ok:
            summary.failed.append((path, result.error["code"]))
            print(f"[{i}/{n}] {path}: FAILED {result.error['code']}: {result.error['message']}",
                  file=progress, flush=True)
            continue
        cat = result.category
        mark = "verified" if result.verification and result.verification.verified else "to review"
        q = "" if result.quality.ok else f"; retake? {', '.join(result.quality.issues)}"
        print(f"[{i}/{n}] {path}: {cat.label} {cat.score:.2f} ({mark}) -> "
              f"{', '.join(result.scenarios)}{q}{filed}", file=progress, flush=True)
    try:
        record_checklist(claim_id, claim_checklist(claim_id, profile))
    except pw.OperationalError as e:  # e.g. the disk filled up: the photos filed stay filed
        print(f"claim {claim_id}: the checklist could not be recorded ({e}); `claims show` "
              "computes it again", file=progress, flush=True)
    return summary
