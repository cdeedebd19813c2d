"""A release's bundle is unpacked the same way with and without Python's tar extraction filters
(Debian bookworm's Python 3.11.2, as on Raspberry Pi OS, has none): plain files come out, a
member that would escape the folder or is a link is refused and nothing is installed from it."""

import io
import tarfile

import pytest

from edge.bundle import resolve_bundle
from sync.fleet.release import ReleaseError, pack, unpack


def _tar(members: list[tuple[str, bytes | None, str]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(params=["filter", "no-filter"])
def python_tar(request, monkeypatch):
    if request.param == "no-filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no tar extraction filters")  # the other case still runs
    return request.param


def test_a_packed_bundle_unpacks_to_the_same_files(python_tar, tmp_path):
    src = resolve_bundle("box-refiner")
    unpack(pack(src), tmp_path / "out")
    files = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()
                   and not p.name.startswith(".") and "__pycache__" not in p.parts)
    out = tmp_path / "out" / src.name          # a release holds each bundle in a folder of its name
    assert files and sorted(p.relative_to(out).as_posix()
                            for p in out.rglob("*") if p.is_file()) == files
    for f in files:
        assert (out / f).read_bytes() == (src / f).read_bytes()


@pytest.mark.parametrize("member", [("../escaped.txt", b"x", "file"),
                                    ("/tmp/absolute.txt", b"x", "file"),
                                    ("link", None, "symlink")], ids=["dotdot", "absolute", "symlink"])
def test_a_member_outside_the_bundle_is_refused(python_tar, tmp_path, member):
    data = _tar([("manifest.json", b"{}", "file"), member])
    with pytest.raises(ReleaseError, match="refused"):
        unpack(data, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "out" / "link").is_symlink()
