"""Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter").

Small on purpose: the reconnect loop needs ``next()`` and ``reset()``, not a decorator library.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, base: float = 0.5, cap: float = 60.0, factor: float = 2.0,
                 rng: random.Random | None = None):
        if base <= 0 or cap < base or factor < 1:
            raise ValueError("need 0 < base <= cap and factor >= 1")
        self.base, self.cap, self.factor = base, cap, factor
        self.attempt = 0
        self._rng = rng or random.Random()

    def ceiling(self) -> float:
        """The upper bound of the next delay: min(cap, base * factor**attempt)."""
        return min(self.cap, self.base * self.factor ** min(self.attempt, 64))

    def next(self) -> float:
        """A delay drawn uniformly in [0, ceiling]; the ceiling grows after each call."""
        delay = self._rng.uniform(0, self.ceiling())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
