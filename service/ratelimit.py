"""Rate limits per key (HTTP API, staff sign-in) on the ``limits`` library's moving window.

Each ``WindowLimit`` has its own in-memory storage (one per app instance, never a module global);
the library expires old entries itself, so memory is bounded by the window, and no key is ever
dropped early to make room (a spray of keys cannot reset another key's limit).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


def per_second(rate: float, burst: int) -> RateLimitItem:
    """``rate`` per second with bursts of ``burst``: ``burst`` hits in any ``burst / rate`` seconds.

    The library counts whole seconds, so the window is rounded up, and the amount raised to keep
    the long-run rate (e.g. 20/s with bursts of 40: 40 per 2 s; 10000/s with 5000: 10000 per 1 s).
    """
    window = max(1, math.ceil(burst / rate))
    return RateLimitItemPerSecond(max(burst, round(rate * window)), window)


def per_window(amount: int, seconds: float) -> RateLimitItem:
    """At most ``amount`` hits in any ``seconds`` (whole seconds, rounded up)."""
    return RateLimitItemPerSecond(amount, max(1, math.ceil(seconds)))


class WindowLimit:
    """One moving-window limit, counted separately for each key."""

    def __init__(self, item: RateLimitItem) -> None:
        self.item = item
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, key: str) -> bool:
        """Count one hit for ``key``; False (and not counted) when the limit is reached."""
        return self._limiter.hit(self.item, key)

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may be hit again, 0 when it may be now."""
        if self._limiter.test(self.item, key):
            return 0.0
        reset, _ = self._limiter.get_window_stats(self.item, key)
        return max(reset - time.time(), 0.001)

    def clear(self, key: str) -> None:
        self._limiter.clear(self.item, key)
