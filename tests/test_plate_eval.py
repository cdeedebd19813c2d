"""Plates measured by source (``claim-edge eval plates``) on a small generated data folder laid
out like ../shared/data: each source reported on its own, widths bucketed, misreads named."""

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.samples import plate_closeup, plate_rect, street_scene
from models.toolkit.plates.evaluate import miss_kind, width_bucket
from models.toolkit.plates.sources import registration


@pytest.mark.parametrize("truth,read,kinds", [
    ("7ABC123", "7ABC123", []),
    ("AB0123", "ABO123", ["O/0"]),
    ("1BS5", "I8S5", ["I/1", "B/8"]),
    ("Z2XY", "22XY", ["Z/2"]),
    ("7ABC123", "ABC123", ["dropped first"]),
    ("7ABC123", "7ABC12", ["dropped last"]),
    ("7ABC123", "7ABC1234", ["extra character"]),
    ("7ABC123", "7AXC123", ["other swap"]),
    ("7ABC123", "", ["not read"]),
    ("7ABC123", "ZZ", ["other"]),
])
def test_misread_kinds(truth, read, kinds):
    assert miss_kind(truth, read) == kinds


def test_registration_drops_only_a_chinese_province():
    assert registration("京A88731", "cn") == "A88731"
    assert registration("A88731", "cn") == "A88731"
    assert registration("ABC1234", "br") == "ABC1234"
    assert [width_bucket(w) for w in (12, 40, 79.9, 80, 160, 900)] == \
        ["<40", "40-80", "40-80", "80-160", ">160", ">160"]


def _closeup(folder, name, text, w=960, h=540, seed=0):
    cv2.imwrite(str(folder / name), plate_closeup(text, w, h, seed=seed))
    return plate_rect(w, h)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    (d / "plate_photos").mkdir()
    (d / "plate_scenes" / "images").mkdir(parents=True)
    photos = [("eu1.jpg", "eu", "AB123CD"), ("eu2.jpg", "eu", "ZG456HR"),
              ("br1.jpg", "br", "ABC1234"), ("br2.jpg", "br", "RIO2A18")]
    with open(d / "plate_photos" / "labels.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["image", "region", "x", "y", "w", "h", "plate"])
        for k, (name, region, text) in enumerate(photos):
            wr.writerow([name, region, *_closeup(d / "plate_photos", name, text, seed=k), text])
    with open(d / "plate_scenes" / "labels.csv", "w", newline="", encoding="utf-8") as f:
        wr = csv.writer(f)
        wr.writerow(["image", "source_repo", "source_path", "region", "x", "y", "w", "h", "plate"])
        for k, text in enumerate(["7XYZ123", "4ABC567"]):
            name = f"images/us{k}.jpg"
            wr.writerow([name, "dpetersonVT23/ece4424-spr22-proj", "x", "us",
                         *_closeup(d / "plate_scenes", name, text, seed=10 + k), text])
        # a Chinese scene with two plates side by side (the province is not drawn: the readers
        # do not read it, and it is not compared)
        left = plate_closeup("A12345", 640, 360, seed=20)
        right = plate_closeup("B67890", 640, 360, seed=21)
        cv2.imwrite(str(d / "plate_scenes" / "images" / "cn0.jpg"),
                    np.vstack([np.hstack([left, right]), street_scene(1280, 600, seed=4)]))
        x, y, w, h = plate_rect(640, 360)
        wr.writerow(["images/cn0.jpg", "liuruoze/EasyPR", "x", "cn", x, y, w, h, "京A12345"])
        wr.writerow(["images/cn0.jpg", "liuruoze/EasyPR", "x", "cn", x + 640, y, w, h, "沪B67890"])
        # a wide street shot with a small plate (40-80 px wide)
        img = street_scene(1600, 900, seed=3)
        small = cv2.resize(plate_closeup("C24680", 960, 540, seed=22)[200:340, 130:830], (70, 14),
                           interpolation=cv2.INTER_AREA)
        img[600:614, 700:770] = small
        cv2.imwrite(str(d / "plate_scenes" / "images" / "cn1.jpg"), img)
        wr.writerow(["images/cn1.jpg", "liuruoze/EasyPR", "x", "cn", 700, 600, 70, 14, "京C24680"])
    return d


@pytest.fixture(scope="module")
def metrics(data_dir, tmp_path_factory):
    from models.toolkit.detector.evaluate import main_plates
    out = tmp_path_factory.mktemp("out") / "m.json"
    assert main_plates([str(data_dir), "--split", "all", "--skip-crops", "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_each_source_is_reported_on_its_own(metrics):
    got = {k: (v["photos"], v["plates"]) for k, v in metrics.items() if k.startswith("plates/")}
    assert got == {"plates/openalpr-eu": (2, 2), "plates/openalpr-br": (2, 2),
                   "plates/ucsd-us": (2, 2), "plates/easypr-ccpd-cn": (2, 3)}
    s = metrics["summary"]
    assert s["sources"] == ["openalpr-eu", "openalpr-br", "ucsd-us", "easypr-ccpd-cn"]
    for k in ("detection_recall", "exact_read"):
        vals = [metrics[f"plates/{x}"][k] for x in s["sources"]]
        assert s[k]["worst"] == min(vals) and s[k]["mean"] == pytest.approx(np.mean(vals))


def test_width_buckets_count_every_plate(metrics):
    cn = metrics["plates/easypr-ccpd-cn"]["recall_by_width"]
    assert cn["40-80"]["plates"] == 1 and cn["80-160"]["plates"] == 0 and cn[">160"]["plates"] == 2
    for src in ("openalpr-eu", "openalpr-br", "ucsd-us"):
        b = metrics[f"plates/{src}"]["recall_by_width"]
        assert b[">160"]["plates"] == 2 and sum(v["plates"] for v in b.values()) == 2


def test_clear_close_plates_are_found_and_read(metrics):
    # generated close-ups, the kind the shipped models read (tests/test_plates_read.py)
    for src in ("openalpr-eu", "openalpr-br", "ucsd-us"):
        m = metrics[f"plates/{src}"]
        assert m["detection_recall"] == 1.0 and m["exact_read_from_labelled_box"] == 1.0, (src, m)
    # the two Chinese plates side by side are each found and read without their province
    cn = metrics["plates/easypr-ccpd-cn"]
    assert cn["recall_by_width"][">160"]["recall"] == 1.0
    assert cn["exact_read_from_labelled_box"] >= 2 / 3, cn
    # every miss is named
    for src in metrics["summary"]["sources"]:
        m = metrics[f"plates/{src}"]
        assert sum(m["misreads"].values()) >= round(m["plates"] * (1 - m["exact_read"])), m


def test_eval_detect_reports_each_plate_source_with_its_widths(data_dir, tmp_path):
    from models.toolkit.detector.evaluate import main_detect
    out = tmp_path / "d.json"
    assert main_detect([str(data_dir), "--split", "all", "--sets", "plate_photos,plate_scenes",
                        "--json", str(out)]) == 0
    m = json.loads(out.read_text())
    assert [k for k in m if k.endswith("/plate")] == [
        "openalpr-eu/plate", "openalpr-br/plate", "ucsd-us/plate", "easypr-ccpd-cn/plate"]
    cn = m["easypr-ccpd-cn/plate"]["recall_by_width"]
    assert cn["40-80"]["boxes"] == 1 and cn[">160"]["boxes"] == 2
    assert m["openalpr-eu/plate"]["recall_by_width"][">160"]["recall"] == 1.0


def _further_source(root, name, rows):
    """A further plate source folder as `extra_sources build` writes it: rows of (image, plate,
    box or None); a row with a box is a photo (a generated close-up), without one a crop."""
    d = root / name
    d.mkdir(parents=True)
    with open(d / "labels.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["image", "region", "plate", "x", "y", "w", "h", "source_repo", "commit",
                     "source_path"])
        for k, (image, text, boxed) in enumerate(rows):
            box = _closeup(d, image, text, seed=30 + k)
            if not boxed:
                x, y, w, h = box
                cv2.imwrite(str(d / image), cv2.imread(str(d / image))[y:y + h, x:x + w])
            wr.writerow([image, "mx", text, *(box if boxed else ("",) * 4), "o/r", "0" * 40, image])
    return d


def test_a_further_plate_source_is_measured_on_its_own(data_dir, tmp_path):
    from models.toolkit.detector.evaluate import main_plates
    _further_source(tmp_path / "extra", "mx_lot", [("0001.jpg", "ABC1234", True),
                                                   ("0002.jpg", "XYZ9876", True),
                                                   ("0003.jpg", "JKL4567", False)])
    out = tmp_path / "m.json"
    assert main_plates([str(data_dir), "--split", "all", "--skip-crops", "--extra",
                        str(tmp_path / "extra"), "--sources", "ucsd-us,mx_lot",
                        "--json", str(out)]) == 0
    m = json.loads(out.read_text())
    # the crop has no photo to detect in: two photos, two plates, found and read
    assert (m["plates/mx_lot"]["photos"], m["plates/mx_lot"]["plates"]) == (2, 2)
    assert m["plates/mx_lot"]["detection_recall"] == 1.0
    assert m["plates/mx_lot"]["exact_read_from_labelled_box"] == 1.0
    # the mean and worst stay over the four named sources measured
    assert m["summary"]["sources"] == ["ucsd-us"]
    with pytest.raises(SystemExit, match=r"--sources: unknown \['mx_yard'\]"):
        main_plates([str(data_dir), "--split", "all", "--skip-crops", "--extra",
                     str(tmp_path / "extra"), "--sources", "mx_yard"])


def test_a_bad_further_plate_labels_file_is_refused_by_name(tmp_path):
    from models.toolkit.plates.sources import read_extra_plates
    d = _further_source(tmp_path / "a", "lot", [("0001.jpg", "ABC1234", True)])
    text = (d / "labels.csv").read_text().splitlines()
    cells = text[1].split(",")
    cells[6] = ""  # h missing: half a box
    (d / "labels.csv").write_text("\n".join([text[0], ",".join(cells)]) + "\n")
    with pytest.raises(SystemExit, match=r"lot/labels.csv: 0001.jpg: needs a plate text and "
                       "either all of x,y,w,h or none"):
        read_extra_plates(tmp_path / "a")
    (d / "labels.csv").write_text("image,plate\n0001.jpg,ABC1234\n")
    with pytest.raises(SystemExit, match=r"lot/labels.csv: missing column\(s\) region, x, y, w, h"):
        read_extra_plates(tmp_path / "a")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no <source>/labels.csv"):
        read_extra_plates(tmp_path / "empty")


def test_a_plate_no_box_reaches_is_listed_with_the_closest_box(tmp_path, capsys):
    from models.toolkit.detector.evaluate import main_plates
    d = tmp_path / "data"
    (d / "plate_photos").mkdir(parents=True)
    x, y, w, h = _closeup(d / "plate_photos", "eu1.jpg", "AB123CD")
    with open(d / "plate_photos" / "labels.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["image", "region", "x", "y", "w", "h", "plate"])
        # labelled three times the plate's height, reaching up above it: the plate's own box
        # (found) overlaps it under IoU 0.5, as with a label that also boxes a city line
        wr.writerow(["eu1.jpg", "eu", x, y - h * 2, w, h * 3, "AB123CD"])
    out = tmp_path / "m.json"
    assert main_plates([str(d), "--split", "all", "--skip-crops", "--sources", "openalpr-eu",
                        "--misses", "--json", str(out)]) == 0
    m = json.loads(out.read_text())["plates/openalpr-eu"]
    assert m["detection_recall"] == 0.0
    (u,) = m["undetected"]
    assert u["photo"] == "plate_photos/eu1.jpg" and u["plate"] == [x, y - h * 2, w, h * 3]
    assert u["best_box"] is not None and 0.1 < u["best_iou"] < 0.5
    printed = capsys.readouterr().out
    assert f"not detected: plate_photos/eu1.jpg (960x540) plate [{x}, {y - h * 2}, {w}, {h * 3}]" \
        ", closest box" in printed


def test_detection_alone_is_measured_without_reading(data_dir, tmp_path, capsys):
    from models.toolkit.detector.evaluate import main_plates
    out = tmp_path / "m.json"
    assert main_plates([str(data_dir), "--split", "all", "--skip-reads", "--sources",
                        "openalpr-eu,ucsd-us", "--json", str(out)]) == 0
    m = json.loads(out.read_text())
    for src in ("openalpr-eu", "ucsd-us"):
        assert m[f"plates/{src}"]["detection_recall"] == 1.0
        assert m[f"plates/{src}"]["exact_read"] is None  # not read, so not scored as unread
    assert set(m["summary"]) == {"sources", "detection_recall"} and "plate_crops" not in m
    printed = capsys.readouterr().out
    assert "recogniser (not read)" in printed and "plates not read" in printed


def test_the_detector_tiles_as_on_the_device_by_the_photos_category(data_dir, tmp_path):
    """eval plates gives the detector each photo's category from the profile's classifier, so
    a profile that tiles wide shots is measured with its tiles (both cn photos are >= 1000 px)."""
    from edge.config import CATEGORIES, load_profile
    from models.toolkit.detector.evaluate import main_plates
    src = Path(load_profile("kiosk-x86").source).read_text(encoding="utf-8")
    cats = ", ".join(f'"{c}"' for c in CATEGORIES)
    wide = tmp_path / "wide.toml"
    wide.write_text(src.replace("wide_tile_categories = []", f"wide_tile_categories = [{cats}]"),
                    encoding="utf-8")
    tiled = {}
    for name, profile in (("off", "kiosk-x86"), ("wide", str(wide))):
        out = tmp_path / f"{name}.json"
        assert main_plates([str(data_dir), "--split", "all", "--skip-reads", "--sources",
                            "easypr-ccpd-cn", "--profile", profile, "--json", str(out)]) == 0
        tiled[name] = json.loads(out.read_text())["plates/easypr-ccpd-cn"]["photos_tiled"]
    assert tiled == {"off": 0, "wide": 2}
