"""Inference backends: one small interface over the TFLite interpreters."""

from .interpreter import (RUNTIME_CHOICES, InterpreterError, TFLiteModel, available_runtime,
                          use_runtime)

__all__ = ["RUNTIME_CHOICES", "InterpreterError", "TFLiteModel", "available_runtime",
           "use_runtime"]
