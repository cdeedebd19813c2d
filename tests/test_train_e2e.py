"""Tiny end to end run of the training toolkit on GENERATED images laid out like ../shared/data:
index -> train (frozen CPU mode) -> int8 export -> load with edge.bundle -> classify -> evaluate.
Never needs ../shared/data."""
import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest


def _car(rng, damaged=False, size=(240, 320)):
    h, w = size
    img = np.full((h, w, 3), rng.integers(90, 200, 3), np.uint8)
    img[int(h * 0.7):] = rng.integers(30, 90, 3)
    body = tuple(int(v) for v in rng.integers(0, 255, 3))
    x0, x1 = int(w * rng.uniform(0.1, 0.2)), int(w * rng.uniform(0.8, 0.9))
    cv2.rectangle(img, (x0, int(h * 0.45)), (x1, int(h * 0.7)), body, -1)
    cv2.rectangle(img, (x0 + 40, int(h * 0.3)), (x1 - 50, int(h * 0.45)), body, -1)
    for cx in (x0 + 35, x1 - 35):
        cv2.circle(img, (cx, int(h * 0.7)), 22, (20, 20, 20), -1)
    if damaged:
        for _ in range(int(rng.integers(4, 12))):
            p = rng.integers([x0, int(h * 0.4)], [x1, int(h * 0.7)])
            q = p + rng.integers(-40, 40, 2)
            cv2.line(img, tuple(int(v) for v in p), tuple(int(v) for v in q), (240, 240, 240), 2)
        cv2.circle(img, (int((x0 + x1) / 2), int(h * 0.55)), 25, (60, 60, 60), -1)
    return img


def _plate(rng, size=(110, 240)):
    h, w = size
    img = np.full((h, w, 3), 235, np.uint8)
    cv2.rectangle(img, (3, 3), (w - 4, h - 4), (20, 20, 120), 3)
    txt = "".join(rng.choice(list("ABCDEFGHJK0123456789"), 7))
    cv2.putText(img, txt, (12, int(h * 0.7)), cv2.FONT_HERSHEY_DUPLEX, 1.4, (20, 20, 20), 3)
    return img


def _vin(rng):
    img = np.full((256, 256, 3), rng.integers(140, 200), np.uint8)
    txt = "".join(rng.choice(list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"), 17))
    cv2.putText(img, txt[:9], (10, 110), cv2.FONT_HERSHEY_PLAIN, 2.0, (10, 10, 10), 2)
    cv2.putText(img, txt[9:], (10, 150), cv2.FONT_HERSHEY_PLAIN, 2.0, (10, 10, 10), 2)
    return img


def _receipt(rng):
    img = np.full((400, 200, 3), 245, np.uint8)
    for y in range(30, 380, 18):
        cv2.line(img, (10, y), (int(rng.integers(60, 190)), y), (40, 40, 40), 2)
    return img


def _noise(rng):
    n = cv2.GaussianBlur(rng.normal(128, 60, (200, 200, 3)).astype(np.float32), (0, 0), 4)
    return np.clip(n, 0, 255).astype(np.uint8)


def make_data_dir(root: Path, per_set: int = 14, seed: int = 0) -> Path:
    """A folder with the label-file formats of ../shared/data, filled with drawn images."""
    rng = np.random.default_rng(seed)
    root = Path(root)

    def save(folder, name, rgb):
        p = root / folder / "images" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        return f"images/{name}"

    def write_csv(folder, header, rows):
        with open(root / folder / "labels.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)

    views = ["front", "rear", "front_three_quarter", "side", ""]
    write_csv("vehicles", ["image", "view", "source_repo", "source_path"],
              [[save("vehicles", f"v{i}.jpg", _car(rng)), views[i % 5], "gen", "gen"] for i in range(per_set)])
    sev = ["minor", "moderate", "severe"]
    write_csv("damage_severity", ["image", "split", "severity"],
              [[save("damage_severity", f"d{i}.jpg", _car(rng, True)), "train", sev[i % 3]] for i in range(per_set)])
    write_csv("plate_crops", ["image", "state", "plate"],
              [[save("plate_crops", f"p{i}.jpg", _plate(rng)), "ca", "ABC123"] for i in range(per_set)])
    rows = []
    for i in range(per_set):
        car = _car(rng, size=(360, 480))
        pl = cv2.resize(_plate(rng), (96, 44))
        car[250:294, 190:286] = pl
        rows.append([save("plate_photos", f"eu_{i}.jpg", car), "eu", 190, 250, 96, 44, "ABC123"])
    write_csv("plate_photos", ["image", "region", "x", "y", "w", "h", "plate"], rows)
    write_csv("vin_boxes", ["image", "split", "cx", "cy", "w", "h"],
              [[save("vin_boxes", f"n{i}.jpg", _vin(rng)), "train", 0.5, 0.5, 0.9, 0.3] for i in range(per_set)])
    write_csv("not_claim", ["image", "source_repo", "source_path"],
              [[save("not_claim", f"o{i}.jpg", _noise(rng)), "gen", "gen"] for i in range(per_set)])
    (root / "receipts").mkdir(parents=True, exist_ok=True)
    with open(root / "receipts" / "labels.jsonl", "w") as f:
        for i in range(per_set):
            f.write(json.dumps({"image": save("receipts", f"r{i}.jpg", _receipt(rng)), "boxes": "",
                                "company": "X", "date": "01-01-20", "address": "Y", "total": "1.00"}) + "\n")
    rows = []
    for i in range(per_set):
        # a street scene: a small car far off; every third one a hand's width from its plate
        near = i % 3 == 2
        scene = _car(rng, size=(480, 640)) if near else cv2.resize(_car(rng), (320, 240))
        if not near:
            scene = cv2.copyMakeBorder(scene, 120, 120, 160, 160, cv2.BORDER_REPLICATE)
        x, y, w, h = (120, 200, 400, 120) if near else (300, 400, 48, 16)
        scene[y:y + h, x:x + w] = cv2.resize(_plate(rng), (w, h))
        rows.append([save("plate_scenes", f"s{i}.jpg", scene), "gen", "gen", "us", x, y, w, h, "ABC123"])
    write_csv("plate_scenes", ["image", "source_repo", "source_path", "region", "x", "y", "w", "h", "plate"], rows)
    write_csv("plate_scenes/crops", ["image", "source_repo", "source_path", "region", "plate"],
              [[save("plate_scenes/crops", f"c{i}.jpg", _plate(rng)), "gen", "gen", "tw", "ABC123"]
               for i in range(per_set // 2)])
    (root / "damage_boxes").mkdir(parents=True, exist_ok=True)
    with open(root / "damage_boxes" / "labels.jsonl", "w") as f:
        for i in range(max(2, per_set // 3)):
            f.write(json.dumps({"image": save("damage_boxes", f"mr_{i}.jpg", _car(rng, True)), "width": 320,
                                "height": 240, "damage_xywh": [[10, 10, 20, 20]], "parts": []}) + "\n")
    return root


@pytest.mark.slow
def test_train_export_load_classify_end_to_end(tmp_path):
    from models.toolkit.classifier.cli import main
    from edge.bundle import BundleError, load_bundle
    from edge.classifier import Classifier

    data = make_data_dir(tmp_path / "data", per_set=14)
    out = tmp_path / "bundle"
    rc = main(["all", str(data), "--size", "96", "--cache", str(tmp_path / "cache"), "--out", str(out),
               "--n-docs", "14", "--n-other", "7", "--n-ood", "6", "--epochs", "3",
               "--views-scale", "0.5", "--calib", "16", "--check-n", "24",
               "--min-agreement", "0.5", "--min-cosine", "0.5"])
    assert rc == 0
    b = load_bundle(out)
    assert b.provenance == "trained" and (b.input.height, b.input.width) == (96, 96)
    assert set(b.outputs) == {"category", "damage", "view", "embedding"}
    assert set(b.prototypes["category"]) >= {"vehicle", "damage", "plate", "vin", "document"}
    m = b.raw["metrics"]
    assert 0.0 <= m["int8_agreement"]["category_top1_agreement"] <= 1.0
    assert m["heldout"]["open_set"]["in_domain_n"] > 0
    assert b.raw["created_by"].startswith("claim-edge-train all ")
    assert (out / "MODEL_CARD.md").is_file() and (out / "confusion_category.png").is_file()

    clf = Classifier(b, threads=2)
    bgr = cv2.imread(str(next((data / "plate_crops" / "images").iterdir())))
    r = clf.classify(bgr)
    assert r.heads["category"].label in b.outputs["category"].labels
    assert len(r.heads["damage"].probs) == 4 and abs(sum(r.heads["damage"].probs) - 1) < 1e-3
    assert r.embedding.shape == (128,)

    # the manifest must match the model: a wrong input size is refused at load
    man = json.loads((out / "manifest.json").read_text())
    man["input"].update(height=224, width=224)
    (out / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(BundleError, match="does not match"):
        Classifier(load_bundle(out))
