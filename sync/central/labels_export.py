"""``claim-edge central export-labels``: operators' corrections and reviewers' decisions as a
labelled data set, in the formats of the project's data folder (``../shared/data/README.md``),
so the toolkit trains on it unchanged (``--corrections DIR`` of its training commands).

Written under ``OUT``::

    corrections.csv            every correction: image, record, device, claim, field, the model's
                               value, the operator's value, corrected_at, the models (JSON list
                               of kind/name/version/sha256 that touched the photo)
    review.csv                 every review decision: image, record, head, model_label, label, ...
    plate_photos/labels.csv    image,region,x,y,w,h,plate  (operator-corrected plates, box from
                               the device's plate detection) + record,model_value,plate_reader
    documents/labels.csv       image,doc_type,source_repo,source_path,note  (document decisions)
    not_claim/labels.csv       image,source_repo,source_path  (category decided 'other')
    vehicles/labels.csv        image,view,source_repo,source_path  (category decided 'vehicle')
    damage_severity/labels.csv image,split,severity  (damage decided minor/moderate/severe)
    <set>/images/<sha256>.<ext>  the photos (hard links to the blob store when it can)
    export.json                what was exported, counts per set, the command's window
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import db as cdb

EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/bmp": "bmp",
       "image/tiff": "tif"}
SOURCE_REPO = "claim-edge-central"
PLATE_COLS = ["image", "region", "x", "y", "w", "h", "plate", "record", "model_value",
              "plate_reader"]
SETS = {
    "documents": ["image", "doc_type", "source_repo", "source_path", "note"],
    "not_claim": ["image", "source_repo", "source_path"],
    "vehicles": ["image", "view", "source_repo", "source_path"],
    "damage_severity": ["image", "split", "severity"],
}


class ExportError(Exception):
    pass


@dataclass
class ExportReport:
    out: Path
    corrections: int = 0
    decisions: int = 0
    per_set: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)   # why a correction made no sample


def parse_since(text: str | None) -> dt.datetime | None:
    """``2026-12-01``, ``2026-12-01T08:00``, or ``7d`` (days back from now); None = all."""
    if not text:
        return None
    t = text.strip()
    if t.endswith("d") and t[:-1].isdigit():
        return cdb.utcnow() - dt.timedelta(days=int(t[:-1]))
    try:
        v = dt.datetime.fromisoformat(t)
    except ValueError:
        raise ExportError(f"--since {text!r}: give a date (2026-12-01), a date and time "
                          "(2026-12-01T08:00) or a number of days back (7d)") from None
    return v.astimezone(dt.timezone.utc).replace(tzinfo=None) if v.tzinfo else v


def _plate_region(value: str) -> str:
    try:
        from edge.plates import normalize_plate
        pattern = normalize_plate(value, "").pattern
    except Exception:  # noqa: BLE001 - the region is a hint for the toolkit, never required
        return ""
    return "br" if pattern == "BR" else "eu" if pattern.startswith("EU") else \
        "us" if pattern == "US" else ""


class Exporter:
    def __init__(self, blobs: str | os.PathLike, out: str | os.PathLike):
        self.blobs = Path(blobs)
        self.out = Path(out)
        self.rows: dict[str, list[dict]] = {}
        self._placed: set[tuple[str, str]] = set()

    def _image(self, rec: cdb.Record, folder: str) -> str | None:
        """The record's photo under ``<folder>/images/``; its path relative to the set."""
        im = cdb.RecordImage.select().where(cdb.RecordImage.record == rec.uuid).first()
        blob = cdb.Blob.get_or_none(cdb.Blob.sha256 == im.sha256) if im else None
        if blob is None or not (self.blobs / blob.path).is_file():
            return None
        rel = f"images/{im.sha256}.{EXT.get(im.mime or '', 'jpg')}"
        dest = self.out / folder / rel
        if (folder, rel) not in self._placed and not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(self.blobs / blob.path, dest)
            except OSError:
                shutil.copyfile(self.blobs / blob.path, dest)
        self._placed.add((folder, rel))
        return rel

    def add(self, set_name: str, row: dict) -> None:
        self.rows.setdefault(set_name, []).append(row)

    def write(self, name: str, cols: list[str], rows: list[dict]) -> None:
        path = self.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)


def _models(rec: cdb.Record) -> list[dict]:
    return [{"kind": m.kind, "name": m.name, "version": m.version, "sha256": m.sha256}
            for m in cdb.RecordModel.select().where(cdb.RecordModel.record == rec.uuid)
            .order_by(cdb.RecordModel.id)]


def _plate_box(payload: dict) -> list[float] | None:
    dets = [d for d in ((payload.get("result") or {}).get("detections") or [])
            if d.get("label") == "plate"]
    if not dets:
        return None
    return max(dets, key=lambda d: d.get("score", 0))["box"]


def export_labels(db_url: str, blobs: str | os.PathLike, out: str | os.PathLike,
                  since: dt.datetime | None = None, progress=None) -> ExportReport:
    """Write the data set; the database is only read."""
    cdb.open_database(db_url)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out}: exists and is not empty (export into a new folder)")
    ex = Exporter(blobs, out)
    rep = ExportReport(out)
    when = pw_coalesce()
    q = cdb.Record.select().where(cdb.Record.rev > 0)
    if since is not None:
        q = q.where(when >= since)
    corrections = []
    for rec in q.order_by(when, cdb.Record.uuid).iterator():
        payload = json.loads(rec.payload)
        fields = list(cdb.KeyField.select().where(cdb.KeyField.record == rec.uuid)
                      .order_by(cdb.KeyField.idx))
        models = _models(rec)
        for name in dict.fromkeys(f.name for f in fields if f.source == "operator"):
            mine = [f for f in fields if f.name == name]
            op = [f for f in mine if f.source == "operator"][-1]
            model = next((f for f in mine if f.source != "operator"), None)
            image = ex._image(rec, ".")
            if image is None:
                rep.skipped.append(f"{rec.uuid} {name}: photo not in the blob store")
                continue
            row = {"image": image, "record": rec.uuid, "device": rec.device, "claim": rec.claim,
                   "field": name, "model_value": model.value if model else "",
                   "model_confidence": model.confidence if model else "",
                   "operator_value": op.value, "valid": op.valid,
                   "corrected_at": (rec.revised_at or rec.received_at).isoformat(),
                   "models": json.dumps(models, sort_keys=True)}
            corrections.append(row)
            if name == "plate":
                box = _plate_box(payload)
                if box is None:
                    rep.skipped.append(f"{rec.uuid} plate: no plate box on the photo")
                    continue
                reader = next((f"{m['name']} {m['version']}" for m in models
                               if m["kind"] == "plate_reader"), "")
                ex.add("plate_photos", {
                    "image": ex._image(rec, "plate_photos"), "region": _plate_region(op.value),
                    **{k: int(round(v)) for k, v in zip("xywh", box)}, "plate": op.value,
                    "record": rec.uuid, "model_value": row["model_value"],
                    "plate_reader": reader})
        if progress:
            progress(rec.uuid)
    rep.corrections = len(corrections)
    ex.write("corrections.csv", ["image", "record", "device", "claim", "field", "model_value",
                                 "model_confidence", "operator_value", "valid", "corrected_at",
                                 "models"], corrections)

    decisions = []
    dq = cdb.ReviewDecision.select(cdb.ReviewDecision, cdb.Record).join(cdb.Record)
    if since is not None:
        dq = dq.where(cdb.ReviewDecision.decided_at >= since)
    for d in dq.order_by(cdb.ReviewDecision.decided_at, cdb.ReviewDecision.id).iterator():
        rec = d.record
        image = ex._image(rec, ".")
        if image is None:
            rep.skipped.append(f"{rec.uuid} {d.head}: photo not in the blob store")
            continue
        decisions.append({"image": image, "record": rec.uuid, "device": rec.device,
                          "claim": rec.claim, "head": d.head, "model_label": d.model_label or "",
                          "label": d.label, "decided_by": d.decided_by,
                          "decided_at": d.decided_at.isoformat(), "note": d.note or "",
                          "models": json.dumps(_models(rec), sort_keys=True)})
        note = f"device {rec.device}; model said {d.model_label or '-'}; decided by {d.decided_by}"
        if d.head == "document":
            ex.add("documents", {"image": ex._image(rec, "documents"), "doc_type": d.label,
                                 "source_repo": SOURCE_REPO, "source_path": rec.uuid,
                                 "note": note})
        elif d.head == "category" and d.label == "other":
            ex.add("not_claim", {"image": ex._image(rec, "not_claim"),
                                 "source_repo": SOURCE_REPO, "source_path": rec.uuid})
        elif d.head == "category" and d.label == "vehicle":
            ex.add("vehicles", {"image": ex._image(rec, "vehicles"), "view": "",
                                "source_repo": SOURCE_REPO, "source_path": rec.uuid})
        elif d.head == "damage" and d.label in ("minor", "moderate", "severe"):
            ex.add("damage_severity", {"image": ex._image(rec, "damage_severity"),
                                       "split": "train", "severity": d.label})
    rep.decisions = len(decisions)
    ex.write("review.csv", ["image", "record", "device", "claim", "head", "model_label", "label",
                            "decided_by", "decided_at", "note", "models"], decisions)
    for name, rows in ex.rows.items():
        ex.write(f"{name}/labels.csv", PLATE_COLS if name == "plate_photos" else SETS[name], rows)
        rep.per_set[name] = len(rows)
    (out / "export.json").write_text(json.dumps({
        "generated_at": cdb.utcnow().isoformat(timespec="seconds"),
        "since": since.isoformat() if since else None, "corrections": rep.corrections,
        "decisions": rep.decisions, "sets": rep.per_set, "skipped": rep.skipped,
        "source_repo": SOURCE_REPO}, indent=1) + "\n")
    return rep


def pw_coalesce():
    import peewee as pw
    return pw.fn.COALESCE(cdb.Record.revised_at, cdb.Record.received_at)
