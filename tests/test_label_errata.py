"""Label errata: ../shared/data labels that the photo and the plate's format contradict are read
corrected by every toolkit reader (training and evaluation alike), and only while the data still
holds the label they correct."""
import csv

from models.toolkit import sources as D
from models.toolkit.detector.data import index


def _write(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_erratum_corrects_the_label_it_names_and_nothing_else(tmp_path):
    data = tmp_path / "data"
    _write(data / "plate_photos" / "labels.csv", ["image", "region", "x", "y", "w", "h", "plate"],
           [["images/a.jpg", "eu", 1, 2, 30, 10, "RKO99AN"],
            ["images/b.jpg", "eu", 1, 2, 30, 10, "RKO99AN"],      # no erratum for b
            ["images/c.jpg", "eu", 1, 2, 30, 10, "RK012AB"]])     # erratum, label since fixed
    errata = tmp_path / "errata.csv"
    _write(errata, ["set", "image", "column", "was", "now", "reason"],
           [["plate_photos", "images/a.jpg", "plate", "RKO99AN", "RK099AN", "digits"],
            ["plate_photos", "images/c.jpg", "plate", "RKO12AB", "RK012AB", "digits"],
            ["plate_scenes", "images/b.jpg", "plate", "RKO99AN", "RK099AN", "other set"]])
    got = {r["image"]: r["plate"] for r in D.read_labels(data, "plate_photos", errata)}
    assert got == {"images/a.jpg": "RK099AN", "images/b.jpg": "RKO99AN",
                   "images/c.jpg": "RK012AB"}
    raw = {r["image"]: r["plate"] for r in D.read_labels(data, "plate_photos", None)}
    assert raw["images/a.jpg"] == "RKO99AN"


def test_detector_and_plate_evaluation_read_the_shipped_correction(tmp_path):
    # the row as ../shared/data/plate_photos gives it: a GB plate whose year digits are labelled O9
    data = tmp_path / "data"
    _write(data / "plate_photos" / "labels.csv", ["image", "region", "x", "y", "w", "h", "plate"],
           [["images/eu_eu5.jpg", "eu", 1, 2, 30, 10, "OYO9FEU"],
            ["images/eu_eu6.jpg", "eu", 1, 2, 30, 10, "WOBVWMK4"]])
    plates = {s["key"]: s["plates"] for s in index(data) if s["source"] == "plate_photos"}
    assert plates == {"plate_photos/eu_eu5.jpg": ["OY09FEU"],
                      "plate_photos/eu_eu6.jpg": ["WOBVWMK4"]}


def test_shipped_errata_only_swap_look_alike_characters_and_say_why():
    with open(D.ERRATA, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows, "the shipped errata file is empty"
    keys = [(r["set"], r["image"], r["column"]) for r in rows]
    assert len(keys) == len(set(keys))
    look_alike = [{"O", "0"}, {"I", "1"}, {"B", "8"}, {"S", "5"}, {"Z", "2"}]
    for r in rows:
        assert r["reason"].strip(), r
        assert len(r["was"]) == len(r["now"]) and r["was"] != r["now"], r
        for a, b in zip(r["was"], r["now"]):
            assert a == b or {a, b} in look_alike, r
