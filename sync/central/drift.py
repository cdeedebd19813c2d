"""``claim-edge central report``: drift per device and per model version, so a fleet operator
sees a device or a model going wrong. For every (device, model kind/name/version, period):
photos, the mix of categories, the share of photos sent to review, and the mean confidence of
that model's own output (classifier: category score; detector and box refiner: detection score;
plate reader: the plate it read; document classifier: the document type; OCR: the text lines).
The database is only read."""

from __future__ import annotations

import collections
import datetime as dt
import json
from dataclasses import asdict, dataclass, field

from . import db as cdb

BUCKETS = ("day", "week", "month", "all")


@dataclass
class Row:
    device: str
    kind: str
    name: str
    version: str
    period: str
    photos: int = 0
    review: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    confidence_sum: float = 0.0
    confidence_n: int = 0

    @property
    def review_share(self) -> float:
        return self.review / self.photos if self.photos else 0.0

    @property
    def mean_confidence(self) -> float | None:
        return self.confidence_sum / self.confidence_n if self.confidence_n else None

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("confidence_sum")
        d.pop("confidence_n")
        d["review_share"] = round(self.review_share, 4)
        d["mean_confidence"] = None if self.mean_confidence is None else \
            round(self.mean_confidence, 4)
        d["category_share"] = {k: round(v / self.photos, 4) for k, v in
                               sorted(self.categories.items())}
        return d


def period_of(when: str | dt.datetime | None, bucket: str) -> str:
    if bucket == "all" or not when:
        return "all"
    t = when if isinstance(when, dt.datetime) else dt.datetime.fromisoformat(str(when))
    if bucket == "day":
        return t.strftime("%Y-%m-%d")
    if bucket == "week":
        y, w, _ = t.isocalendar()
        return f"{y}-W{w:02d}"
    return t.strftime("%Y-%m")


def _confidence(kind: str, result: dict) -> list[float]:
    """The scores of this model's own output on one photo."""
    if kind == "classifier":
        c = result.get("category") or {}
        return [c["score"]] if "score" in c else []
    if kind in ("detector", "box_refiner"):
        return [d["score"] for d in result.get("detections") or () if "score" in d]
    if kind == "plate_reader":
        p = (result.get("fields") or {}).get("plate") or {}
        return [p["confidence"]] if "confidence" in p else []
    if kind == "document":
        d = result.get("document") or {}
        return [d["score"]] if "score" in d else []
    if kind.startswith("ocr"):
        return [t["score"] for t in result.get("text") or () if "score" in t]
    return []


def drift(db_url: str, since: dt.datetime | None = None, bucket: str = "day",
          device: str | None = None) -> list[Row]:
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {BUCKETS}, got {bucket!r}")
    cdb.open_database(db_url)
    review = {r for (r,) in cdb.ScenarioZone.select(cdb.ScenarioZone.record)
              .where(cdb.ScenarioZone.scenario == "review").tuples()}
    q = cdb.Record.select(cdb.Record.uuid, cdb.Record.device, cdb.Record.category,
                          cdb.Record.captured_at, cdb.Record.received_at, cdb.Record.payload)
    if since is not None:
        q = q.where(cdb.Record.received_at >= since)
    if device:
        q = q.where(cdb.Record.device == device)
    rows: dict[tuple, Row] = {}
    for uuid, dev, category, captured, received, payload in q.tuples().iterator():
        rec = json.loads(payload)
        result = rec.get("result") or {}
        period = period_of(captured or received, bucket)
        for m in cdb.record_models(rec):
            key = (dev, m.get("kind") or "", m["name"], str(m.get("version") or ""), period)
            row = rows.get(key) or rows.setdefault(key, Row(*key))
            row.photos += 1
            row.review += uuid in review
            cat = category or "none"
            row.categories[cat] = row.categories.get(cat, 0) + 1
            conf = _confidence(key[1], result)
            row.confidence_sum += sum(conf)
            row.confidence_n += len(conf)
    return [rows[k] for k in sorted(rows)]


def to_json(rows: list[Row], since: dt.datetime | None, bucket: str) -> str:
    return json.dumps({"since": since.isoformat() if since else None, "bucket": bucket,
                       "rows": [r.as_dict() for r in rows]}, indent=1)


def to_text(rows: list[Row]) -> str:
    if not rows:
        return "no records in the window"
    out = []
    by_device = collections.defaultdict(list)
    for r in rows:
        by_device[r.device].append(r)
    for dev, rs in by_device.items():
        out.append(f"device {dev}")
        last = None
        for r in rs:
            model = (r.kind, r.name, r.version)
            if model != last:
                out.append(f"  {r.kind} {r.name} {r.version}")
                last = model
            conf = "-" if r.mean_confidence is None else f"{r.mean_confidence:.3f}"
            mix = " ".join(f"{k} {v / r.photos:.0%}" for k, v in
                           sorted(r.categories.items(), key=lambda kv: -kv[1]))
            out.append(f"    {r.period:<10} photos {r.photos:>5}  review {r.review_share:6.1%}"
                       f"  confidence {conf:>5}  {mix}")
    return "\n".join(out)
