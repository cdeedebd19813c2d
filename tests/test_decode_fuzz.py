"""Property-based: whatever bytes arrive, decode + quality give a result or the project's typed
PhotoError, never another exception. Bounded example counts, derandomised so CI is repeatable;
CLAIM_EDGE_FUZZ_EXAMPLES raises the count for a longer local run."""

import io
import os

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from edge import samples
from edge.config import QualityConfig
from edge.decode import decode_bytes
from edge.errors import CODES, PhotoError
from edge.quality import measure

EXAMPLES = int(os.environ.get("CLAIM_EDGE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

MAGIC = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"BM",
         b"RIFF\x00\x00\x00\x00WEBP", b"GIF89a", b"\x00\x00\x00\x18ftypheic"]


def _encoded() -> dict[str, bytes]:
    img = samples.street_scene(96, 64, seed=5)
    out = {ext: cv2.imencode(f".{ext}", img)[1].tobytes()
           for ext in ("jpg", "png", "tiff", "webp", "bmp")}
    buf = io.BytesIO()
    Image.fromarray(img[:, :, ::-1]).save(buf, "JPEG", progressive=True, exif=b"Exif\x00\x00MM")
    out["progressive.jpg"] = buf.getvalue()
    return out


REAL = _encoded()


def decode_and_measure(data: bytes, name: str) -> None:
    try:
        d = decode_bytes(data, name, max_pixels=4_000_000, classify_side=64, max_decode_mb=32)
    except PhotoError as e:
        assert e.code in CODES
        return
    assert d.small.ndim == 3 and d.small.shape[2] == 3 and d.small.size > 0
    q = measure(d.small, (d.width, d.height), QualityConfig(), damaged=d.damage is not None)
    assert q.ok == (not q.issues)


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data):
    decode_and_measure(data, "x.jpg")


@FUZZ
@given(st.sampled_from(MAGIC), st.binary(max_size=2048))
def test_arbitrary_bytes_behind_an_image_signature(magic, rest):
    decode_and_measure(magic + rest, "x.img")


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(REAL)))
    data = bytearray(REAL[name])
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":  # header fields: sizes, counts, offsets
            data[pos:pos + 4] = draw(st.binary(min_size=4, max_size=4))
        elif kind == "cut":
            del data[pos:pos + draw(st.integers(1, 256))]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "truncate":
            del data[pos:]
    return name, bytes(data)


@FUZZ
@given(mutated())
def test_mutated_real_images(case):
    name, data = case
    decode_and_measure(data, name)


@settings(FUZZ, max_examples=max(1, EXAMPLES // 4))
@given(st.integers(16, 48), st.integers(16, 60000), st.booleans(),
       st.sampled_from(["png", "jpg", "tiff", "webp"]))
def test_extreme_shapes(short, long, tall, ext):
    """Strips like a 30000x16 panorama slice: every stage's resizes must keep a pixel."""
    if ext == "webp":
        long = min(long, 16383)  # the format's limit
    img = np.random.default_rng(long).integers(0, 255, (short, long, 3), np.uint8)
    if tall:
        img = np.ascontiguousarray(img.transpose(1, 0, 2))
    decode_and_measure(cv2.imencode(f".{ext}", img)[1].tobytes(), f"strip.{ext}")


@pytest.mark.parametrize("name", sorted(REAL))
def test_the_unmutated_images_decode(name):
    d = decode_bytes(REAL[name], name, max_pixels=4_000_000, classify_side=64, max_decode_mb=32)
    assert (d.width, d.height) == (96, 64) and d.damage is None
