"""The shipped detector bundle through the runtime: output contract, zoom second pass, pipeline
stage (timings, fail-soft), on generated photos."""

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.bundle import load_bundle
from edge.config import load_profile
from edge.detect import DetectStage, DetectTimings, Detector, PlateStage, detect_photo
from edge.samples import plate_closeup, street_scene

BUNDLE = Path(__file__).resolve().parent.parent / "models" / "detector"
LABELS = {"plate", "vin", "damage", "text_block"}


@pytest.fixture(scope="module")
def detector():
    return Detector(load_bundle(BUNDLE), threads=2)


def _photo(text="XYZ1234"):
    big = street_scene(1600, 1200, seed=4)
    plate = cv2.resize(plate_closeup(text, 960, 540, seed=4)[160:380, 120:840], (300, 92))
    big[900:992, 650:950] = plate
    return big


def test_manifest_describes_levels_and_labels(detector):
    b = detector.bundle
    assert b.kind == "detector" and b.provenance == "trained"
    assert set(detector.labels) == LABELS
    assert [s for s, _, _ in detector.levels] == sorted(s for s, _, _ in detector.levels)
    for _, c, bx in detector.levels:
        assert c in b.outputs and bx in b.outputs


def test_detections_are_in_original_pixels(detector):
    img = _photo()
    small = cv2.resize(img, (800, 600), interpolation=cv2.INTER_AREA)
    cfg = replace(load_profile("kiosk-x86").detect, score_threshold=0.05)
    t = DetectTimings()
    dets = detect_photo(detector, small, lambda: img, 1600, 1200, cfg, timings=t)
    assert t.first_ms > 0
    for d in dets:
        x, y, w, h = d.box
        assert d.label in LABELS and 0.0 <= d.score <= 1.0
        assert 0 <= x and 0 <= y and x + w <= 1600 + 1e-3 and y + h <= 1200 + 1e-3 and w > 0
    # the same photo at another reduced scale gives boxes in the same original-pixel frame
    small2 = cv2.resize(img, (400, 300), interpolation=cv2.INTER_AREA)
    dets2 = detect_photo(detector, small2, lambda: img, 1600, 1200, cfg, zoom=False)
    assert all(0 <= d.box[0] <= 1600 for d in dets2)


def test_zoom_pass_marks_and_replaces_small_boxes(detector):
    img = _photo()
    small = cv2.resize(img, (800, 600), interpolation=cv2.INTER_AREA)
    cfg = replace(load_profile("kiosk-x86").detect, score_threshold=0.05,
                  zoom_min_side_px=10_000, zoom_max_boxes=2)   # every box is "small"
    t = DetectTimings()
    dets = detect_photo(detector, small, lambda: img, 1600, 1200, cfg, timings=t)
    assert 1 <= t.zooms <= 2 and t.zoom_ms > 0
    plates = [d for d in dets if d.label == "plate"]
    assert plates and plates[0].zoomed      # the best plate: its box came from the second pass
    off = detect_photo(detector, small, lambda: img, 1600, 1200, cfg, zoom=False)
    assert not any(d.zoomed for d in off)


def test_pipeline_runs_detection_stage(tmp_path, profile_path):
    from edge.pipeline import Pipeline
    p = tmp_path / "photo.jpg"
    cv2.imwrite(str(p), _photo("PLT2024"))
    prof = load_profile(str(profile_path))
    cfg = replace(prof.detect, detector=str(BUNDLE), plate_region="br")
    pipe = Pipeline(prof, stages=[DetectStage(cfg), PlateStage(cfg)])
    r, _ = pipe.analyze(str(p))
    assert r.ok and "detect" in r.timings_ms and "plates" in r.timings_ms
    out = r.to_contract()
    assert out["detections"]
    for d in out["detections"]:
        assert d["label"] in LABELS and len(d["box"]) == 4 and isinstance(d["zoomed"], bool)
    assert out["fields"]["plate"]["value"] == "PLT2024" and out["fields"]["plate"]["valid"]


def test_generated_plate_in_a_wide_photo_is_found_by_the_zoom_pass(detector):
    from edge.detect import iou_xywh
    img = _photo("ABC1D23")
    small = cv2.resize(img, (800, 600), interpolation=cv2.INTER_AREA)
    cfg = load_profile("kiosk-x86").detect
    dets = detect_photo(detector, small, lambda: img, 1600, 1200, cfg)
    plates = [d for d in dets if d.label == "plate"]
    assert plates and plates[0].zoomed                     # 92 px high: under zoom_min_side_px
    assert iou_xywh(plates[0].box, (650, 900, 300, 92)) >= 0.5
    # a scene without plate or text: nothing invented
    street = street_scene(1280, 720, seed=2)
    assert not [d for d in detect_photo(detector, street, lambda: street, 1280, 720, cfg)
                if d.label == "plate"]


def test_a_far_plate_in_a_12mp_photo_is_confirmed_without_a_further_decode(detector):
    """A plate 5% of a 12 MP photo's width is a weak candidate in the first pass; its zoom is cut
    from the reduced decode already made (a further 12 MP decode, even at half size, costs more
    than the rest of a photo without text), and still finds the plate."""
    from edge.decode import decode_bytes
    from edge.detect import iou_xywh
    from edge.samples import jpeg_bytes
    big = cv2.resize(street_scene(1280, 720, seed=5), (4032, 3024))
    plate = cv2.resize(plate_closeup("ZOM1234", 640, 360, seed=3)[124:236, 90:550], (200, 48))
    big[2300:2348, 1800:2000] = plate
    dec = decode_bytes(jpeg_bytes(big, quality=90), "far.jpg", max_pixels=50_000_000,
                       classify_side=640)
    cfg = load_profile("kiosk-x86").detect
    t = DetectTimings()
    plates = [d for d in detect_photo(detector, dec.small, dec.full, dec.width, dec.height, cfg,
                                      timings=t, crop=dec.crop) if d.label == "plate"]
    assert plates and plates[0].zoomed and iou_xywh(plates[0].box, (1800, 2300, 200, 48)) >= 0.5
    assert t.zooms >= 1 and dec._full is None and dec._half is None


def test_a_wide_shot_is_tiled_for_a_distant_plate_only_where_the_profile_says(detector):
    """A car's plate is found; a second car's plate 64 px wide at the top of a 1600 px photo is
    not, until the profile tiles vehicle photos that found something (``wide_tile_categories``).
    The near plate keeps its box, and other categories are not tiled."""
    from edge.detect import iou_xywh
    img = street_scene(1600, 1200, seed=2)
    img[900:992, 650:950] = cv2.resize(plate_closeup("XYZ1234", 960, 540, seed=4)[160:380, 120:840],
                                       (300, 92))
    img[300:319, 1200:1264] = cv2.resize(plate_closeup("FAR5678", 640, 360, seed=3)[124:236, 90:550],
                                         (64, 19), interpolation=cv2.INTER_AREA)
    small = cv2.resize(img, (800, 600), interpolation=cv2.INTER_AREA)
    base = load_profile("kiosk-x86").detect
    wide = replace(base, wide_tile_categories=["vehicle"])
    near, far = (650, 900, 300, 92), (1200, 300, 64, 19)

    def plates(cfg, category="vehicle"):
        t = DetectTimings()
        found = [d for d in detect_photo(detector, small, lambda: img, 1600, 1200, cfg,
                                         category=category, timings=t) if d.label == "plate"]
        return found, t.tiles

    got, tiled = plates(base)
    assert tiled == 0 and not [d for d in got if iou_xywh(d.box, far) >= 0.5]
    got_wide, tiled = plates(wide)
    assert tiled == 4 and [d for d in got_wide if iou_xywh(d.box, far) >= 0.5]
    assert [d.box for d in got_wide if iou_xywh(d.box, near) >= 0.5] == \
        [d.box for d in got if iou_xywh(d.box, near) >= 0.5]
    assert plates(wide, category="document")[1] == 0
    assert plates(replace(wide, wide_tile_grid=3))[1] == 9
