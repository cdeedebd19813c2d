"""OCR behind a small interface.

An ``OcrEngine`` takes a BGR image and returns typed ``TextLine``s (4-corner box in the image's
pixels, text, score). The only engine shipped is RapidOCR (``edge.ocr.rapid``); results are cached
on disk by the image's sha256 (``OcrCache``) so a photo filed twice is read once.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..result import TextLine

__all__ = ["OcrEngine", "OcrCache", "RawLine", "TextLine", "lines_from_raw", "recover_spaces",
           "open_engine"]


@dataclass(frozen=True)
class RawLine:
    """One recognised line as the engine gave it, with per-character cells when asked for."""
    box: tuple[tuple[float, float], ...]
    text: str
    score: float
    chars: tuple[str, ...] = ()
    char_boxes: tuple[tuple[float, float, float, float], ...] = ()  # x0, y0, x1, y1 per char

    def as_dict(self) -> dict:
        return {"box": [list(p) for p in self.box], "text": self.text, "score": self.score,
                "chars": list(self.chars), "char_boxes": [list(b) for b in self.char_boxes]}

    def shifted(self, dx: float, dy: float) -> "RawLine":
        """The same line in a bigger image whose origin is (-dx, -dy) from this one's."""
        return RawLine(tuple((x + dx, y + dy) for x, y in self.box), self.text, self.score,
                       self.chars, tuple((a + dx, b + dy, c + dx, d + dy)
                                         for a, b, c, d in self.char_boxes))

    @classmethod
    def from_dict(cls, d: dict) -> "RawLine":
        return cls(tuple(tuple(float(v) for v in p) for p in d["box"]), d["text"],
                   float(d["score"]), tuple(d.get("chars", ())),
                   tuple(tuple(float(v) for v in b) for b in d.get("char_boxes", ())))


class OcrEngine(Protocol):
    name: str

    def read_raw(self, image: np.ndarray, det_max_side: int | None = None) -> list[RawLine]: ...


def recover_spaces(line: RawLine, gap_ratio: float = 0.55) -> str:
    """The line's text with the word gaps the recogniser dropped put back.

    A recogniser trained mostly on Chinese may run Latin words together (PP-OCRv4 often did;
    PP-OCRv6 writes most spaces itself); the character cells can still show the gaps. A space is inserted where the gap
    between two character cells exceeds ``gap_ratio`` times the line's median character pitch, or
    where the recogniser itself put one. Without character cells the text is returned as is."""
    chars, boxes = line.chars, line.char_boxes
    if not chars or len(chars) != len(boxes):
        return line.text
    keep = [(c, b) for c, b in zip(chars, boxes) if c != " "]
    if len(keep) < 2:
        return line.text.strip()
    widths = np.array([b[2] - b[0] for _, b in keep], np.float32)
    pitch = float(np.median(np.diff([(b[0] + b[2]) / 2 for _, b in keep]))) if len(keep) > 2 \
        else float(np.median(widths))
    pitch = max(pitch, 1.0)
    out = []
    prev_box = None
    explicit_space = False
    for c, b in zip(chars, boxes):
        if c == " ":
            explicit_space = True
            continue
        if prev_box is not None:
            gap = b[0] - prev_box[2]
            if explicit_space or gap > gap_ratio * pitch:
                out.append(" ")
        out.append(c)
        prev_box, explicit_space = b, False
    return "".join(out)


def lines_from_raw(raw: list[RawLine], min_score: float = 0.5, spaces: bool = True,
                   gap_ratio: float = 0.55) -> list[TextLine]:
    out = []
    for r in raw:
        if r.score < min_score:
            continue
        text = recover_spaces(r, gap_ratio) if spaces else r.text
        # the recogniser's dictionary is mostly Chinese: full-width forms of Latin punctuation
        # ("（M)") come out of it; NFKC folds them to ASCII
        text = " ".join(unicodedata.normalize("NFKC", text).split())
        if text:
            out.append(TextLine(box=r.box, text=text, score=r.score))
    return out


class OcrCache:
    """Raw OCR output on disk, one JSON file per image sha256 (and engine settings key)."""

    def __init__(self, folder: str | Path, key: str = ""):
        self.folder = Path(os.path.expandvars(os.path.expanduser(str(folder))))
        self.key = key

    def _path(self, sha256: str) -> Path:
        name = sha256 if not self.key else f"{sha256}-{self.key}"
        return self.folder / sha256[:2] / f"{name}.json"

    def get(self, sha256: str) -> list[RawLine] | None:
        try:
            data = json.loads(self._path(sha256).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        try:
            return [RawLine.from_dict(d) for d in data["lines"]]
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, sha256: str, lines: list[RawLine]) -> None:
        p = self._path(sha256)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"lines": [ln.as_dict() for ln in lines]}, f)
            os.replace(tmp, p)
        except OSError:
            pass  # a cache that cannot be written is only slower


def settings_key(**settings) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


def open_engine(threads: int = 2, max_side: int = 2000, use_cls: bool = False,
                word_boxes: bool = True, det_max_side: int = 0, rec_model: str = "",
                rec_keys: str = "", det_model: str = "", registry=None) -> OcrEngine:
    """RapidOCR with the recogniser ``rec_model`` (``edge.ocr.models``; "" = the
    profile's default); raises ``OcrModelMissing`` when a model file is not on this machine."""
    from .rapid import RapidOcrEngine
    return RapidOcrEngine(threads=threads, max_side=max_side, use_cls=use_cls,
                          word_boxes=word_boxes, det_max_side=det_max_side, rec_model=rec_model,
                          rec_keys=rec_keys, det_model=det_model, registry=registry)
