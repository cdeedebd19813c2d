"""The device's model registry for every kind: one state file, releases that change together
switch and roll back together, each model resolved through it (OCR recogniser included), and
`claim-edge models list` shows every kind."""

import json
import shutil

import pytest

from conftest import ROOT
from edge.bundle import BundleError
from edge.config import load_profile_file
from edge.health import check_bundle
from edge.modelref import read_ref
from edge.pipeline import Pipeline
from edge.registry import MAX_FAILED_STARTS, ModelRegistry
from edge.samples import document_page, jpeg_bytes
from models.toolkit.canaries import write as write_canaries


def copy_release(name, version, dest, mutate=None):
    d = dest / f"{name}-{version}"
    shutil.copytree(ROOT / "models" / name, d)
    m = json.loads((d / "manifest.json").read_text())
    m["version"] = version
    if mutate:
        mutate(m)
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def install(reg, name, version, tmp_path, release=None):
    release = release or f"r-{version}"
    reg.install(name, release, copy_release(name, version, tmp_path / "src"))
    return release


def test_releases_switch_and_roll_back_together(tmp_path):
    reg = ModelRegistry(tmp_path / "models")
    d1 = install(reg, "detector", "2.0.0", tmp_path)
    r1 = install(reg, "box-refiner", "2.0.0", tmp_path)
    reg.activate_set({"detector": d1, "box-refiner": r1}, reason="pair")
    assert reg.state("detector")["group"] == ["box-refiner", "detector"]
    assert json.loads((tmp_path / "models" / "registry.json").read_text())["models"].keys() == \
        {"detector", "box-refiner"}
    back = reg.rollback("box-refiner", reason="test")
    assert back is None and reg.active_path("detector") is None   # both to the shipped copies
    assert reg.history()[-1]["models"] == {"detector": None, "box-refiner": None}
    # failed starts take the group back too
    reg.activate_set({"detector": d1, "box-refiner": r1})
    for _ in range(MAX_FAILED_STARTS + 1):
        reg.begin_start()
    assert reg.active_path("detector") is None and reg.active_path("box-refiner") is None


def test_a_device_upgraded_from_per_model_state_keeps_its_active_release(tmp_path):
    root = tmp_path / "models"
    reg = ModelRegistry(root)
    rel = install(reg, "claim-classifier", "7.0.0", tmp_path)
    (root / "claim-classifier" / "active.json").write_text(json.dumps(
        {"active": rel, "previous": None, "pending_starts": 0, "history": []}))
    assert read_ref(reg.active_path("claim-classifier")).version == "7.0.0"


def test_resolve_checks_the_kind_and_rolls_back_an_unusable_release(tmp_path):
    reg = ModelRegistry(tmp_path / "models")
    rel = install(reg, "plate-reader", "3.0.0", tmp_path)
    reg.activate("plate-reader", rel)
    assert reg.resolve("plate_reader", "plate-reader").version == "3.0.0"
    with pytest.raises(BundleError, match="not a detector"):
        reg.resolve("detector", "plate-reader")
    (reg.active_path("plate-reader") / "model.tflite").write_bytes(b"torn")
    assert reg.resolve("plate_reader", "plate-reader").version == \
        read_ref(ROOT / "models" / "plate-reader").version      # back to the shipped copy
    assert reg.active_path("plate-reader") is None


@pytest.fixture
def ocr_bundle(tmp_path):
    """A new release of the shipped text recogniser bundle (PP-OCRv6 small), with canaries."""
    return copy_release("text-recognizer", "6.0-fleet", tmp_path / "src",
                        mutate=lambda m: m.pop("canary", None))


@pytest.mark.ocr
def test_an_installed_ocr_recogniser_reads_the_documents(tmp_path, ocr_bundle, cli):
    src = (ROOT / "firmware_config" / "kiosk-x86.toml").read_text()
    src = src.replace('path = "~/.claim-edge/store.db"', f'path = "{tmp_path / "store.db"}"')
    src = src.replace("cache = true", "cache = false")
    (tmp_path / "p.toml").write_text(src)
    profile = load_profile_file(tmp_path / "p.toml")
    reg = ModelRegistry(profile.fleet.resolved_models_dir(profile.store))
    write_canaries(ocr_bundle)
    assert check_bundle(ocr_bundle, 2, 1000).ok
    reg.install("text-recognizer", "r00001-x", ocr_bundle)
    reg.activate("text-recognizer", "r00001-x")
    photo = tmp_path / "invoice.jpg"
    photo.write_bytes(jpeg_bytes(document_page()))
    doc = Pipeline(profile).analyze(str(photo))[0].to_contract()
    rec = [m for m in doc["models"] if m["kind"] == "ocr_recognizer"]
    assert rec == [{"kind": "ocr_recognizer", "name": "text-recognizer", "version": "6.0-fleet",
                    "sha256": read_ref(reg.active_path("text-recognizer")).sha256}]
    assert any("159.00" in t["text"] for t in doc["text"])
    assert any(m["kind"] == "document" for m in doc["models"]) and doc["document"]["type"]
    listing = cli("models", "list", "--profile", str(tmp_path / "p.toml")).stdout
    kinds = {line.split()[0] for line in listing.splitlines()}
    assert kinds >= {"classifier", "detector", "box_refiner", "plate_reader", "document",
                     "ocr_recognizer"}
    assert "r00001-x" in listing and "6.0-fleet" in listing


def test_a_bundle_whose_extra_file_is_torn_does_not_load(tmp_path, ocr_bundle):
    (ocr_bundle / "dictionary.txt").write_text("torn")
    with pytest.raises(BundleError, match="dictionary.txt"):
        read_ref(ocr_bundle)
    assert not check_bundle(ocr_bundle, 2, 1000).ok
