"""Further real sources kept outside ../shared/data: the recorded ones are well formed, a source
folder joins training and evaluation as a source of its own (one car never in two splits), a bad
labels file is refused by name, and a recorded source is rebuilt from its repository."""
import csv
import re
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.toolkit import extra_sources
from models.toolkit.classifier.data import EXTRA_COLUMNS, build_samples, index_extra
from models.toolkit.classifier.labels import CATEGORY


def _write_source(root: Path, name: str, rows, header=EXTRA_COLUMNS + ("source_repo", "commit", "source_path")):
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for r in rows:
        cv2.imwrite(str(d / r[0]), rng.integers(0, 255, (60, 90, 3), dtype=np.uint8))
    with open(d / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return d


def test_recorded_sources_are_well_formed():
    recs = extra_sources.records()
    assert {"thai_carparts", "fr_dealer_vw", "in_carsimg", "ar_fastplate"} <= set(recs)
    for name, p in recs.items():
        text = (p / "SOURCE.md").read_text()
        assert "Licence" in text and "Repository" in text, name
        with open(p / "labels.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert rows and all(len(r["commit"]) == 40 and r["source_path"] for r in rows), name
        if p.parent.parent.name == "claim-classifier":
            assert all(r["category"] in CATEGORY for r in rows)
            assert len({r["image"] for r in rows}) == len(rows)
        else:  # plates: a row per plate, its text the registration alone
            assert all(re.fullmatch(r"[A-Z0-9]{2,12}", r["plate"]) for r in rows), name
            assert all(r["region"] for r in rows), name


def test_an_extra_source_joins_as_its_own_source_split_by_group(tmp_path):
    from tests.test_train_e2e import make_data_dir
    data = make_data_dir(tmp_path / "data", per_set=4)
    # 12 photos of 3 cars, 4 sides each: a car's photos share one split
    rows = [(f"{i:04d}.jpg", "vehicle", "none", "", f"car{i // 4}", "r", "0" * 40, f"p{i}.jpg") for i in range(12)]
    _write_source(tmp_path / "extra", "dealer", rows)
    samples = build_samples(data, n_docs=2, n_other=2, n_ood=0, extra=[tmp_path / "extra"])
    mine = [s for s in samples if s["source"] == "dealer"]
    assert len(mine) == 12 and all(s["category"] == "vehicle" and s["damage"] == "none" for s in mine)
    for car in range(3):
        assert len({s["split"] for s in mine[car * 4:car * 4 + 4]}) == 1
    assert {"vehicles", "plate_scenes"} <= {s["source"] for s in samples}


def test_a_bad_extra_labels_file_is_refused_by_name(tmp_path):
    _write_source(tmp_path / "a", "cars", [("0001.jpg", "car", "none", "", "g", "r", "0" * 40, "x")])
    with pytest.raises(SystemExit, match=r"cars/labels.csv: 0001.jpg: category 'car'"):
        index_extra(tmp_path / "a")
    _write_source(tmp_path / "b", "cars", [("0001.jpg", "vehicle")], header=("image", "category"))
    with pytest.raises(SystemExit, match=r"cars/labels.csv: missing column\(s\) damage, view, group"):
        index_extra(tmp_path / "b")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no <source>/labels.csv"):
        index_extra(tmp_path / "empty")


def test_a_recorded_source_is_rebuilt_from_its_repository(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "img").mkdir(parents=True)
    big = np.full((1200, 1600, 3), 90, np.uint8)
    cv2.rectangle(big, (200, 300), (1400, 900), (20, 180, 240), -1)
    cv2.imwrite(str(repo / "img" / "car.jpg"), big)
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "car"], check=True)
    sha = subprocess.run(git[:3] + ["rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    # the car's file was deleted later: the recorded commit still holds it
    subprocess.run(git + ["rm", "-q", "img/car.jpg"], check=True)
    subprocess.run(git + ["commit", "-qm", "gone"], check=True)
    records = tmp_path / "records"
    rec = records / "lot"
    rec.mkdir(parents=True)
    (rec / "SOURCE.md").write_text("# lot\n- Repository: test\n- Licence: none stated\n")
    with open(rec / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([EXTRA_COLUMNS + ("source_repo", "commit", "source_path"),
                                 ("0001.jpg", "vehicle", "none", "", "a", "t/repo", sha, "img/car.jpg")])
    monkeypatch.setattr(extra_sources, "RECORDS", {records: 800})
    out = tmp_path / "out"
    assert extra_sources.build(repo / ".git", "lot", out, log=lambda s: None) == 1
    img = cv2.imread(str(out / "lot" / "0001.jpg"))
    assert img.shape[:2] == (600, 800)  # long side at most 800 px
    assert [s["source"] for s in index_extra(out)] == ["lot"]
    rec.joinpath("labels.csv").write_text(rec.joinpath("labels.csv").read_text().replace("img/car.jpg", "img/bus.jpg"))
    with pytest.raises(SystemExit, match="img/bus.jpg is missing or not an image"):
        extra_sources.build(repo / ".git", "lot", out, log=lambda s: None)


def test_a_new_bundle_keeps_the_records_of_its_sources(tmp_path):
    from models.toolkit.publish import carry_over
    old, new = tmp_path / "claim-classifier", tmp_path / "claim-classifier.tmp"
    _write_source(old / "extra_sources", "lot", [("0001.jpg", "vehicle", "none", "", "a", "r", "0" * 40, "x")])
    (old / "MODEL_CARD.md").write_text("# card\n")
    (old / "model.tflite").write_bytes(b"old weights")
    new.mkdir()
    carry_over(old, new)
    assert (new / "extra_sources" / "lot" / "labels.csv").is_file()
    assert (new / "MODEL_CARD.md").read_text() == "# card\n"
    assert not (new / "model.tflite").exists()  # the weights are the new bundle's own


def test_further_plate_sources_train_the_detector_and_the_reader(tmp_path):
    from models.toolkit.plates import data as plate_data
    from models.toolkit.detector.data import index
    d = tmp_path / "extra" / "mx_lot"
    d.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name, shape in (("0001.jpg", (480, 640, 3)), ("0002.jpg", (40, 160, 3))):
        cv2.imwrite(str(d / name), rng.integers(0, 255, shape, dtype=np.uint8))
    with open(d / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([
            ("image", "region", "plate", "x", "y", "w", "h", "source_repo", "commit", "source_path"),
            ("0001.jpg", "mx", "ABC1234", "100", "300", "120", "30", "o/r", "0" * 40, "a.jpg"),
            ("0001.jpg", "mx", "XYZ987", "400", "310", "110", "28", "o/r", "0" * 40, "a.jpg"),
            ("0002.jpg", "mx", "JKL4567", "", "", "", "", "o/r", "0" * 40, "b.jpg")])
    # the detector: the photo once, with both its plates; the crop has no scene to learn from
    photos = [s for s in index(tmp_path / "no-data", tmp_path / "extra")]
    assert [(s["source"], s["plate_source"], s["plates"]) for s in photos] == [
        ("plate_extra", "mx_lot", ["ABC1234", "XYZ987"])]
    assert photos[0]["boxes"] == [("plate", 100.0, 300.0, 120.0, 30.0),
                                  ("plate", 400.0, 310.0, 110.0, 28.0)]
    # the reader: every plate, the photo's in the photo's split, the crop as it is
    plates = plate_data.real_samples(tmp_path / "no-data", extra=tmp_path / "extra")
    assert sorted(p["text"] for p in plates) == ["ABC1234", "JKL4567", "XYZ987"]
    assert {p["source"] for p in plates} == {"mx_lot"}
    assert {p["split"] for p in plates if p["box"]} == {photos[0]["split"]}
    assert plate_data.real_image(next(p for p in plates if p["box"] is None)).shape == (40, 160, 3)
    assert plate_data.real_image(plates[0]).shape[1] == pytest.approx(120 * 1.16, abs=2)
