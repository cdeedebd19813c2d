"""TFLite models behind one interface: LiteRT (``ai-edge-litert``) first, ``tflite_runtime`` as
the fallback when only it is installed. Inputs and outputs are addressed by signature name and
int8 outputs are dequantized here, so callers only ever see float arrays keyed by name."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_RUNTIMES = (("ai-edge-litert", "ai_edge_litert.interpreter"),
             ("tflite-runtime", "tflite_runtime.interpreter"))
RUNTIME_CHOICES = ("auto",) + tuple(name for name, _ in _RUNTIMES)
_chosen = "auto"


class InterpreterError(Exception):
    pass


def use_runtime(choice: str) -> None:
    """The profile's ``runtime.interpreter``: ``auto`` (the first that imports) or one package.
    One interpreter package per process: every model of the process then runs on it."""
    global _chosen
    if choice not in RUNTIME_CHOICES:
        raise InterpreterError(f"unknown interpreter {choice!r} (one of {', '.join(RUNTIME_CHOICES)})")
    _chosen = choice


def available_runtime() -> tuple[str, Any]:
    """(name, module) of the chosen interpreter package, or with ``auto`` the first that imports."""
    errors = []
    for name, module in _RUNTIMES:
        if _chosen not in ("auto", name):
            continue
        try:
            return name, importlib.import_module(module)
        except ImportError as e:
            errors.append(f"{name}: {e}")
    hint = "pip install ai-edge-litert" if _chosen == "auto" else f"pip install {_chosen}, or " \
        "set [runtime] interpreter = \"auto\""
    raise InterpreterError(f"no TFLite interpreter installed ({hint}): " + "; ".join(errors))


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and self.dtype in (np.int8, np.uint8, np.int16)


def _spec(name: str, d: dict) -> TensorSpec:
    scale, zp = d.get("quantization", (0.0, 0))
    return TensorSpec(name=name, shape=tuple(int(s) for s in d["shape"]), dtype=np.dtype(d["dtype"]),
                      scale=float(scale), zero_point=int(zp))


class TFLiteModel:
    """A loaded .tflite model with one signature."""

    def __init__(self, model_path: Path, signature: str = "serving_default", threads: int = 2):
        self.runtime, mod = available_runtime()
        try:
            self._interp = mod.Interpreter(model_path=str(model_path), num_threads=threads)
        except (ValueError, RuntimeError) as e:
            raise InterpreterError(f"{model_path}: cannot load model ({e})") from e
        sigs = self._interp.get_signature_list()
        if signature not in sigs:
            raise InterpreterError(f"{model_path}: no signature '{signature}' "
                                   f"(has: {', '.join(sigs) or 'none'})")
        self._runner = self._interp.get_signature_runner(signature)
        self.inputs = {n: _spec(n, d) for n, d in self._runner.get_input_details().items()}
        self.outputs = {n: _spec(n, d) for n, d in self._runner.get_output_details().items()}

    def run(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        feed = {}
        for name, value in inputs.items():
            spec = self.inputs.get(name)
            if spec is None:
                raise InterpreterError(f"model has no input '{name}' (has: {', '.join(self.inputs)})")
            if spec.quantized:
                q = np.round(value / spec.scale + spec.zero_point)
                info = np.iinfo(spec.dtype)
                value = np.clip(q, info.min, info.max)
            feed[name] = np.ascontiguousarray(value, dtype=spec.dtype)
        raw = self._runner(**feed)
        out = {}
        for name, value in raw.items():
            spec = self.outputs[name]
            if spec.quantized:
                value = (value.astype(np.float32) - spec.zero_point) * spec.scale
            out[name] = np.asarray(value, dtype=np.float32)
        return out
