"""The claim checklist: which required photos and fields a claim has, lacks, or has in doubt."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .config import Profile
from .quality import REASONS
from .store.schema import CompletenessCheck, KeyField, Label, Photo

STATUSES = ("present", "missing", "invalid", "doubtful")


@dataclass(frozen=True)
class CheckItem:
    item: str
    status: str          # present | missing | invalid | doubtful
    detail: str = ""
    photo_uuid: str | None = None


def _labels(photo: Photo) -> dict[str, Label]:
    return {lb.head: lb for lb in photo.labels}


def _matches(photo: Photo, labels: dict[str, Label], category: str, view: str,
             document: str) -> bool:
    if photo.category != category:
        return False
    if view and labels.get("view") and labels["view"].label != view:
        return False
    if document and (labels.get("document") is None or labels["document"].label != document):
        return False
    return True


def claim_checklist(claim_id: str, profile: Profile) -> list[CheckItem]:
    photos = list(Photo.select().where(Photo.claim == claim_id).order_by(Photo.captured_at))
    labelled = [(p, _labels(p)) for p in photos]
    items: list[CheckItem] = []
    for rp in profile.claim.required_photos:
        found = [(p, lb) for p, lb in labelled if _matches(p, lb, rp.category, rp.view, rp.document)]
        good = [p for p, _ in found if p.verified and p.quality_ok]
        if len(good) >= rp.count:
            items.append(CheckItem(f"photo: {rp.item}", "present", f"{len(good)} photo(s)",
                                   str(good[0].uuid)))
        elif found:
            p = found[0][0]
            issues = json.loads(p.quality_issues)
            why = ", ".join(REASONS.get(i, i) for i in issues) if issues else \
                "label not verified: check the photo"
            items.append(CheckItem(f"photo: {rp.item}", "doubtful", f"retake: {why}"
                                   if issues else why, str(p.uuid)))
        else:
            items.append(CheckItem(f"photo: {rp.item}", "missing", "take this photo"))

    for p, lb in labelled:
        doc = lb.get("document")
        if doc is None:
            continue
        required = profile.documents.required_fields.get(doc.label, [])
        fields = {f.name: f for f in KeyField.select().where(KeyField.photo == p)}
        for name in required:
            f = fields.get(name)
            item = f"field: {doc.label}.{name}"
            if f is None:
                items.append(CheckItem(item, "missing", "not found on the document", str(p.uuid)))
            elif not f.valid:
                items.append(CheckItem(item, "invalid", f.reason or f"'{f.value}' is not valid",
                                       str(p.uuid)))
            elif f.confidence < 0.6:
                items.append(CheckItem(item, "doubtful",
                                       f"'{f.value}' read with low confidence {f.confidence:.2f}",
                                       str(p.uuid)))
            else:
                items.append(CheckItem(item, "present", f.value, str(p.uuid)))
    return items


def record_checklist(claim_id: str, items: list[CheckItem]) -> None:
    """Record the check (replacing the previous claim-level check)."""
    db = CompletenessCheck._meta.database
    with db.atomic():
        CompletenessCheck.delete().where((CompletenessCheck.claim == claim_id)
                                         & CompletenessCheck.photo.is_null()).execute()
        for it in items:
            CompletenessCheck.create(claim=claim_id, photo=None, item=it.item, status=it.status,
                                     detail=it.detail)
