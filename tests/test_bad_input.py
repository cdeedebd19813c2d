"""Bad input gets a clear per-file error code; the other files are still processed."""

import io
import json
import struct
import zlib

import cv2
import numpy as np
from PIL import Image

from edge import samples

GOOD = samples.jpeg_bytes(samples.street_scene(640, 480))


def png_header_only(width: int, height: int) -> bytes:
    """A well-formed PNG that declares a huge size but carries a tiny compressed stream."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def heic_like() -> bytes:
    return struct.pack(">I", 24) + b"ftypheic" + b"\x00" * 4 + b"mif1heic" + b"\x00" * 200


def webp_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(buf, "WEBP")
    return buf.getvalue()


def analyze(cli, profile_path, *paths):
    r = cli("analyze", "--json", "--profile", str(profile_path), *map(str, paths))
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    return r, lines


def test_each_bad_file_gets_its_code_and_the_run_goes_on(tmp_path, cli, profile_path):
    files = {
        "empty.jpg": b"",
        "truncated.jpg": GOOD[: len(GOOD) // 2],
        "notes.txt": b"this is a shopping list, not a photo\n",
        "heic named.jpg": heic_like(),
        "one_pixel.png": cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes(),
        "bomb.png": png_header_only(30000, 30000),
        "good.jpg": GOOD,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    order = list(files)
    r, lines = analyze(cli, profile_path, *(tmp_path / n for n in order))
    assert r.returncode == 1, r.stderr
    assert [line["image"] for line in lines] == [str(tmp_path / n) for n in order]
    codes = {n: (line["error"]["code"] if not line["ok"] else "ok") for n, line in zip(order, lines)}
    assert codes == {"empty.jpg": "empty_file", "truncated.jpg": "truncated_image",
                     "notes.txt": "not_an_image", "heic named.jpg": "unsupported_format",
                     "one_pixel.png": "image_too_small", "bomb.png": "image_too_large",
                     "good.jpg": "ok"}
    heic = lines[order.index("heic named.jpg")]["error"]["message"]
    assert "HEIC" in heic and ".jpg" in heic
    assert "30000x30000" in lines[order.index("bomb.png")]["error"]["message"]


def test_misnamed_formats_are_decoded_by_content(tmp_path, cli, profile_path):
    png = cv2.imencode(".png", samples.street_scene(640, 480))[1].tobytes()
    (tmp_path / "really_png.jpg").write_bytes(png)
    (tmp_path / "really_webp.jpg").write_bytes(webp_bytes())
    r, lines = analyze(cli, profile_path, tmp_path / "really_png.jpg", tmp_path / "really_webp.jpg")
    assert r.returncode == 0, r.stdout + r.stderr
    assert [x["ok"] for x in lines] == [True, True]
    assert lines[0]["width"] == 640 and lines[1]["width"] == 64


def test_folder_with_unreadable_entries(tmp_path, cli, profile_path):
    d = tmp_path / "photos"
    d.mkdir()
    (d / "a.jpg").write_bytes(GOOD)
    (d / "gone.jpg").symlink_to(tmp_path / "does-not-exist.jpg")
    (d / "sub").mkdir()
    (d / "sub" / "b.jpg").write_bytes(GOOD)
    r, lines = analyze(cli, profile_path, d)
    assert r.returncode == 1
    by_name = {x["image"].rsplit("/", 1)[-1]: x for x in lines}
    assert by_name["a.jpg"]["ok"] and by_name["b.jpg"]["ok"]
    assert by_name["gone.jpg"]["error"]["code"] == "not_found"


def test_path_with_spaces_and_unicode(tmp_path, cli, profile_path):
    p = tmp_path / "Schäden vorne links" / "фото 1 (копия).jpg"
    p.parent.mkdir()
    p.write_bytes(GOOD)
    r, lines = analyze(cli, profile_path, p)
    assert r.returncode == 0, r.stderr
    assert lines[0]["ok"] and lines[0]["image"] == str(p)


def test_exif_orientation_is_applied(tmp_path, cli, profile_path):
    # A landscape sensor image tagged "rotate 90° clockwise" is a portrait photo.
    p = tmp_path / "portrait.jpg"
    p.write_bytes(samples.jpeg_bytes(samples.street_scene(640, 480), orientation=6))
    _, lines = analyze(cli, profile_path, p)
    assert (lines[0]["width"], lines[0]["height"]) == (480, 640)


def test_file_over_the_size_limit(tmp_path, cli, profile_path):
    src = profile_path.read_text().replace("max_file_mb = 64", "max_file_mb = 1")
    profile_path.write_text(src)
    big = tmp_path / "big.jpg"
    big.write_bytes(GOOD + b"\x00" * (2 * 1024 * 1024))
    _, lines = analyze(cli, profile_path, big)
    assert lines[0]["error"]["code"] == "file_too_large"
