"""RapidOCR (``rapidocr-onnxruntime`` 1.4.x) as an ``OcrEngine``.

Its detection, direction and recognition models ship in the wheel, so first use works offline.
ONNX Runtime's intra-op threads come from the profile; inter-op is 1. The engine is built lazily
on the first photo that needs it, so photos without text never pay for loading it."""

from __future__ import annotations

import logging
import threading

import numpy as np

from . import RawLine

log = logging.getLogger(__name__)


class RapidOcrEngine:
    name = "rapidocr-onnxruntime"

    def __init__(self, threads: int = 2, max_side: int = 2000, use_cls: bool = False,
                 word_boxes: bool = True, det_max_side: int = 0, rec_model: str = "",
                 rec_keys: str = ""):
        from ..config import OcrConfig
        from .models import rec_model_files
        rec_model = rec_model or OcrConfig.rec_model
        self.rec_files = rec_model_files(rec_model, rec_keys)  # a missing model fails here
        self.threads = max(1, int(threads))
        self.max_side = int(max_side)
        self.det_max_side = int(det_max_side)
        self._side = self.det_max_side
        self.use_cls = use_cls
        self.word_boxes = word_boxes
        self._ocr = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        try:
            from importlib.metadata import version
            return version("rapidocr-onnxruntime")
        except Exception:  # noqa: BLE001 - metadata missing in odd installs
            return "unknown"

    def _engine(self):
        if self._ocr is None:
            from rapidocr_onnxruntime import RapidOCR
            rec = {}
            if self.rec_files:
                rec["rec_model_path"] = self.rec_files[0]
                if self.rec_files[1]:
                    rec["rec_keys_path"] = self.rec_files[1]
            self._ocr = RapidOCR(intra_op_num_threads=self.threads, inter_op_num_threads=1,
                                 max_side_len=self.max_side, **rec)
            self._detect_at(self._ocr.text_det)
        return self._ocr

    def _detect_at(self, text_det) -> None:
        """Run the text detector with the image's long side at most ``self._side`` pixels (0:
        RapidOCR's own rule); the lines are still cut from the full image for recognition.
        RapidOCR 1.4 sizes its detector input from the image alone (long side 2000 above 1500
        px), and detection is half of a page's OCR time: at 1024 it drops from ~450 to ~180 ms
        on 2 cores."""
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess
        rule = text_det.get_preprocess

        def preprocess(max_wh):
            if self._side <= 0:
                return rule(max_wh)
            return DetPreProcess(min(self._side, max_wh), "max", text_det.mean, text_det.std)
        text_det.get_preprocess = preprocess

    def read_raw(self, image: np.ndarray, det_max_side: int | None = None) -> list[RawLine]:
        """The lines of ``image``; ``det_max_side`` overrides the engine's for this call."""
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        with self._lock:
            self._side = self.det_max_side if det_max_side is None else int(det_max_side)
            res, _ = self._engine()(np.ascontiguousarray(image), use_cls=self.use_cls,
                                    return_word_box=self.word_boxes)
        out = []
        for item in res or []:
            box = tuple((float(x), float(y)) for x, y in item[0])
            text, score = str(item[1]), float(item[2])
            chars: tuple[str, ...] = ()
            cboxes: tuple = ()
            if self.word_boxes and len(item) >= 5 and item[3] and len(item[3]) == len(item[4]):
                chars = tuple(str(c) for c in item[4])
                cb = []
                for q in item[3]:
                    q = np.asarray(q, np.float32).reshape(-1, 2)
                    cb.append((float(q[:, 0].min()), float(q[:, 1].min()),
                               float(q[:, 0].max()), float(q[:, 1].max())))
                cboxes = tuple(cb)
            out.append(RawLine(box, text, score, chars, cboxes))
        return out
