"""Seeded chaos for the Chatwoot fake: `fake.chaos = Chaos(seed=7, late_s=11)`.

Each request that no queued fault matched draws one outcome: plain failures (500/502/503, the
work not done), 429 with Retry-After, a slow answer, and the two that make at-most-once hard —
the work done and then a 504 from the proxy in front, or the work done and the answer arriving
after the client gave up.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

from tests.fakes.chatwoot import Fault

# Issue 11's mix: shares of all requests.
DEFAULT_MIX = (
    ("500", 0.10),
    ("502", 0.05),
    ("503", 0.05),
    ("429", 0.10),
    ("slow", 0.10),
    ("saved_late", 0.03),
    ("saved_504", 0.15),
)


class Chaos:
    def __init__(self, seed: int, *, late_s: float, mix: tuple[tuple[str, float], ...] = DEFAULT_MIX,
                 slow_s: tuple[float, float] = (1.0, 3.0), retry_after_s: int = 1):
        if sum(share for _, share in mix) > 1:
            raise ValueError("the shares of the mix add up to more than 1")
        self.rng = random.Random(seed)
        self.mix = mix
        self.late_s = late_s
        self.slow_s = slow_s
        self.retry_after_s = retry_after_s
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str) -> Fault | None:
        with self._lock:
            draw, slow = self.rng.random(), self.rng.uniform(*self.slow_s)
            kind = "ok"
            for name, share in self.mix:
                if draw < share:
                    kind = name
                    break
                draw -= share
            self.counts[kind] += 1
        if kind in ("500", "502", "503"):
            return Fault.error(int(kind), "injected failure")
        if kind == "429":
            return Fault.error(429, "Too many requests", retry_after=self.retry_after_s)
        if kind == "slow":
            return Fault.slow(slow)
        if kind == "saved_late":
            return Fault.saved_then_late(self.late_s)
        if kind == "saved_504":
            return Fault.saved_then(504)
        return None
