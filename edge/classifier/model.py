"""The multi-task classifier: one int8 TFLite model, several heads and an embedding."""

from __future__ import annotations

import cv2
import numpy as np

from ..bundle import Bundle, BundleError
from ..inference import TFLiteModel
from ..result import Classification, HeadResult


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def preprocess(bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Stretch-resize to the model input, RGB, float32 0..255, NHWC batch of one. The training
    toolkit uses this very function so device and training see the same pixels."""
    resized = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
    return rgb.astype(np.float32)[None]


class Classifier:
    def __init__(self, bundle: Bundle, threads: int = 2):
        if bundle.kind != "classifier":
            raise BundleError(f"{bundle.path}: kind is '{bundle.kind}', expected 'classifier'")
        self.bundle = bundle
        self.model = TFLiteModel(bundle.model_file, bundle.signature, threads)
        spec = self.model.inputs.get(bundle.input.name)
        if spec is None:
            raise BundleError(f"{bundle.path}/manifest.json: input '{bundle.input.name}' is not in "
                              f"the model (has: {', '.join(self.model.inputs)})")
        self._nchw = len(spec.shape) == 4 and spec.shape[1] == 3 and spec.shape[3] != 3
        h, w = (spec.shape[2], spec.shape[3]) if self._nchw else (spec.shape[1], spec.shape[2])
        if (h, w) != (bundle.input.height, bundle.input.width):
            raise BundleError(f"{bundle.path}/manifest.json: input size "
                              f"{bundle.input.width}x{bundle.input.height} does not match the "
                              f"model's {w}x{h}")
        missing = set(bundle.outputs) - set(self.model.outputs)
        if missing:
            raise BundleError(f"{bundle.path}/manifest.json: outputs {sorted(missing)} are not in "
                              f"the model (has: {', '.join(self.model.outputs)})")

    def classify(self, bgr: np.ndarray) -> Classification:
        x = preprocess(bgr, self.bundle.input.width, self.bundle.input.height)
        if self._nchw:
            x = x.transpose(0, 3, 1, 2)
        raw = self.model.run(**{self.bundle.input.name: x})
        heads: dict[str, HeadResult] = {}
        embedding = None
        for name, spec in self.bundle.outputs.items():
            v = raw[name].reshape(-1)
            if spec.type == "embedding":
                embedding = v
                continue
            probs = softmax(v) if spec.type == "logits" else v
            i = int(np.argmax(probs))
            heads[name] = HeadResult(label=spec.labels[i], score=float(probs[i]),
                                     probs=tuple(float(p) for p in probs))
        return Classification(heads=heads, embedding=embedding)
