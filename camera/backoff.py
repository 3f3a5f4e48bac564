"""Reconnect delays: exponential with full jitter, so a restarted site is not stampeded."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    base_s: float = 0.5
    max_s: float = 15.0
    factor: float = 2.0
    attempts: int = 0

    def next_delay(self, rng: random.Random | None = None) -> float:
        ceiling = min(self.max_s, self.base_s * self.factor**self.attempts)
        self.attempts += 1
        r = rng or random
        # "Full jitter" (never below base): spreads reconnects of many cameras over time.
        return r.uniform(self.base_s, max(self.base_s, ceiling))

    def reset(self) -> None:
        self.attempts = 0
