"""Image decode: sniff the real format, guard against bombs, read EXIF, decode with OpenCV.

Classification runs on a reduced decode (``IMREAD_REDUCED_COLOR_N``: libjpeg scales while
decoding); the full resolution is decoded only when a crop needs it. EXIF orientation is read
with Pillow and applied by us, so reduced and full decodes are rotated the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import simplejpeg
from PIL import Image

from .errors import PhotoError

MIN_SIDE = 16  # below this nothing can be analysed
MAX_SIDE = 1 << 20  # OpenCV's CV_IO_MAX_IMAGE_WIDTH/HEIGHT: a longer side is refused by imdecode
MB = 1024 * 1024
# Peak memory of a full-resolution decode, in bytes per pixel: OpenCV holds about two copies of
# the 8-bit BGR image while it decodes (measured for JPEG, PNG, TIFF, WebP and BMP, 48 MP: peak
# RSS grows by 276 MB for a 137 MB image). Samples wider than 8 bits are counted twice as much.
DECODE_BYTES_PER_PIXEL = 6
WIDE_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}

# Pillow only reads headers and EXIF here; the size guard is ours (profile runtime.max_pixels),
# checked before OpenCV decodes anything, so Pillow's own guard would only hide the declared size.
Image.MAX_IMAGE_PIXELS = None

_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}
_NO_ORIENT = cv2.IMREAD_IGNORE_ORIENTATION

EXIF_ORIENTATION = 0x0112
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
DATETIME_ORIGINAL = 0x9003
DATETIME = 0x0132


def sniff(data: bytes) -> str | None:
    """The image format from its leading bytes, whatever the file is called."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif"):
        return "avif" if data[8:12] == b"avif" else "heic"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


DECODABLE = {"jpeg", "png", "webp", "bmp", "tiff"}
MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "bmp": "image/bmp",
        "tiff": "image/tiff"}


@dataclass(frozen=True)
class Exif:
    orientation: int | None = None
    time: dt.datetime | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None


@dataclass
class DecodedImage:
    """A photo read and checked; ``small`` is the oriented reduced decode (BGR)."""
    path: str
    data: bytes
    sha256: str
    format: str
    width: int            # full resolution, after orientation
    height: int
    exif: Exif
    small: np.ndarray
    damage: str | None = None  # libjpeg's warning about damaged scan data (_decode_jpeg)
    _full: np.ndarray | None = field(default=None, repr=False)
    _half: np.ndarray | None = field(default=None, repr=False)

    @property
    def mime(self) -> str:
        return MIME[self.format]

    def full(self) -> np.ndarray:
        """Full-resolution oriented BGR image, decoded on first use."""
        if self._full is None:
            self._full = self._decode_at(1)
        return self._full

    def _decode_at(self, factor: int) -> np.ndarray:
        if self.format != "jpeg":
            return _decode(self.data, factor, self.exif.orientation)
        w0, h0 = ((self.height, self.width) if self.exif.orientation in (5, 6, 7, 8)
                  else (self.width, self.height))
        return _decode_jpeg(self.data, factor, self.exif.orientation, w0, h0)[0]

    def detail(self, scale: float) -> np.ndarray:
        """The cheapest decode with at least ``scale`` of the full resolution: the reduced one
        already made, a JPEG decoded at half size (about a third of a full 12 MP decode's
        time), or the full image."""
        if self.small.shape[1] >= scale * self.width:
            return self.small
        if scale <= 0.5 and self.format == "jpeg" and self._full is None:
            if self._half is None:
                self._half = self._decode_at(2)
            return self._half
        return self.full()

    def crop(self, x: float, y: float, w: float, h: float, min_width: float = 0) -> np.ndarray:
        """A crop of a region given in full-resolution pixel coordinates (clipped to the image).
        With ``min_width``, from the cheapest decode in which it is at least that many pixels
        wide (``detail``), else at full resolution."""
        img = self.detail(min(1.0, min_width / w)) if min_width and w > 0 else self.full()
        sx, sy = img.shape[1] / self.width, img.shape[0] / self.height
        x0, y0 = max(0, int(x * sx)), max(0, int(y * sy))
        x1 = min(img.shape[1], int(np.ceil((x + w) * sx)))
        y1 = min(img.shape[0], int(np.ceil((y + h) * sy)))
        return img[y0:y1, x0:x1]


def _orient(img: np.ndarray, orientation: int | None) -> np.ndarray:
    if orientation in (None, 1):
        return img
    ops = {
        2: lambda a: cv2.flip(a, 1),
        3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
        4: lambda a: cv2.flip(a, 0),
        5: lambda a: cv2.flip(cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE), 1),
        6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
        7: lambda a: cv2.flip(cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE), 1),
        8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
    }
    op = ops.get(orientation)
    return op(img) if op else img


def _decode(data: bytes, factor: int, orientation: int | None) -> np.ndarray:
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED[factor] | _NO_ORIENT)
    except cv2.error as e:
        raise PhotoError("decode_failed", f"the image decoder refused it: {_first_line(e)}") from None
    except MemoryError:
        raise PhotoError("decode_failed", "not enough memory to decode the image") from None
    if img is None or img.size == 0:
        raise PhotoError("corrupt_image", "the image data is damaged and cannot be decoded")
    return _orient(img, orientation)


def _first_line(e: Exception) -> str:
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    return lines[-1] if lines else type(e).__name__


def _is_damage(e: ValueError) -> bool:
    msg = str(e)
    return "Corrupt JPEG" in msg or "Premature end" in msg


def _decode_jpeg(data: bytes, factor: int, orientation: int | None,
                 width: int, height: int) -> tuple[np.ndarray, str | None]:
    """A JPEG decoded at 1/``factor`` and libjpeg's complaint about its scan data, if any
    ("Corrupt JPEG data: premature end of data segment", "... extraneous bytes before marker").
    OpenCV ignores those warnings and returns the pixels it could make up; simplejpeg (the same
    libjpeg-turbo, pixel for pixel the same output as OpenCV's IMREAD_COLOR and
    IMREAD_REDUCED_COLOR_N) raises them in strict mode, and decodes a full 12 MP photo in half
    OpenCV's time (32 against 65 ms). What simplejpeg cannot do at all is left to OpenCV."""
    kw = dict(colorspace="BGR", min_factor=factor, min_height=-(-height // factor),
              min_width=-(-width // factor))
    damage = None
    try:
        try:
            img = simplejpeg.decode_jpeg(data, strict=True, **kw)
        except ValueError as e:
            if not _is_damage(e):
                raise
            damage = str(e)
            img = simplejpeg.decode_jpeg(data, strict=False, **kw)
    except Exception:  # noqa: BLE001 - OpenCV decodes it or says why (as PhotoError)
        return _decode(data, factor, orientation), damage
    return _orient(img, orientation), damage


def decode_mb(width: int, height: int, mode: str) -> float:
    """Peak memory (MiB) of decoding this image at full resolution, as the stages may."""
    wide = 2 if mode in WIDE_MODES else 1
    return width * height * DECODE_BYTES_PER_PIXEL * wide / MB


def _gps_deg(values, ref) -> float | None:
    try:
        d, m, s = (float(v) for v in values)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    deg = d + m / 60 + s / 3600
    return -deg if ref in ("S", "W") else deg


def _read_exif(pil: Image.Image) -> Exif:
    if pil.format == "PNG" and "exif" not in pil.info:
        # Pillow would decode every pixel looking for an eXIf chunk after the image data
        # (1 GB for a 0.35 MB PNG of 120 MP); such a chunk is rare and ignored.
        return Exif()
    try:
        exif = pil.getexif()
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the photo
        return Exif()
    orientation = exif.get(EXIF_ORIENTATION)
    orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else None
    when = None
    try:
        raw = exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL) or exif.get(DATETIME)
        if isinstance(raw, str):
            when = dt.datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except (ValueError, KeyError, TypeError):
        when = None
    lat = lon = None
    try:
        gps = exif.get_ifd(GPS_IFD)
        if gps:
            lat = _gps_deg(gps.get(2), gps.get(1))
            lon = _gps_deg(gps.get(4), gps.get(3))
    except (KeyError, TypeError, ValueError):
        pass
    return Exif(orientation=orientation, time=when, gps_lat=lat, gps_lon=lon)


def read_file(path: str | Path, max_bytes: int) -> bytes:
    p = Path(path)
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise PhotoError("unreadable", f"not a regular file: {p}")
        if size > max_bytes:
            raise PhotoError("file_too_large",
                             f"{size / 1e6:.1f} MB is over the limit of {max_bytes / 1e6:.0f} MB")
        with open(p, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise PhotoError("not_found", f"no such file: {p}") from None
    except PermissionError:
        raise PhotoError("unreadable", f"permission denied: {p}") from None
    except IsADirectoryError:
        raise PhotoError("unreadable", f"is a directory: {p}") from None
    except OSError as e:
        raise PhotoError("unreadable", f"cannot read {p}: {e.strerror or e}") from None
    if not data:
        raise PhotoError("empty_file", "the file is empty (0 bytes)")
    return data


def decode_bytes(data: bytes, path: str, *, max_pixels: int, classify_side: int,
                 max_decode_mb: float | None = None) -> DecodedImage:
    """Check and decode one image. Raises PhotoError only, whatever the bytes."""
    fmt = sniff(data)
    suffix = Path(path).suffix.lower().lstrip(".")
    named = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp", "heic": "heic"}.get(suffix)
    if fmt is None:
        raise PhotoError("not_an_image", "the file is not an image (unknown leading bytes)")
    if fmt not in DECODABLE:
        as_named = f" (named .{suffix})" if named and named != fmt else ""
        raise PhotoError("unsupported_format",
                         f"{fmt.upper()} image{as_named} cannot be decoded on this device; "
                         "export it as JPEG or PNG")
    if fmt == "jpeg" and b"\xff\xd9" not in data[-65536:]:
        raise PhotoError("truncated_image", "JPEG has no end-of-image marker: the file is cut short")
    if fmt == "png" and b"IEND" not in data[-64:]:
        raise PhotoError("truncated_image", "PNG has no IEND chunk: the file is cut short")

    try:
        pil = Image.open(io.BytesIO(data))
        w0, h0 = pil.size
        mode = pil.mode
        exif = _read_exif(pil)
    except Exception as e:  # noqa: BLE001 - Pillow's parsers raise many types on damaged headers
        raise PhotoError("corrupt_image", f"cannot read the image header: {e}") from None
    if w0 * h0 > max_pixels:
        raise PhotoError("image_too_large",
                         f"declared size {w0}x{h0} ({w0 * h0 / 1e6:.0f} MP) is over the limit "
                         f"of {max_pixels / 1e6:.0f} MP")
    need = decode_mb(w0, h0, mode)
    if max_decode_mb is not None and need > max_decode_mb:
        raise PhotoError("image_too_large",
                         f"declared size {w0}x{h0} ({w0 * h0 / 1e6:.0f} MP) needs about "
                         f"{need:.0f} MB to decode, over this device's limit of "
                         f"{max_decode_mb:g} MB (runtime.max_decode_mb)")
    if max(w0, h0) > MAX_SIDE:
        raise PhotoError("image_too_large", f"declared size {w0}x{h0}: a side over "
                                            f"{MAX_SIDE} px cannot be decoded")
    if min(w0, h0) < MIN_SIDE:
        raise PhotoError("image_too_small",
                         f"{w0}x{h0} is too small to analyse (at least {MIN_SIDE} px a side)")

    # the reduced decode keeps the short side analysable (a 30000x16 strip stays 16 px high)
    factor = 1
    while (factor < 8 and max(w0, h0) // (factor * 2) >= classify_side
           and min(w0, h0) // (factor * 2) >= MIN_SIDE):
        factor *= 2
    damage = None
    if fmt == "jpeg":
        small, damage = _decode_jpeg(data, factor, exif.orientation, w0, h0)
    else:
        small = _decode(data, factor, exif.orientation)
    width, height = (h0, w0) if exif.orientation in (5, 6, 7, 8) else (w0, h0)
    return DecodedImage(path=path, data=data, sha256=hashlib.sha256(data).hexdigest(), format=fmt,
                        width=width, height=height, exif=exif, small=small, damage=damage)


def decode_file(path: str | Path, *, max_bytes: int, max_pixels: int,
                classify_side: int, max_decode_mb: float | None = None) -> DecodedImage:
    data = read_file(path, max_bytes)
    return decode_bytes(data, str(path), max_pixels=max_pixels, classify_side=classify_side,
                        max_decode_mb=max_decode_mb)
