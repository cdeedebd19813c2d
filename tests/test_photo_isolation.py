"""One photo never stops a batch: whatever fails on it (decoder, a stage) becomes that photo's
error and the run goes on; damaged JPEG data is flagged; decodes are bounded by memory."""

import json
import struct
import zlib

import cv2
import numpy as np
import pytest

from edge import samples
from edge.checklist import claim_checklist
from edge.config import ConfigError, load_profile, load_profile_file
from edge.decode import decode_bytes
from edge.errors import PhotoError
from edge.ingest import ingest
from edge.pipeline import Pipeline
from edge.store import Store
from edge.store.schema import CompletenessCheck, Photo

from conftest import ROOT


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def wide_strip_png() -> bytes:
    """30000x16: the quality check's resize to 640 px used to round its height to 0."""
    rng = np.random.default_rng(0)
    return cv2.imencode(".png", rng.integers(0, 255, (16, 30000, 3), np.uint8))[1].tobytes()


def tiny_tiff(width: int, height: int) -> bytes:
    """An uncompressed greyscale TIFF that declares width x height and carries 16 bytes."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 4, 0), (277, 3, 1), (278, 4, height), (279, 4, 16)]
    data_at = 8 + 2 + 12 * len(entries) + 4
    out = b"II*\x00" + struct.pack("<IH", 8, len(entries))
    for tag, kind, value in entries:
        value = data_at if tag == 273 else value
        out += (struct.pack("<HHIHH", tag, kind, 1, value, 0) if kind == 3
                else struct.pack("<HHII", tag, kind, 1, value))
    return out + struct.pack("<I", 0) + b"\x00" * 16


def blank_png(width: int, height: int) -> bytes:
    """A valid, all-black PNG: 120 MP in a few hundred kB (every row compresses to nothing)."""
    z = zlib.compressobj(9)
    row = bytes(1 + 3 * width)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height,
                                                                    8, 2, 0, 0, 0))
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


def damaged_jpeg(seed: int = 3) -> tuple[bytes, bytes]:
    """(good, damaged): the same JPEG with 200 bytes of its scan data zeroed."""
    good = samples.jpeg_bytes(samples.street_scene(640, 480, seed=seed))
    sos = good.find(b"\xff\xda")
    mid = sos + (len(good) - sos) // 2
    return good, good[:mid] + bytes(200) + good[mid + 200:]


def analyze(cli, profile_path, *paths):
    r = cli("analyze", "--json", "--profile", str(profile_path), *map(str, paths))
    return r, [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]


def test_degenerate_images_are_that_photos_result_and_the_batch_goes_on(tmp_path, cli,
                                                                          profile_path):
    files = {"strip.png": wide_strip_png(), "tall.tif": tiny_tiff(2490416, 40),
             "car.jpg": samples.jpeg_bytes(samples.street_scene(640, 480, seed=1)),
             "car2.jpg": samples.jpeg_bytes(samples.street_scene(640, 480, seed=2))}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = [tmp_path / n for n in files]
    r, lines = analyze(cli, profile_path, *paths)
    assert "Traceback" not in r.stderr, r.stderr
    assert [x["image"] for x in lines] == [str(p) for p in paths]
    by = dict(zip(files, lines))
    assert by["strip.png"]["ok"] and by["strip.png"]["width"] == 30000
    assert "too_small" in by["strip.png"]["quality"]["issues"]
    assert by["tall.tif"]["error"]["code"] == "image_too_large"
    assert "2490416x40" in by["tall.tif"]["error"]["message"]
    assert by["car.jpg"]["ok"] and by["car2.jpg"]["ok"]
    assert r.returncode == 1

    r = cli("ingest", "--profile", str(profile_path), "--claim", "C-ODD", *map(str, paths))
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1
    assert "tall.tif: FAILED image_too_large" in r.stderr
    profile = load_profile_file(profile_path)
    store = Store.open(profile.store.resolved)
    try:
        assert Photo.select().where(Photo.claim == "C-ODD").count() == 3
        assert CompletenessCheck.select().where(CompletenessCheck.claim == "C-ODD").count() \
            == len(claim_checklist("C-ODD", profile)) > 0
    finally:
        store.close()


def test_a_side_over_the_decoders_limit_is_refused_before_decoding():
    with pytest.raises(PhotoError) as e:
        decode_bytes(tiny_tiff(2490416, 40), "tall.tif", max_pixels=10**9, classify_side=640)
    assert e.value.code == "image_too_large" and "1048576" in e.value.message


class Explodes:
    """A stage that hits an OpenCV assertion on every photo named *bad*."""
    name = "explodes"

    def run(self, ctx):
        if "bad" in ctx.decoded.path:
            cv2.resize(ctx.decoded.small, (0, 0))


def test_an_exception_in_any_stage_is_that_photos_stage_failed(tmp_path, profile_path):
    profile = load_profile_file(profile_path)
    store = Store.open(profile.store.resolved)
    try:
        pipe = Pipeline(profile, stages=[Explodes()])
        paths = []
        for i, name in enumerate(["a.jpg", "bad.jpg", "c.jpg"]):
            p = tmp_path / name
            p.write_bytes(samples.jpeg_bytes(samples.street_scene(640, 480, seed=10 + i)))
            paths.append(str(p))
        summary = ingest(paths, "C-STAGE", pipe, store)
        assert summary.new == 2 and summary.failed == [(paths[1], "stage_failed")]
        result, _ = pipe.analyze(paths[1])
        assert result.error["code"] == "stage_failed"
        assert "stage 'explodes' failed: error:" in result.error["message"]
        assert "resize" in result.error["message"]
        assert CompletenessCheck.select().where(CompletenessCheck.claim == "C-STAGE").count() > 0
    finally:
        store.close()


def test_damaged_jpeg_data_is_flagged_and_sent_to_review(tmp_path, cli, profile_path):
    good, bad = damaged_jpeg()
    (tmp_path / "good.jpg").write_bytes(good)
    (tmp_path / "damaged.jpg").write_bytes(bad)
    r, (g, d) = analyze(cli, profile_path, tmp_path / "good.jpg", tmp_path / "damaged.jpg")
    assert g["ok"] and "corrupt_data" not in g["quality"]["issues"]
    assert d["ok"], d
    assert d["quality"]["ok"] is False and "corrupt_data" in d["quality"]["issues"]
    assert "review" in d["scenarios"]

    decoded = decode_bytes(bad, "damaged.jpg", max_pixels=10**8, classify_side=640)
    assert decoded.damage and "Corrupt JPEG data" in decoded.damage
    assert decode_bytes(good, "good.jpg", max_pixels=10**8, classify_side=640).damage is None


def test_decoded_pixels_are_bounded_by_memory_on_every_profile(tmp_path, cli, profile_path):
    big = blank_png(10950, 10950)  # 119.9 MP, 0.35 MB: under every profile's max_pixels ...
    assert len(big) < 400_000
    path = tmp_path / "big.png"
    path.write_bytes(big)
    for name in ("kiosk-x86", "jetson-orin-nano", "raspberry-pi-4"):
        rt = load_profile(name).runtime
        with pytest.raises(PhotoError) as e:  # ... but not under its memory bound
            decode_bytes(big, "big.png", max_pixels=max(rt.max_pixels, 120_000_000),
                         classify_side=rt.classify_max_side, max_decode_mb=rt.max_decode_mb)
        assert e.value.code == "image_too_large"
        assert "runtime.max_decode_mb" in e.value.message
    r, (line,) = analyze(cli, profile_path, path)
    assert line["error"]["code"] == "image_too_large", line
    assert "686 MB" in line["error"]["message"]
    # a 12 MP photo is well inside every bound
    twelve = samples.jpeg_bytes(samples.street_scene(4032, 3024))
    rt = load_profile("raspberry-pi-4").runtime
    assert decode_bytes(twelve, "12mp.jpg", max_pixels=rt.max_pixels,
                        classify_side=rt.classify_max_side,
                        max_decode_mb=rt.max_decode_mb).width == 4032


def test_max_decode_mb_is_strictly_typed(tmp_path):
    src = (ROOT / "firmware_config" / "kiosk-x86.toml").read_text()
    for bad, says in (('max_decode_mb = "lots"', "expected int"),
                      ("max_decode_mb = 4", "under 16 MB")):
        p = tmp_path / "p.toml"
        p.write_text(src.replace("max_decode_mb = 512", bad))
        with pytest.raises(ConfigError) as e:
            load_profile_file(p)
        assert str(p) in str(e.value) and "max_decode_mb" in str(e.value) and says in str(e.value)
