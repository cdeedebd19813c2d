"""Bundle manifest validation and loading errors (edge.bundle), on the shipped classifier bundle
and on hand-made manifests, plus the prototype verification logic (edge.classifier.verify)."""
import json
import shutil

import numpy as np
import pytest

from edge.bundle import BundleError, Prototype, load_bundle
from edge.digest import sha256_file
from edge.classifier.verify import verify


def _copy(model_dir, tmp_path):
    dst = tmp_path / "claim-classifier"
    shutil.copytree(model_dir, dst)
    return dst


def _edit(bundle_dir, fn):
    p = bundle_dir / "manifest.json"
    m = json.loads(p.read_text())
    fn(m)
    p.write_text(json.dumps(m))


def test_shipped_bundle_is_complete(model_dir):
    b = load_bundle(model_dir)
    assert b.kind == "classifier" and b.provenance == "trained"
    assert (b.input.height, b.input.width, b.input.channels) == (224, 224, 3)
    assert b.outputs["category"].labels == ("vehicle", "damage", "plate", "vin", "document", "other")
    assert b.outputs["damage"].labels == ("none", "minor", "moderate", "severe")
    assert b.outputs["view"].labels == ("front", "rear", "left", "right", "interior", "unknown")
    assert b.outputs["embedding"].type == "embedding"
    protos = b.prototypes["category"]
    assert set(protos) >= {"vehicle", "damage", "plate", "vin", "document"}
    for p in protos.values():
        assert len(p.vector) == b.outputs["embedding"].dim
        assert abs(np.linalg.norm(p.vector) - 1.0) < 1e-3
        lo, hi = p.similarity_range
        assert -1.0 <= lo < hi <= 1.0
    assert b.model_file.stat().st_size <= 6 * 1024 * 1024
    assert b.raw["created_by"].startswith("claim-edge-train ")
    for png in ("confusion_category.png", "confusion_damage.png"):
        assert (model_dir / png).is_file()
    assert (model_dir / "MODEL_CARD.md").is_file()


def test_missing_model_file(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path)
    (d / "model.tflite").unlink()
    with pytest.raises(BundleError, match="model.tflite.*not found"):
        load_bundle(d)


def test_missing_manifest_and_folder(model_dir, tmp_path):
    with pytest.raises(BundleError, match="folder not found"):
        load_bundle(tmp_path / "nope")
    d = _copy(model_dir, tmp_path)
    (d / "manifest.json").unlink()
    with pytest.raises(BundleError, match="manifest not found"):
        load_bundle(d)


def test_sha_mismatch(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path)
    with open(d / "model.tflite", "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(d)
    load_bundle(d, verify_hash=False)  # the check is the hash, nothing else


def test_wrong_input_size_is_refused_by_the_classifier(model_dir, tmp_path):
    from edge.classifier import Classifier
    d = _copy(model_dir, tmp_path)
    _edit(d, lambda m: m["input"].update(height=200, width=200))
    with pytest.raises(BundleError, match="input size 200x200 does not match"):
        Classifier(load_bundle(d))
    _edit(d, lambda m: m["input"].update(height=4, width=4))
    with pytest.raises(BundleError, match="too small"):
        load_bundle(d)


@pytest.mark.parametrize("edit,match", [
    (lambda m: m.pop("outputs"), "missing key 'outputs'"),
    (lambda m: m.update(format=2), "unsupported format"),
    (lambda m: m.update(kind="segmenter"), "kind"),
    (lambda m: m.update(provenance="guessed"), "provenance"),
    (lambda m: m["input"].update(dtype="float64"), "dtype"),
    (lambda m: m["prototypes"]["category"].update(cat={"vector": [0.0], "similarity_range": [0, 1]}),
     "'cat' is not a label"),
    (lambda m: m["prototypes"].update(colour={}), "head 'colour' is not an output"),
    (lambda m: m["prototypes"]["category"]["plate"].pop("similarity_range"), "similarity_range"),
])
def test_manifest_validation(model_dir, tmp_path, edit, match):
    d = _copy(model_dir, tmp_path)
    _edit(d, edit)
    with pytest.raises(BundleError, match=match):
        load_bundle(d)


def test_manifest_sha_is_the_model_file(model_dir):
    b = load_bundle(model_dir)
    assert sha256_file(b.model_file) == b.sha256


# ------------------------------------------------------------------ prototype verification

PROTOS = {"plate": Prototype(vector=(1.0, 0.0, 0.0), similarity_range=(0.6, 1.0)),
          "vin": Prototype(vector=(0.0, 1.0, 0.0), similarity_range=(0.8, 0.95))}


def test_verified_inside_range():
    v = verify("plate", 0.9, np.array([2.0, 0.5, 0.0], np.float32), PROTOS, 0.5)
    assert v.verified and v.similarity == pytest.approx(2 / np.sqrt(4.25), abs=1e-6)


def test_not_verified_outside_range_low_and_high():
    low = verify("plate", 0.9, np.array([0.2, 1.0, 0.0], np.float32), PROTOS, 0.5)
    assert not low.verified and low.similarity < 0.6 and "outside" in low.reason
    high = verify("vin", 0.9, np.array([0.0, 1.0, 0.0], np.float32), PROTOS, 0.5)
    assert not high.verified and high.similarity == pytest.approx(1.0)


def test_not_verified_without_prototype_or_embedding_or_score():
    assert not verify("document", 0.9, np.ones(3, np.float32), PROTOS, 0.5).verified
    assert not verify("plate", 0.9, None, PROTOS, 0.5).verified
    low = verify("plate", 0.3, np.array([1.0, 0.0, 0.0], np.float32), PROTOS, 0.5)
    assert not low.verified and "score" in low.reason


def test_shipped_prototypes_verify_their_own_vector(model_dir):
    b = load_bundle(model_dir)
    rng = np.random.default_rng(0)
    for label, p in b.prototypes["category"].items():
        vec = np.asarray(p.vector, np.float32)
        near = vec * 3.0 + rng.normal(0, 0.01, vec.shape).astype(np.float32)
        v = verify(label, 0.99, near, b.prototypes["category"], 0.5)
        assert v.verified and v.similarity > 0.9, label
        # the opposite direction is never verified
        assert not verify(label, 0.99, -vec, b.prototypes["category"], 0.5).verified
