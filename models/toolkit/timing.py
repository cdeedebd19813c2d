"""How long one int8 bundle takes per invoke, measured the same way for every model kind."""
from __future__ import annotations

import time

import numpy as np


def latency_ms(tflite_path, threads=2, runs=50, input_name="image"):
    """Median invoke time of the int8 model through ai_edge_litert's signature runner."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=str(tflite_path), num_threads=threads)
    shape = it.get_input_details()[0]["shape"]
    x = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    runner = it.get_signature_runner()
    for _ in range(5):
        runner(**{input_name: x})
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        runner(**{input_name: x})
        ts.append((time.perf_counter() - t) * 1000)
    return {"median_ms": float(np.median(ts)), "p90_ms": float(np.quantile(ts, 0.9)),
            "threads": threads, "runs": runs}
