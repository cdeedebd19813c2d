"""Inference backends: one small interface over the TFLite interpreters."""

from .interpreter import InterpreterError, TFLiteModel, available_runtime

__all__ = ["InterpreterError", "TFLiteModel", "available_runtime"]
