"""Classification on the device: the multi-task classifier bundle (model.py), prototype
verification of a label (verify.py) and one story across the category and damage heads
(consistency.py). What the rest of the device uses is named here."""
from .consistency import contradicts, label_heads, reconcile
from .model import Classifier, preprocess
from .verify import cosine, verify

__all__ = ["contradicts", "label_heads", "reconcile", "Classifier", "preprocess", "cosine",
           "verify"]
