"""The README's first run: `claim-edge samples DIR` writes real, redistributable photos, each with
its source and licence recorded, and the shipped models file each under the scenarios it belongs
to, verified (a vehicle, a plate, damage, a VIN, a document)."""

import json

import pytest

from edge.demo_photos import DEMO_DIR, demo_photos

LICENCES = {"MIT", "Apache-2.0", "CC-BY-4.0"}


def test_every_demo_photo_has_a_source_and_a_redistributable_licence():
    photos = demo_photos()
    files = {p.name for p in DEMO_DIR.glob("*.jpg")}
    assert files == {p.file for p in photos}, "a photo without a sources.csv row, or the reverse"
    assert {p.category for p in photos} == {"vehicle", "plate", "damage", "vin", "document"}
    sources_md = (DEMO_DIR / "SOURCES.md").read_text()
    for p in photos:
        assert p.licence in LICENCES and p.source_repo and p.source_path, p.file
        assert f"`{p.file}`" in sources_md
        assert p.path.stat().st_size <= 200_000


@pytest.mark.ocr
def test_demo_is_filed_under_the_right_scenarios_and_verified(cli, tmp_path, profile_path):
    folder = tmp_path / "demo-photos"
    r = cli("samples", str(folder))
    assert r.returncode == 0, r.stderr
    assert "SOURCES.md" in r.stdout and "Apache-2.0" in r.stdout
    r = cli("analyze", "--json", "--profile", str(profile_path), str(folder))
    assert r.returncode == 0, r.stderr
    got = {json.loads(line)["image"].rsplit("/", 1)[-1]: json.loads(line)
           for line in r.stdout.splitlines()}
    for p in demo_photos():
        res = got[p.file]
        assert res["category"]["label"] == p.category and res["category"]["verified"], (p.file, res["category"])
        assert sorted(res["scenarios"]) == sorted(p.scenarios), (p.file, res["scenarios"])
        if p.document:
            assert res["document"]["type"] == p.document, (p.file, res.get("document"))
    assert got["vin-plate.jpg"]["fields"]["vin"] == {**got["vin-plate.jpg"]["fields"]["vin"],
                                                     "value": "TMBJF25L9D6099549", "valid": True}
    # the plate close-up is the plate of the vehicle photo: both read the same (Latin part)
    assert got["plate-closeup.jpg"]["fields"]["plate"]["value"] == "RB7992"
    assert got["vehicle-rear.jpg"]["fields"]["plate"]["value"] == "RB7992"
    invoice = got["invoice-scan.jpg"]
    assert invoice["fields"]["date"]["value"] == "2019-02-16" and invoice["fields"]["date"]["valid"]
