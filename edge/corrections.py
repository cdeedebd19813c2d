"""An operator's correction of a field: validated like a value read by OCR, stored as a new
KeyField row next to the model's (which is kept), audited, and queued for sync as the photo's
next revision (the record's ``rev`` counts the operator rows: sync/protocol.py)."""

from __future__ import annotations

import logging
import uuid as uuidlib

import peewee as pw

from .config import FIELD_NAMES
from .store import Store
from .store.schema import OPERATOR, OUTBOX_ACTIVE, KeyField, Outbox, Photo, utcnow

log = logging.getLogger("claim_edge.corrections")

MAX_FIELD_VALUE = 200
VALIDATED = ("date_of_birth", "expiry_date", "date", "vin", "plate", "license_number",
             "policy_number", "invoice_number", "name")


class CorrectionError(Exception):
    """A correction that cannot be stored; ``str(e)`` tells the operator why."""

    def __init__(self, message: str, code: str, status: int = 400):
        super().__init__(message)
        self.code, self.status = code, status


def check_field(name: str, value: str) -> tuple[str, bool, str]:
    """(value, valid, reason) for an operator's value, through the same normalisation and
    validation as the values read by OCR (edge.documents.fields), so that a typo in a VIN or an
    expired licence shows in the checklist. A value the rules do not recognise is kept as typed
    and marked invalid with the reason; fields without rules are kept as typed."""
    if name not in VALIDATED:
        return value, True, ""
    try:
        from .documents.fields import normalise
        got = normalise(name, value)
    except (ImportError, ValueError, TypeError) as e:
        log.debug("no validation for %s: %s", name, e)
        return value, True, ""
    if got is None:
        return value, False, f"not recognised as a {name.replace('_', ' ')}; kept as typed"
    return got


def correct_field(store: Store, photo_uuid: str, name: str, value: str) -> KeyField:
    """Store the operator's value for ``name`` on the photo and queue its record for sync."""
    name = (name or "").strip()
    value = " ".join((value or "").split())
    if name not in FIELD_NAMES:
        raise CorrectionError(f"Unknown field '{name}'.", "bad_field")
    if not value:
        raise CorrectionError("Type the correct value before saving.", "empty_value")
    if len(value) > MAX_FIELD_VALUE:
        raise CorrectionError(f"A field value is at most {MAX_FIELD_VALUE} characters.",
                              "value_too_long")
    try:
        u = uuidlib.UUID(str(photo_uuid))
    except ValueError:
        raise CorrectionError("No such photo.", "no_photo", 404) from None
    photo = Photo.get_or_none(Photo.uuid == u)
    if photo is None:
        raise CorrectionError("No such photo.", "no_photo", 404)
    value, valid, reason = check_field(name, value)
    with store.db.atomic("IMMEDIATE"):
        prev = (KeyField.select().where((KeyField.photo == u) & (KeyField.name == name))
                .order_by(KeyField.id.desc()).first())
        kf = KeyField.create(photo=u, name=name, value=value, confidence=1.0, valid=valid,
                             source=OPERATOR, reason=reason or None)
        store.audit(OPERATOR, "field.correct", str(u), claim=photo.claim_id, field=name,
                    value=value, valid=valid, previous=prev.value if prev else None,
                    previous_source=prev.source if prev else None)
        _requeue(u, photo.claim_id, f"operator corrected {name}")
    return kf


def _requeue(u: uuidlib.UUID, claim_id: str, why: str) -> None:
    """Put the photo's record at the back of the outbox as pending, so that the sync worker
    sends its new revision. The row gets a new, highest id: the worker scans the outbox by
    increasing id from a cursor (sync/device/worker.py ``_next_row``), so a row left at its old id
    would wait for the worker's next reconnect. Ack fields are cleared; attempts are kept, so
    the resend asks central what it already has and no image travels twice."""
    row = Outbox.get_or_none(Outbox.record_uuid == u)
    if row is None:
        Outbox.create(record_uuid=u, claim=claim_id, reason=why)
        return
    last = Outbox.select(pw.fn.MAX(Outbox.id)).scalar() or 0
    Outbox.update(id=last + 1, state="pending", acked_at=None, ack_status=None, reason=why,
                  created_at=row.created_at if row.state in OUTBOX_ACTIVE else utcnow()
                  ).where(Outbox.id == row.id).execute()
