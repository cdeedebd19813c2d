"""tests/aarch64/compare.py: what counts as the same analysis on arm64 as on x86-64."""

import importlib.util
import json
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "compare", Path(__file__).parent / "aarch64" / "compare.py")
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)


def _row(dets, score=0.9):
    return {"image": "a.jpg", "ok": True, "category": {"label": "vehicle", "score": score},
            "scenarios": ["vehicle_identification"], "detections": dets}


def _run(tmp_path, a, b, capsys):
    pa, pb = tmp_path / "x86.jsonl", tmp_path / "arm.jsonl"
    pa.write_text(json.dumps(a) + "\n")
    pb.write_text(json.dumps(b) + "\n")
    rc = compare.main([str(pa), str(pb)])
    return rc, capsys.readouterr().out


def test_rounding_differences_are_the_same_analysis(tmp_path, capsys):
    plate = {"label": "plate", "score": 0.71, "box": [100, 100, 200, 50]}
    moved = dict(plate, score=0.72, box=[102, 101, 199, 50])
    rc, out = _run(tmp_path, _row([plate]), _row([moved], 0.905), capsys)
    assert rc == 0 and "same a.jpg" in out


def test_a_weak_detection_may_move_a_confident_one_may_not(tmp_path, capsys):
    weak = {"label": "damage", "score": 0.40, "box": [0, 0, 100, 100]}
    weak_elsewhere = dict(weak, score=0.45, box=[60, 60, 100, 100])
    assert _run(tmp_path, _row([weak]), _row([weak_elsewhere]), capsys)[0] == 0
    strong = dict(weak, score=0.80)
    rc, out = _run(tmp_path, _row([strong]), _row([dict(strong, box=[60, 60, 100, 100])]), capsys)
    assert rc == 1 and "best overlap on the other side IoU" in out


def test_another_label_or_score_beyond_tolerance_differs(tmp_path, capsys):
    assert _run(tmp_path, _row([]), _row([], 0.95), capsys)[0] == 1
    other = _row([])
    other["category"]["label"] = "damage"
    assert _run(tmp_path, _row([]), other, capsys)[0] == 1
