"""The claim checklist: which required photos and fields a claim has, lacks, or has in doubt."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .config import Profile
from .quality import REASONS
from .store.schema import OPERATOR, CompletenessCheck, KeyField, Label, Photo

STATUSES = ("present", "missing", "invalid", "doubtful")
DOUBTFUL_BELOW = 0.6   # field confidence below this: "doubtful"


@dataclass(frozen=True)
class CheckItem:
    item: str
    status: str          # present | missing | invalid | doubtful
    detail: str = ""
    photo_uuid: str | None = None


def _claim_rows(photos: list[Photo]) -> tuple[dict, dict]:
    """Labels by head and latest fields by name, per photo uuid: two queries for the whole
    claim (the operator screen renders this for every page view)."""
    labels: dict = {p.uuid: {} for p in photos}
    fields: dict = {p.uuid: {} for p in photos}
    if photos:
        ids = [p.uuid for p in photos]
        for lb in Label.select().where(Label.photo.in_(ids)):
            labels[lb.photo_id][lb.head] = lb
        # one value per field: the latest row wins (an operator's correction over the OCR's)
        for f in KeyField.select().where(KeyField.photo.in_(ids)).order_by(KeyField.id):
            fields[f.photo_id][f.name] = f
    return labels, fields


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
    labels, fields = _claim_rows(photos)
    labelled = [(p, labels[p.uuid]) for p in photos]
    items: list[CheckItem] = []
    for rp in profile.claim.required_photos:
        found = [(p, lb) for p, lb in labelled if _matches(p, lb, rp.category, rp.view, rp.document)]
        good = [p for p, _ in found if p.verified and p.quality_ok]
        if rp.category == "plate":
            # a plate read from a vehicle (or any other) photo shows the plate as well as a
            # close-up does
            good += [p for p, _ in labelled if p not in good and _plate_read(p) is not None]
        if len(good) >= rp.count:
            read = [f"{f.value} read on a {p.category} photo" for p in good
                    if p.category != "plate" and (f := _plate_read(p)) is not None]
            items.append(CheckItem(f"photo: {rp.item}", "present", f"{len(good)} photo(s)"
                                   + (f" ({'; '.join(read[:2])})" if read else ""),
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
        items.extend(document_checks(p, doc.label, profile, fields[p.uuid]))
    items.extend(cross_checks(labelled, fields))
    return items


def cross_checks(labelled: list[tuple[Photo, dict[str, Label]]],
                 fields: dict | None = None) -> list[CheckItem]:
    """The plate read from a vehicle photo, a plate close-up and a registration must agree."""
    from .plates import plates_agree
    reads = [(p, f) for p, _ in labelled
             for f in [(fields[p.uuid] if fields is not None else _latest_fields(p)).get("plate")]
             if f is not None and f.valid]
    if len(reads) < 2:
        return []
    agree, distinct = plates_agree(f.value for _, f in reads)
    if agree:
        return [CheckItem("cross-check: plate", "present",
                          f"{distinct[0]} on {len(reads)} photos", str(reads[0][0].uuid))]
    where = ", ".join(f"{f.value} ({p.category})" for p, f in reads)
    return [CheckItem("cross-check: plate", "invalid", f"plates differ: {where}",
                      str(reads[0][0].uuid))]


def _plate_read(photo: Photo) -> KeyField | None:
    """The photo's plate field when it is valid and confidently read, else None."""
    f = _latest_fields(photo).get("plate")
    return f if f is not None and f.valid and f.confidence >= DOUBTFUL_BELOW else None


def _latest_fields(photo: Photo) -> dict[str, KeyField]:
    """One value per field: the latest row wins (an operator's correction over the OCR's)."""
    out: dict[str, KeyField] = {}
    for f in KeyField.select().where(KeyField.photo == photo).order_by(KeyField.id):
        out[f.name] = f
    return out


def document_checks(photo: Photo, doc_type: str, profile: Profile,
                    fields: dict[str, KeyField] | None = None) -> list[CheckItem]:
    """The fields a document of this type must carry: present, missing, invalid (failed
    validation: a bad VIN check digit, an impossible date) or doubtful (read with low
    confidence, or day and month could be swapped); an expired document is its own item."""
    required = profile.documents.required_fields.get(doc_type, [])
    fields = _latest_fields(photo) if fields is None else fields
    items = []
    uid = str(photo.uuid)
    for name in required:
        f = fields.get(name)
        item = f"field: {doc_type}.{name}"
        if f is None:
            items.append(CheckItem(item, "missing", "not found on the document: retake it or "
                                   "enter the value", uid))
        elif not f.valid:
            items.append(CheckItem(item, "invalid", f.reason or f"'{f.value}' is not valid", uid))
        elif f.confidence < DOUBTFUL_BELOW:
            items.append(CheckItem(item, "doubtful",
                                   f"'{f.value}' read with low confidence {f.confidence:.2f}", uid))
        elif name in ("date_of_birth", "expiry_date") and f.source != OPERATOR \
                and "day/month order assumed" in (f.reason or ""):
            items.append(CheckItem(item, "doubtful", f"'{f.value}': {f.reason}", uid))
        else:
            items.append(CheckItem(item, "present", f.value, uid))
    exp = fields.get("expiry_date")
    if exp is not None and not exp.valid and (exp.reason or "").startswith("expired"):
        items.append(CheckItem(f"document: {doc_type} valid", "invalid",
                               f"{exp.reason.split(';')[0]}: ask for a valid document", uid))
    return items


def record_checklist(claim_id: str, items: list[CheckItem]) -> None:
    """Record the check: the claim-level rows (photo null) are replaced, and each photo that
    items refer to gets its own rows (replacing that photo's previous check)."""
    db = CompletenessCheck._meta.database
    with db.atomic():
        CompletenessCheck.delete().where((CompletenessCheck.claim == claim_id)
                                         & CompletenessCheck.photo.is_null()).execute()
        for it in items:
            CompletenessCheck.create(claim=claim_id, photo=None, item=it.item, status=it.status,
                                     detail=it.detail)
        per_photo = [it for it in items if it.photo_uuid and it.item.startswith(("field:",
                                                                                 "document:"))]
        for uid in {it.photo_uuid for it in per_photo}:
            CompletenessCheck.delete().where((CompletenessCheck.claim == claim_id)
                                             & (CompletenessCheck.photo == uid)).execute()
        for it in per_photo:
            CompletenessCheck.create(claim=claim_id, photo=it.photo_uuid, item=it.item,
                                     status=it.status, detail=it.detail)
