"""Generated device data for the sync tests, the benchmark and the soak: photos with random
(incompressible) PNG images filed through the real device store API (``Store.add_photo``)."""

from __future__ import annotations

import hashlib
import math

import numpy as np


def make_profile(device_id: str):
    from edge.config import DeviceConfig, Profile
    return Profile(device=DeviceConfig(id=device_id), retention_days={"damage_assessment": 30})


def random_png(target_bytes: int, rng: np.random.Generator) -> tuple[bytes, int, int]:
    """An incompressible PNG of about ``target_bytes``; (bytes, width, height)."""
    import cv2
    side = max(8, int(math.sqrt(max(target_bytes, 192) / 3)))
    arr = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, 0])
    assert ok
    return buf.tobytes(), side, side


def add_photos(store, device_id: str, n: int, size: int = 20_000, claim: str = "CLM-1",
               seed: int = 0, text_bytes: int = 0) -> list[str]:
    """File ``n`` photos in ``claim``; returns their record uuids."""
    from edge.decode import DecodedImage, Exif
    from edge.result import FieldValue, HeadResult, PhotoResult, TextLine, Verification

    profile = make_profile(device_id)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        data, w, h = random_png(size, rng)
        sha = hashlib.sha256(data).hexdigest()
        dec = DecodedImage(path=f"gen/{seed}-{i}.png", data=data, sha256=sha, format="png",
                           width=w, height=h, exif=Exif(), small=np.zeros((8, 8, 3), np.uint8))
        text = [TextLine(box=((0.0, 0.0), (10.0, 0.0), (10.0, 5.0), (0.0, 5.0)),
                         text="ABC1234", score=0.93)]
        if text_bytes:
            text.append(TextLine(box=((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)),
                                 text="X" * text_bytes, score=0.5))
        res = PhotoResult(image=dec.path, sha256=sha, width=w, height=h,
                          category=HeadResult("plate", 0.97),
                          verification=Verification(True, 0.83),
                          heads={"damage": HeadResult("none", 0.9),
                                 "view": HeadResult("rear", 0.6)},
                          routing=[("vehicle_identification", "category:plate")],
                          text=text,
                          fields={"plate": FieldValue("ABC1234", 0.95, True)})
        out.append(store.add_photo(claim, dec, res, profile).photo_uuid)
    return out


def add_photos_bulk(store, device_id: str, n: int, size: int = 300, claim: str = "CLM-BULK",
                    seed: int = 0) -> list[str]:
    """Like :func:`add_photos` for thousands of records: rows through the peewee models in one
    transaction and image files written without a per-file fsync (test data only)."""
    import json
    import uuid as uuidlib

    from edge.store.files import relpath_for
    from edge.store.schema import (Claim, Device, Image, KeyField, Label, Outbox, Photo,
                                   ScenarioAssignment, TextLine)

    rng = np.random.default_rng(seed)
    images, photos, labels, scen, fields, texts, outbox, out = [], [], [], [], [], [], [], []
    for i in range(n):
        data, w, h = random_png(size, rng)
        sha = hashlib.sha256(data).hexdigest()
        rel = relpath_for(sha, ".png")
        p = store.images / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        u = uuidlib.uuid4()
        out.append(str(u))
        images.append(dict(sha256=sha, path=rel, size=len(data), mime="image/png", width=w,
                           height=h))
        photos.append(dict(uuid=u, claim=claim, image=sha, source_path=f"gen/{i}.png",
                           width=w, height=h, quality_ok=True, category="damage", verified=True,
                           result_json=json.dumps({"image": f"gen/{i}.png", "ok": True,
                                                   "sha256": sha})))
        labels.append(dict(photo=u, head="category", label="damage", score=0.9, verified=True,
                           similarity=0.8))
        scen.append(dict(photo=u, scenario="damage_assessment", reason="category:damage"))
        fields.append(dict(photo=u, name="plate", value=f"P{i:05d}", confidence=0.9, valid=True,
                           source="ocr"))
        texts.append(dict(photo=u, idx=0, text=f"P{i:05d}", score=0.9, box="[[0,0],[1,0],[1,1],[0,1]]"))
        outbox.append(dict(record_uuid=u, claim=claim))
    with store.db.atomic():
        Device.insert(id=device_id, profile="test").on_conflict_ignore().execute()
        Claim.insert(id=claim, device=device_id).on_conflict_ignore().execute()
        for rows, model in ((images, Image), (photos, Photo), (labels, Label),
                            (scen, ScenarioAssignment), (fields, KeyField), (texts, TextLine),
                            (outbox, Outbox)):
            for j in range(0, len(rows), 500):
                q = model.insert_many(rows[j:j + 500])
                if model is Image:
                    q = q.on_conflict_ignore()
                q.execute()
    return out
