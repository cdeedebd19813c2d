"""The claim-edge command as an operator uses it."""

import json
from pathlib import Path

import pytest

from edge import samples


def test_ingest_then_claims_show_and_list(tmp_path, cli, profile_path):
    photos = samples.write_samples(tmp_path / "photos")
    r = cli("ingest", "--profile", str(profile_path), "--claim", "CLM-1", str(tmp_path / "photos"))
    assert r.returncode == 0, r.stderr
    progress = [x for x in r.stderr.splitlines() if x.startswith("[")]
    assert len(progress) == len(photos) and progress[0].startswith(f"[1/{len(photos)}]")
    assert f"{len(photos)} new, 0 already filed, 0 failed" in r.stderr
    assert "retake? blurred" in r.stderr

    r = cli("claims", "show", "CLM-1", "--profile", str(profile_path))
    assert r.returncode == 0, r.stderr
    assert f"Claim CLM-1: {len(photos)} photos" in r.stdout and "Checklist:" in r.stdout
    assert "next:" in r.stdout
    items = json.loads(cli("claims", "show", "CLM-1", "--json", "--profile",
                           str(profile_path)).stdout)
    assert {it["item"] for it in items} >= {"photo: vehicle front", "photo: license plate"}
    assert all(it["status"] in ("present", "missing", "invalid", "doubtful") for it in items)

    r = cli("claims", "list", "--profile", str(profile_path))
    assert r.stdout.startswith("CLM-1\t5 photos")
    r = cli("claims", "show", "NOPE", "--profile", str(profile_path))
    assert r.returncode == 1 and "no claim 'NOPE'" in r.stderr


def test_analyze_json_follows_the_contract(tmp_path, cli, profile_path):
    photos = samples.write_samples(tmp_path)
    r = cli("analyze", "--json", "--profile", str(profile_path), *map(str, photos))
    assert r.returncode == 0, r.stderr
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert [o["image"] for o in out] == [str(p) for p in photos]
    for o in out:
        assert o["ok"] and len(o["sha256"]) == 64
        assert o["category"]["label"] in {"vehicle", "damage", "plate", "vin", "document", "other"}
        assert isinstance(o["category"]["verified"], bool)
        assert set(o["heads"]) == {"damage", "view"}
        assert o["scenarios"] and set(o["timings_ms"]) >= {"decode", "classify", "total"}
        assert set(o["model"]) == {"name", "version", "sha256"}
        if not o["category"]["verified"]:
            assert o["scenarios"] == ["review"]


def test_bad_profile_key_is_a_clear_error(tmp_path, cli, profile_path):
    profile_path.write_text(profile_path.read_text().replace("threads = 2", "treads = 2"))
    r = cli("analyze", "--profile", str(profile_path), "x.jpg")
    assert r.returncode == 2
    assert str(profile_path) in r.stderr and "'treads'" in r.stderr


def test_missing_or_corrupt_model_bundle(tmp_path, cli, profile_path, model_dir):
    r = cli("analyze", "--profile", str(profile_path), "--model", str(tmp_path / "nope"), "x.jpg")
    assert r.returncode == 2 and "model bundle folder not found" in r.stderr
    bad = tmp_path / "bad-bundle"
    bad.mkdir()
    for f in model_dir.iterdir():
        if f.is_file():
            (bad / f.name).write_bytes(f.read_bytes())
    (bad / "model.tflite").write_bytes((bad / "model.tflite").read_bytes()[:-100])
    r = cli("analyze", "--profile", str(profile_path), "--model", str(bad), "x.jpg")
    assert r.returncode == 2 and "does not match manifest" in r.stderr


def test_doctor_reports_each_part(tmp_path, cli, profile_path):
    r = cli("doctor", "--profile", str(profile_path))
    lines = r.stdout.splitlines()
    assert [x.split()[1] for x in lines] == ["profile", "runtime", "model", "detector", "refiner",
                                             "plates", "plates", "document", "ocr", "store",
                                             "disk", "broker"]
    assert r.returncode == 0, r.stdout
    assert "box-refiner" in lines[4] and lines[4].split()[0] == "ok"
    assert "plate-reader" in lines[5] and lines[5].split()[0] == "ok"
    assert "RapidOCR" in lines[6]
    assert "document-classifier" in lines[7] and lines[7].split()[0] == "ok"


def test_doctor_warns_of_a_missing_plate_reader_and_names_the_fallback(tmp_path, cli, profile_path):
    p = Path(profile_path)
    p.write_text(p.read_text().replace('plate_reader = "plate-reader+rapidocr"',
                                       f'plate_reader = "{tmp_path / "gone"}+rapidocr"'))
    r = cli("doctor", "--profile", str(p))
    lines = [x for x in r.stdout.splitlines() if x.split()[1] == "plates"]
    assert lines[0].split()[0] == "WARN" and "gone" in lines[0] and "RapidOCR" in lines[0]
    assert lines[1].split()[0] == "ok" and "RapidOCR" in lines[1]
    assert r.returncode == 0, r.stdout  # photos are still processed


@pytest.mark.ocr
def test_bench_prints_medians_and_budget_ratios(cli, profile_path):
    r = cli("bench", "--runs", "1", "--profile", str(profile_path))
    assert r.returncode == 0, r.stderr
    for text in ("classifier alone", "12MP 4032x3024", "median ms", "photos/s", "peak RSS MB",
                 "cold start to ready s", "plate read on a crop", "per refined box",
                 "peak RSS MB of a fresh device process (every model loaded"):
        assert text in r.stdout
