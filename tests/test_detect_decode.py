"""Detector output decoding, NMS and the zoom rules, on constructed cases (no model needed)."""

import numpy as np
import pytest

from edge.config import DetectConfig
from edge.detect import (DetectStage, clip_box, decode_level, iou_xywh, needs_zoom, nms,
                         pick_second_pass, tiles, to_original, zoom_crop)
from edge.result import Detection


def _level(n=4, c=4):
    cls = np.full((1, n, n, c), -10.0, np.float32)
    box = np.zeros((1, n, n, 4), np.float32)
    return cls, box


def test_decode_one_cell_gives_the_encoded_box():
    cls, box = _level()
    cls[0, 2, 1, 3] = 3.0                     # row 2, col 1, class 3
    box[0, 2, 1] = (0.25, -0.5, np.log(2.0), np.log(0.5))
    b, s, c = decode_level(cls, box, stride=16, score_threshold=0.5)
    assert len(b) == 1 and c[0] == 3
    assert s[0] == pytest.approx(1 / (1 + np.exp(-3.0)), rel=1e-5)
    cx, cy, w, h = (1 + 0.5 + 0.25) * 16, (2 + 0.5 - 0.5) * 16, 32.0, 8.0
    np.testing.assert_allclose(b[0], [cx - w / 2, cy - h / 2, w, h], rtol=1e-5)


def test_decode_threshold_and_empty():
    cls, box = _level()
    b, s, c = decode_level(cls, box, 8, 0.3)
    assert b.shape == (0, 4) and len(s) == 0 and len(c) == 0
    cls[0, 0, 0, 0] = 0.0                     # score 0.5
    assert len(decode_level(cls, box, 8, 0.49)[0]) == 1
    assert len(decode_level(cls, box, 8, 0.51)[0]) == 0


def test_nms_per_class_keeps_best_and_other_classes():
    boxes = np.array([[10, 10, 100, 50], [12, 11, 100, 50], [200, 200, 30, 30],
                      [11, 10, 100, 50]], np.float32)
    scores = np.array([0.6, 0.9, 0.8, 0.7], np.float32)
    classes = np.array([0, 0, 0, 1])
    keep = list(nms(boxes, scores, classes, iou=0.5))
    assert keep == [1, 2, 3]                  # 0 suppressed by 1; class 1 kept beside it
    assert list(nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0))) == []


def test_nms_iou_threshold():
    a = [0, 0, 100, 100]
    b = [50, 0, 100, 100]                     # IoU 1/3
    assert iou_xywh(a, b) == pytest.approx(1 / 3)
    boxes = np.array([a, b], np.float32)
    s = np.array([0.9, 0.8], np.float32)
    assert len(nms(boxes, s, np.zeros(2, int), iou=0.5)) == 2
    assert len(nms(boxes, s, np.zeros(2, int), iou=0.3)) == 1


def test_boxes_back_to_original_pixels():
    # a 320x320 input that was the region x=100..500 (400 wide), y=50..250 (200 high)
    out = to_original(np.array([[32, 64, 160, 32]], np.float32), 320, 320, (100, 50, 400, 200))
    np.testing.assert_allclose(out[0], [100 + 40, 50 + 40, 200, 20])
    assert clip_box((-10, 5, 50, 500), 100, 100) == (0.0, 5.0, 40.0, 95.0)


CFG = DetectConfig(zoom_min_side_px=96, zoom_max_fraction=0.05, zoom_margin=0.5,
                   zoom_labels=["plate", "vin"])


def test_zoom_rules_size_fraction_and_label():
    W, H = 4000, 3000
    assert needs_zoom((0, 0, 300, 60), W, H, "plate", CFG)         # short side 60 < 96
    assert not needs_zoom((0, 0, 3000, 2000), W, H, "plate", CFG)  # big
    # short side over 96 but area 0.0133 of the image < 0.05
    assert needs_zoom((0, 0, 400, 400), W, H, "vin", CFG)
    assert not needs_zoom((0, 0, 1200, 900), W, H, "vin", CFG)     # 0.09 of the image
    assert not needs_zoom((0, 0, 50, 50), W, H, "damage", CFG)     # label not zoomed


def test_zoom_crop_is_square_with_margin_and_inside_the_image():
    x, y, w, h = zoom_crop((1000, 1000, 200, 50), 4000, 3000, 0.5)
    assert (w, h) == (400, 400)               # longest side 200 + 2 * 0.5 * 200
    assert (x + w / 2, y + h / 2) == (1100, 1025)
    # near the corner: shifted inside, same size
    x, y, w, h = zoom_crop((3950, 2980, 40, 20), 4000, 3000, 0.5)
    assert (w, h) == (80, 80) and x + w <= 4000 and y + h <= 3000 and x >= 0 and y >= 0
    # larger than a small image: clipped to it
    x, y, w, h = zoom_crop((0, 0, 90, 20), 100, 60, 1.0)
    assert x >= 0 and y >= 0 and x + w <= 100 and y + h <= 60


def test_tiles_cover_the_image_with_overlap():
    ts = tiles(1000, 800, n=2, overlap=0.2)
    assert len(ts) == 4
    cover = np.zeros((800, 1000), bool)
    for x, y, w, h in ts:
        assert x >= 0 and y >= 0 and x + w <= 1000 + 1e-6 and y + h <= 800 + 1e-6
        cover[int(y):int(np.ceil(y + h)), int(x):int(np.ceil(x + w))] = True
    assert cover.all()
    assert ts[0][2] > 500                     # overlapping, not a plain split


def test_second_pass_picks_overlapping_best_or_none():
    first = (100, 100, 100, 30)
    cands = [Detection("plate", (105, 102, 95, 28), 0.7),
             Detection("text_block", (100, 100, 100, 30), 0.9),
             Detection("plate", (400, 400, 100, 30), 0.99)]       # elsewhere in the crop
    assert pick_second_pass(first, cands).label == "text_block"  # second pass decides the label
    assert pick_second_pass(first, cands[2:]) is None
    assert pick_second_pass(first, []) is None


class _Ctx:
    def __init__(self):
        from edge.result import PhotoResult
        self.result = PhotoResult(image="x.jpg", width=100, height=100)
        self.decoded = None
        self.notes = {}


def test_stage_without_bundle_fails_soft_and_invents_nothing(tmp_path, caplog):
    cfg = DetectConfig(detector=str(tmp_path / "no-such-bundle"))
    stage = DetectStage(cfg)
    for _ in range(3):
        ctx = _Ctx()
        stage.run(ctx)
        assert ctx.result.detections == [] and ctx.result.fields == {}
    assert sum("detection off" in r.message for r in caplog.records) == 1   # logged once
    off = DetectStage(DetectConfig(detector=""))
    ctx = _Ctx()
    off.run(ctx)
    assert ctx.result.detections == []


def test_no_zoom_when_the_crop_would_be_most_of_the_photo():
    # a VIN sticker box in a 256 px photo: small, but its zoom crop is the whole photo
    assert not needs_zoom((40, 100, 150, 14), 256, 256, "vin", CFG)
    assert needs_zoom((40, 100, 150, 14), 1280, 1280, "vin", CFG)


def test_full_and_half_decodes_are_opencvs_pixels_in_every_orientation():
    """The crops the zoom, plate and OCR stages read come from simplejpeg (half OpenCV's time
    on a 12 MP photo): the same pixels as OpenCV's decode, rotated by EXIF the same way."""
    import io

    from PIL import Image

    from edge.decode import _decode, decode_bytes
    from edge.samples import street_scene
    img = street_scene(641, 479)
    for orientation in (1, 3, 6, 8):
        pil = Image.fromarray(img[:, :, ::-1])
        exif = pil.getexif()
        exif[0x0112] = orientation
        buf = io.BytesIO()
        pil.save(buf, "JPEG", exif=exif, quality=90)
        d = decode_bytes(buf.getvalue(), "x.jpg", max_pixels=10**8, classify_side=100)
        for factor in (1, 2):
            assert np.array_equal(d._decode_at(factor),
                                  _decode(buf.getvalue(), factor, orientation))
