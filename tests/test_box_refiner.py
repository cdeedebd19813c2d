"""The shipped box refiner through the runtime (edge/detect/refine.py): its geometry, and VIN boxes
moved back onto a generated VIN line the way the detector misplaces them."""

from pathlib import Path

import numpy as np
import pytest

from edge.bundle import BundleError, load_bundle
from edge.detect import refine_detections
from edge.detect.refine import BoxRefiner, box_of, edges_of, region_around
from edge.result import Detection
from edge.samples import vin_sticker

MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.fixture(scope="module")
def refiner():
    return BoxRefiner(load_bundle(MODELS / "box-refiner"), threads=2)


def test_edges_and_boxes_are_inverse_and_the_region_is_centred():
    box = (40.0, 100.0, 180.0, 14.0)
    region = region_around(box)
    assert region[0] + region[2] / 2 == pytest.approx(130.0)
    assert region[1] + region[3] / 2 == pytest.approx(107.0)
    assert region[2] > box[2] and region[3] > box[3]
    e = edges_of(box, region)
    assert 0 < e[0] < e[1] < 1 and 0 < e[2] < e[3] < 1
    assert box_of(e, region) == pytest.approx(box, abs=1e-3)


def test_the_shipped_bundle_is_a_trained_vin_refiner(refiner):
    b = refiner.bundle
    assert b.kind == "box_refiner" and b.provenance == "trained"
    assert refiner.labels == ["vin"] and refiner.iterations >= 1
    with pytest.raises(BundleError, match="a box refiner is needed"):
        BoxRefiner(load_bundle(MODELS / "detector"))


def test_the_shipped_refiner_places_a_vins_edges_to_the_pixel(refiner):
    """Its int8 edges have a scale of their own, not one set by the quality logit's range: one
    step moves an edge of a 12 px high, 100 px long VIN line by under 1 px up or down and under
    3 px along it (1.1.0, one shared output: 1.7 px and 6.7 px)."""
    step = refiner.model.outputs["edges"].scale
    _, _, region_w, region_h = region_around((0.0, 0.0, 100.0, 12.0))
    assert 0 < step * region_h < 1.0 and step * region_w < 3.0, step


def test_a_bundle_whose_model_lacks_an_output_its_manifest_names_is_refused(tmp_path):
    import json
    import shutil
    copy = tmp_path / "box-refiner"
    shutil.copytree(MODELS / "box-refiner", copy)
    m = json.loads((copy / "manifest.json").read_text())
    m["outputs"]["sharpness"] = {"type": "raw"}
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="no output sharpness"):
        BoxRefiner(load_bundle(copy))


def on_the_line(box, ink) -> bool:
    """Centred on the VIN line's ink, covering most of its length, and about as tall as a
    labelled VIN box (the training labels leave a margin around the characters)."""
    x, y, w, h = box
    ix, iy, iw, ih = ink
    cover = max(0.0, min(x + w, ix + iw) - max(x, ix)) / iw
    return iy <= y + h / 2 <= iy + ih and cover >= 0.85 and 0.8 <= h / ih <= 2.6


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shift", [
    (0.0, 0.9, 1.0, 1.0),    # most of a line too low
    (0.0, -0.6, 1.0, 3.5),   # three lines tall, centred above the VIN
    (-0.3, 0.0, 0.6, 1.0),   # the first half of the line only
])
def test_a_misplaced_vin_box_is_moved_onto_the_line(refiner, seed, shift):
    text = "".join(np.random.default_rng(seed).choice(list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"),
                                                       17))
    img, ink = vin_sticker(text, seed=seed)
    x, y, w, h = ink
    dx, dy, sw, sh = shift
    off = (x + dx * w + (1 - sw) * w / 2, y + dy * h + (1 - sh) * h / 2, w * sw, h * sh)
    assert not on_the_line(off, ink)
    after = refiner.refine_bgr(img, off)
    assert on_the_line(after.box, ink), after
    assert 0.0 <= after.quality <= 1.0


def test_only_the_refined_labels_move_and_boxes_stay_in_original_pixels(refiner):
    img, ink = vin_sticker("2T1BURHE0JC123456", seed=5)  # the 256 px decode of a 1024 px photo
    ink4 = tuple(4 * v for v in ink)
    x, y, w, h = ink4
    off_vin = (x, y + 0.9 * h, w, h)
    plate = (100.0, 800.0, 200.0, 60.0)
    dets = [Detection("vin", off_vin, 0.6), Detection("plate", plate, 0.9, zoomed=True)]
    out = refine_detections(refiner, img, 1024, 1024, dets, ["vin"])
    assert out[1] == dets[1]
    assert out[0].label == "vin" and out[0].score == 0.6
    assert on_the_line(out[0].box, ink4) and not on_the_line(off_vin, ink4)


def _stage_run(cfg, img):
    from types import SimpleNamespace
    from edge.detect import DetectStage
    from edge.result import PhotoResult
    stage = DetectStage(cfg)
    ctx = SimpleNamespace(result=PhotoResult(image="vin", width=img.shape[1],
                                             height=img.shape[0]),
                          decoded=SimpleNamespace(small=img, full=lambda: img), notes={})
    stage.run(ctx)
    stage.models = ctx.result.models
    return stage, ctx.result.detections


def test_the_detect_stage_finds_a_generated_vin_line_through_the_refiner():
    from edge.config import load_profile
    img, ink = vin_sticker("1HGCM82633A004352", seed=3)
    stage, dets = _stage_run(load_profile("kiosk-x86").detect, img)
    vins = [d for d in dets if d.label == "vin"]
    assert vins and on_the_line(vins[0].box, ink)
    assert stage.last.refined >= 1 and stage.last.refine_ms > 0
    assert [m["name"] for m in stage.models] == ["detector", "box-refiner"]  # result's models


def test_a_missing_refiner_bundle_leaves_detection_on(caplog):
    from dataclasses import replace
    from edge.config import load_profile
    img, _ = vin_sticker(seed=1)
    cfg = replace(load_profile("kiosk-x86").detect, box_refiner="no-such-refiner")
    with caplog.at_level("WARNING"):
        stage, _ = _stage_run(cfg, img)
        _stage_run(cfg, img)
    assert stage.last.refined == 0 and stage.last.first_ms > 0
    assert "box refinement off" in caplog.text and "no-such-refiner" in caplog.text
