"""RapidOCR (``rapidocr`` 3.10, ONNX Runtime engine) as an ``OcrEngine``.

Every model file is named by path (``edge.ocr.models``): the detector from the wheel, the
recogniser from its bundle, so RapidOCR never looks for a default or downloads one. The
direction classifier is never loaded (``use_cls`` off). ONNX Runtime's intra-op threads come from
the profile, inter-op is 1, and its CPU memory arena is off (RapidOCR's default): the arena keeps
the largest detector input's buffers for the life of the process.

One RapidOCR object per (recogniser, threads) serves documents, VIN crops and plates (its models
load on first use: the plate reader never loads the detector), behind one lock: RapidOCR keeps
per-call settings on the object.

Memory and time of a page read (``edge.memory`` has the measurements): the detector runs with
glibc's mmap threshold at 128 KiB (its tensors, up to 165 MB on a page, go back when freed), the
recogniser, which runs many times a page, at 1 MiB (its large blocks go back, the small ones are
reused), the heap is trimmed after each read, and the recogniser takes 2 lines a run (6:
each run's tensors three times as large, for no gain in time on 2 cores)."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache

import numpy as np

from ..memory import LEAN_MMAP_THRESHOLD, lean_heap, trim_heap
from . import RawLine
from .models import RecogniserFiles, detector_files, rec_model_files

log = logging.getLogger(__name__)
NAME = "rapidocr"
REC_BATCH = 2                         # text lines per recogniser run (RapidOCR's default: 6)
DET_MMAP_THRESHOLD = LEAN_MMAP_THRESHOLD
REC_MMAP_THRESHOLD = 1 << 20          # see the module's docstring


def rapidocr_version() -> str:
    try:
        from importlib.metadata import version
        return version("rapidocr")
    except Exception:  # noqa: BLE001 - metadata missing in odd installs
        return "unknown"


class SharedRapidOcr:
    """A RapidOCR object and the lock every caller holds while it runs."""

    def __init__(self, rec: RecogniserFiles, threads: int, det: RecogniserFiles | None = None):
        self.rec = rec
        self.det = det
        self.threads = max(1, int(threads))
        self.lock = threading.Lock()
        self._ocr = None
        self.det_rule = (736, "min")

    def get(self):
        """The RapidOCR object (built on first use); call with ``lock`` held."""
        if self._ocr is None:
            params = {
                "Global.use_cls": False,
                "Global.log_level": "error",   # its warning for a photo without text is noise
                "Rec.rec_batch_num": REC_BATCH,
                "Det.model_path": self.det.model if self.det else detector_files().model,
                "Rec.model_path": self.rec.model,
                "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                "EngineConfig.onnxruntime.enable_cpu_mem_arena": False,
            }
            if self.rec.dictionary:
                params["Rec.rec_keys_path"] = self.rec.dictionary
            self._ocr = _rapidocr_class()(params=params)
            self.det_rule = (self._ocr.cfg.Det.limit_side_len, self._ocr.cfg.Det.limit_type)
        return self._ocr


@lru_cache(maxsize=1)
def _rapidocr_class():
    from rapidocr import RapidOCR

    class LeanRapidOcr(RapidOCR):
        """RapidOCR whose models are built inside ``lean_heap`` (ONNX Runtime's graph
        optimisation needs transient memory) and run with their own mmap thresholds."""

        def _load_det_model(self):   # RapidOCR builds its models on first use
            with lean_heap():
                return _heap_run(super()._load_det_model(), DET_MMAP_THRESHOLD)

        def _load_rec_model(self):
            with lean_heap():
                return _heap_run(super()._load_rec_model(), REC_MMAP_THRESHOLD)

    return LeanRapidOcr


def _heap_run(model, threshold: int):
    if not isinstance(model.session, _HeapRun):
        model.session = _HeapRun(model.session, threshold)
    return model


class _HeapRun:
    """An inference session run inside ``lean_heap(threshold)``."""

    def __init__(self, session, threshold: int):
        self.session, self.threshold = session, threshold

    def __call__(self, x):
        with lean_heap(self.threshold):
            return self.session(x)

    def __getattr__(self, name):
        return getattr(self.session, name)


@lru_cache(maxsize=4)
def shared(rec: RecogniserFiles, threads: int, det: RecogniserFiles | None = None) -> SharedRapidOcr:
    return SharedRapidOcr(rec, threads, det)


def _with_spaces(text: str, chars: tuple[str, ...], boxes: list) -> tuple[tuple, list]:
    """RapidOCR 3 gives one cell per character without the spaces the recogniser wrote (its
    cells meet edge to edge): put each space back between its neighbours' cells, so that
    ``recover_spaces`` keeps the recogniser's own word gaps."""
    if not chars or " " not in text or "".join(chars) != text.replace(" ", ""):
        return chars, boxes
    out_c, out_b, i = [], [], 0
    for c in text:
        if c == " ":
            if out_c and out_c[-1] != " " and i < len(boxes):
                x = (out_b[-1][2] + boxes[i][0]) / 2
                out_c.append(" ")
                out_b.append((x, out_b[-1][1], x, out_b[-1][3]))
            continue
        out_c.append(chars[i])
        out_b.append(boxes[i])
        i += 1
    return tuple(out_c), out_b


class RapidOcrEngine:
    name = NAME

    def __init__(self, threads: int = 2, max_side: int = 2000, use_cls: bool = False,
                 word_boxes: bool = True, det_max_side: int = 0, rec_model: str = "",
                 rec_keys: str = "", det_model: str = "", registry=None):
        from ..config import OcrConfig
        rec_model = rec_model or OcrConfig.rec_model
        # a missing model fails here; bundles come through the device's registry
        self.rec_files = rec_model_files(rec_model, rec_keys, registry)
        self.det_files = detector_files(det_model, registry)
        self.threads = max(1, int(threads))
        self.max_side = int(max_side)
        self.det_max_side = int(det_max_side)
        if use_cls:
            log.warning("the text direction classifier is not shipped; use_cls ignored")
        self.word_boxes = word_boxes
        self._shared = shared(self.rec_files, self.threads,
                              self.det_files if self.det_files.bundle else None)

    @property
    def models(self) -> list[dict]:
        """The text detector and recogniser this engine runs (kind, name, version, sha256)."""
        return [f.model_used for f in (self.det_files, self.rec_files) if f.used]

    @property
    def version(self) -> str:
        return rapidocr_version()

    def _engine(self):
        return self._shared.get()

    def _ocr_at(self, side: int):
        """The RapidOCR object with its detector input's long side at most ``side`` pixels (0:
        RapidOCR's own rule, at least 736 on the short side). Detection is half of a page's
        OCR time: at 1280 instead of RapidOCR's rule a page photo takes about 25% less."""
        ocr = self._engine()
        ocr.max_side_len = self.max_side
        rule = (side, "max") if side > 0 else self._shared.det_rule
        ocr.cfg.Det.limit_side_len, ocr.cfg.Det.limit_type = rule  # a detector built later
        if ocr.text_det is not None:                                # the one built already
            ocr.text_det.limit_side_len, ocr.text_det.limit_type = rule
        return ocr

    def read_raw(self, image: np.ndarray, det_max_side: int | None = None) -> list[RawLine]:
        """The lines of ``image``; ``det_max_side`` overrides the engine's for this call."""
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        side = self.det_max_side if det_max_side is None else int(det_max_side)
        with self._shared.lock:
            try:
                res = self._ocr_at(side)(np.ascontiguousarray(image), use_det=True,
                                         use_cls=False, use_rec=True,
                                         return_word_box=self.word_boxes,
                                         return_single_char_box=self.word_boxes)
            finally:
                trim_heap()   # the holes the recogniser's smaller blocks left go back too
        boxes, txts, scores = (getattr(res, k, None) for k in ("boxes", "txts", "scores"))
        if boxes is None or txts is None or scores is None:
            return []
        words = getattr(res, "word_results", None) or ()
        if len(words) != len(txts):  # RapidOCR drops lines without cells: no way to pair them
            words = ((),) * len(txts)
        out = []
        for box, text, score, cells in zip(boxes, txts, scores, words):
            chars = tuple(str(c[0]) for c in cells) if self.word_boxes else ()
            cboxes = []
            for c in cells if self.word_boxes else ():
                q = np.asarray(c[2], np.float32).reshape(-1, 2)
                cboxes.append((float(q[:, 0].min()), float(q[:, 1].min()),
                               float(q[:, 0].max()), float(q[:, 1].max())))
            chars, cboxes = _with_spaces(str(text), chars, cboxes)
            out.append(RawLine(tuple((float(x), float(y)) for x, y in box), str(text),
                               float(score), chars, tuple(cboxes)))
        return out

    def read_line(self, crop: np.ndarray) -> list[tuple[str, float]]:
        """The recogniser alone on one cropped text line (no detector)."""
        with self._shared.lock:
            res = self._engine()(np.ascontiguousarray(crop), use_det=False, use_cls=False,
                                 use_rec=True, return_word_box=False,
                                 return_single_char_box=False)
        txts, scores = getattr(res, "txts", None), getattr(res, "scores", None)
        if not txts or scores is None:
            return []
        return [(str(t), float(s)) for t, s in zip(txts, scores)]
