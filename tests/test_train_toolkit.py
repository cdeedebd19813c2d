"""Toolkit pieces that need no training: deterministic splits, the index over the shared-data
label formats (on a generated folder), synthetic generators, AUROC/F1 helpers."""
from pathlib import Path

import numpy as np
import pytest

from models.toolkit.classifier import data as D
from models.toolkit.classifier import synth
from models.toolkit.classifier.evaluate import _auroc, _macro_f1
from models.toolkit.classifier.evaluate_sources import claim_score


def test_split_is_deterministic_and_roughly_70_15_15():
    keys = [f"set/img_{i}.jpg" for i in range(3000)]
    a = [D.split_of(k) for k in keys]
    assert a == [D.split_of(k) for k in keys]
    frac = {s: a.count(s) / len(a) for s in ("train", "val", "test")}
    assert abs(frac["train"] - 0.70) < 0.04 and abs(frac["val"] - 0.15) < 0.03


def test_synthetic_render_is_deterministic():
    for kind in synth.DOC_KINDS + synth.OTHER_KINDS + synth.OOD_KINDS:
        a, b = synth.render(kind, 5), synth.render(kind, 5)
        assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
        assert np.array_equal(a, b), kind
    assert not np.array_equal(synth.render("id_card", 1), synth.render("id_card", 2))


def test_index_reads_the_label_formats(tmp_path):
    from tests.test_train_e2e import make_data_dir
    d = make_data_dir(tmp_path / "data", per_set=4)
    s = D.index_real(d)
    by = {}
    for x in s:
        by.setdefault(x["source"], []).append(x)
    assert set(by) == {"vehicles", "damage_severity", "plate_crops", "plate_photos", "plate_photo_crops",
                       "vin_boxes", "receipts", "not_claim", "damage_boxes", "plate_scenes",
                       "plate_scene_crops"}
    # street scenes are undamaged vehicle photos, plate close-ups where the plate fills the frame
    assert {(x["category"], x["damage"]) for x in by["plate_scenes"]} == {("vehicle", "none"), ("plate", "none")}
    assert {x["category"] for x in by["plate_scene_crops"]} == {"plate"}
    assert {x["category"] for x in by["plate_photo_crops"]} == {"plate"}
    assert all(x["crop"] for x in by["plate_photo_crops"])
    assert {x["damage"] for x in by["damage_severity"]} <= {"minor", "moderate", "severe"}
    assert {x["damage"] for x in by["damage_boxes"]} == {"damaged"}  # severity unknown
    assert {(x["damage"], x["view"]) for x in by["vin_boxes"]} == {("none", "unknown")}
    # a plate crop shares its photo's split (no leak between train and held-out)
    sp = {x["path"]: x["split"] for x in by["plate_photos"]}
    assert all(sp[x["path"]] == x["split"] for x in by["plate_photo_crops"])
    rgb = D.load_sample_rgb(by["plate_photo_crops"][0])
    x = D.to_input(rgb, 96)
    assert x.shape == (96, 96, 3) and x.dtype == np.float32 and x.max() <= 255


def test_a_plate_photo_taken_a_hand_from_the_plate_is_a_plate_close_up(tmp_path):
    import csv
    import cv2
    d = tmp_path / "data"
    (d / "plate_photos").mkdir(parents=True)
    car = np.full((300, 400, 3), 120, np.uint8)
    cv2.imwrite(str(d / "plate_photos" / "far.jpg"), car)
    cv2.imwrite(str(d / "plate_photos" / "near.jpg"), car)
    with open(d / "plate_photos" / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "region", "x", "y", "w", "h", "plate"])
        w.writerow(["far.jpg", "eu", 150, 200, 120, 30, "AB123"])   # 0.30 of the width: a car
        w.writerow(["near.jpg", "eu", 40, 100, 320, 80, "AB123"])   # 0.80: the plate fills it
    cat = {Path(x["path"]).name: x["category"] for x in D.index_real(d) if x["source"] == "plate_photos"}
    assert cat == {"far.jpg": "vehicle", "near.jpg": "plate"}


def test_metric_helpers():
    assert _auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert _auroc([0.1], [0.9]) == 0.0
    assert _auroc([0.5], [0.5]) == 0.5
    assert _macro_f1(["a", "b"], ["a", "b"], ["a", "b", "c"]) == 1.0
    r = {"pred": {"category": "other"}, "probs": {"category": [0, 0, 0, 0, 0, 0.9]}, "similarity": 0.99}
    assert claim_score(r) < -1.0


def test_generated_plate_scenes_box_the_plate_they_paste():
    from models.toolkit.detector import data as detector_data
    from models.toolkit.detector.data import load, synthetic_plate_samples
    samples = synthetic_plate_samples(6)
    assert {s["split"] for s in samples} == {"train"} and len({s["key"] for s in samples}) == 6
    for s in samples:
        rgb, boxes = load(s)
        assert [b[0] for b in boxes] == ["plate"]
        x, y, w, h = boxes[0][1:]
        H, W = rgb.shape[:2]
        assert 0 <= x and 0 <= y and x + w <= W and y + h <= H and 0.05 * W < w < 0.27 * W
        inside = rgb.mean(axis=2)[int(y) + 2:int(y + h) - 2, int(x) + 2:int(x + w) - 2]
        assert np.median(inside) > 170                     # the light plate, not the scene
        detector_data._LAST.clear()
        again, _ = load(s)
        assert np.array_equal(again, rgb)                  # the same scene for the same seed


def test_shapes_fits_the_layout_prior_into_a_copy_of_the_plate_reader(tmp_path):
    pytest.importorskip("torch", reason="the plate reader's training needs the extra 'train'")
    import csv
    import json
    import shutil

    import cv2

    from edge.bundle import load_bundle, resolve_bundle
    from edge.plates.ctc import ShapePrior
    from models.toolkit.plates import reader
    from models.toolkit.plates.data import synth_plate
    d = tmp_path / "data"
    for sub in ("plate_crops", "plate_photos"):
        (d / sub).mkdir(parents=True)
    rows = []
    for seed in range(60):
        img, text = synth_plate(seed)
        cv2.imwrite(str(d / "plate_crops" / f"p{seed}.png"), img)
        rows.append([f"p{seed}.png", text])
    with open(d / "plate_crops" / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([["image", "plate"], *rows])
    (d / "plate_photos" / "labels.csv").write_text("image,region,x,y,w,h,plate\n")
    bundle = tmp_path / "plate-reader"
    shutil.copytree(resolve_bundle("plate-reader"), bundle)
    assert reader.main(["shapes", str(d), "--out", str(bundle), "--version", "9.9.9"]) == 0

    m = json.loads((bundle / "manifest.json").read_text())
    assert m["version"] == "9.9.9" and "plates.reader shapes" in m["created_by"]
    # the generated val plates all read right without it: a prior that cannot beat greedy
    # decoding on val is not kept, so the copy loses the shipped one
    assert m["metrics"]["val_exact_int8"] == {"greedy": 1.0, "with_prior": 1.0}
    assert ShapePrior.from_manifest(load_bundle(bundle).raw) is None
    assert ShapePrior.from_manifest(load_bundle(resolve_bundle("plate-reader")).raw) is not None


def test_box_refiner_training_learns_to_move_boxes_onto_generated_vin_lines(tmp_path):
    torch = pytest.importorskip("torch", reason="training needs the extra 'train'")
    from edge.detect import iou_xywh
    from edge.samples import vin_sticker
    from models.toolkit.detector import refiner as BR

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)

    def photo(seed):
        text = "".join(rng.choice(list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"), 17))
        bgr, (x, y, w, h) = vin_sticker(text, seed=seed)
        return {"key": str(seed), "rgb": bgr[..., ::-1].copy(), "cands": [],
                "gt": (x - 3.0, y - 0.4 * h, w + 6.0, 1.8 * h)}  # labels leave a margin

    train = [photo(s) for s in range(40)]
    X, T, Q = BR.examples(train, jitters=32)
    assert X.shape == (40 * 32, BR.H, BR.W, 3) and T.shape == (40 * 32, 4)
    assert float(Q.min()) >= 0.0 and float(Q.max()) <= 1.0
    net = BR.train(X, T, Q, epochs=12, log=lambda m: None)
    held = [photo(s) for s in range(100, 108)]
    rng2 = np.random.default_rng(1)
    moved = [(p, BR.jitter(p["gt"], rng2)) for p in held for _ in range(3)]
    before = [iou_xywh(b, p["gt"]) for p, b in moved]
    after = [iou_xywh(BR.refine_float(net, p["rgb"], b), p["gt"]) for p, b in moved]
    assert np.mean(after) > np.mean(before) + 0.1, (np.mean(before), np.mean(after))
    # the int8 bundle it exports runs in the runtime and keeps the folder's model card
    from edge.bundle import load_bundle
    from edge.detect.refine import BoxRefiner
    out = tmp_path / "box-refiner"
    out.mkdir()
    (out / "MODEL_CARD.md").write_text("# card\n")
    BR.export(BR.RefinerEnsemble([net]), X, out, metrics={"test": 1}, created_by="pytest")
    assert (out / "MODEL_CARD.md").read_text() == "# card\n"
    assert not out.with_name("box-refiner.tmp").exists()
    ref = BoxRefiner(load_bundle(out))
    boxes = [ref.refine_bgr(np.ascontiguousarray(p["rgb"][..., ::-1]), b).box for p, b in moved]
    int8 = [iou_xywh(b, p["gt"]) for b, (p, _) in zip(boxes, moved)]
    assert np.mean(int8) > np.mean(before) + 0.1, (np.mean(before), np.mean(int8))
    # the int8 bundle puts the boxes where the float network does
    agree = [iou_xywh(b, BR.refine_float(net, p["rgb"], m, ref.iterations))
             for b, (p, m) in zip(boxes, moved)]
    assert np.mean(agree) >= 0.9, np.round(agree, 2)


def test_an_ensemble_bundle_keeps_each_networks_steps_for_the_vote(tmp_path):
    """``plates.reader ensemble`` exports its networks in one int8 graph; the runtime gets each
    one's [T, C] steps (their peaks differ, so they are read one by one and vote)."""
    torch = pytest.importorskip("torch", reason="training needs the extra 'train'")
    from edge.bundle import load_bundle
    from edge.plates.ctc import CtcPlateRecognizer
    from models.toolkit.plates import data as plate_data
    from models.toolkit.plates import reader as P

    torch.manual_seed(0)
    nets = [P.CtcNet().eval(), P.CtcNet().eval()]
    X = np.stack([plate_data.to_input(plate_data.synth_plate(s)[0])
                  for s in range(24)]).astype(np.uint8)
    out = tmp_path / "plate-reader"
    P.export(P.EnsembleCtc(nets).eval(), X, out, val_exact=0.0, created_by="pytest",
             version="9.0.0")
    b = load_bundle(out)
    assert b.version == "9.0.0" and "2 of them" in b.raw["description"]
    rec = CtcPlateRecognizer(b)
    plate, _ = plate_data.synth_plate(99)
    lg = rec.logits(plate)
    assert lg.shape == (2, plate_data.W // 4, len(plate_data.ALPHABET) + 1)
    with torch.no_grad():
        x = (torch.from_numpy(plate_data.to_input(plate)[None]).permute(0, 3, 1, 2) - 127.0) / 128.0
        ref = [P.step_logits(n(x))[0].numpy() for n in nets]
    for m in range(2):  # each output is its own network's steps, int8 close to float
        own, other = (np.corrcoef(lg[m].ravel(), r.ravel())[0, 1] for r in (ref[m], ref[1 - m]))
        assert own > 0.9 and own > other, (m, own, other)
    assert isinstance(rec.read(plate, "eu"), list)
