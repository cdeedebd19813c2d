"""A leave-one-source-out detector head runs on the int8 trunk it was trained on, or not at all:
another export of the detector re-quantizes the frozen trunk, and a head measured on it would
quietly report another model's figures."""
from pathlib import Path

import numpy as np
import pytest

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "detector" / "model.tflite"


@pytest.fixture
def head_file(tmp_path):
    torch = pytest.importorskip("torch", reason="detector heads need the extra 'train'")
    from models.toolkit.detector.net import Head
    torch.manual_seed(0)
    path = tmp_path / "head.pt"
    torch.save(Head().state_dict(), path)
    return path


def test_a_head_recorded_on_another_trunk_is_refused_with_what_to_do(head_file):
    from models.toolkit.detector.trunk import HeadDetector, trunk_record
    trunk_record(head_file).write_text("0badc0de /elsewhere/model.tflite\n", encoding="utf-8")
    with pytest.raises(ValueError) as e:
        HeadDetector(str(head_file), str(SHIPPED), threads=1)
    assert "0badc0de" in str(e.value) and "--model" in str(e.value)


def test_a_head_on_its_own_trunk_detects(head_file):
    from models.toolkit.detector.trunk import HeadDetector, Int8Trunk, record_trunk
    record_trunk(head_file, Int8Trunk(str(SHIPPED), threads=1))   # as detector train does
    det = HeadDetector(str(head_file), str(SHIPPED), threads=1)
    img = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    found = det.run_bgr(img, (100.0, 50.0, 320.0, 240.0), 0.0, 0.5, max_out=5)
    assert len(found) == 5      # an untrained head scores every cell: the best five are kept
    for d in found:             # in the original photo's pixels, with the detector's labels
        x, y, w, h = d.box
        assert d.label in det.labels
        assert 100 <= x + w / 2 <= 420 and 50 <= y + h / 2 <= 290


def test_eval_plates_stops_on_a_mismatched_head_instead_of_skipping(head_file, tmp_path):
    from edge.cli import main
    from models.toolkit.detector.trunk import trunk_record
    trunk_record(head_file).write_text("0badc0de x\n", encoding="utf-8")
    (tmp_path / "data").mkdir()
    with pytest.raises(SystemExit) as e:
        main(["eval", "plates", str(tmp_path / "data"), "--head", str(head_file),
              "--skip-crops", "--threads", "1"])
    assert "0badc0de" in str(e.value.code)


def test_the_trunk_a_run_trains_on_is_named_the_way_detector_train_reads_it(tmp_path):
    from models.toolkit.detector.trunk import trunk_graph
    assert trunk_graph("int8") == SHIPPED
    assert trunk_graph(str(tmp_path)) == tmp_path / "model.tflite"      # a bundle folder
    assert trunk_graph(str(tmp_path / "x.tflite")) == tmp_path / "x.tflite"
    assert trunk_graph("float") is None                                 # PyTorch's trunk
