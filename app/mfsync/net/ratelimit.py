"""Per-key token buckets, so that no address can make us act more often than a set rate."""

import time
from collections.abc import Callable, Hashable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Allows ``burst`` actions per key at once, then ``rate`` per second; bounded in memory."""

    def __init__(
        self, rate: float, burst: int, *, max_keys: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, when)

    def allow(self, key: Hashable) -> bool:
        """Take a token for ``key``; False when its bucket is empty."""
        now = self._clock()
        tokens, when = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - when) * self.rate)
        if key not in self._buckets and len(self._buckets) >= self._max_keys:
            self._forget_full(now)
            if len(self._buckets) >= self._max_keys:
                return False  # a flood of distinct keys: refuse rather than grow
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        return True

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled completely carries no information: drop it.
        self._buckets = {
            k: (t, w) for k, (t, w) in self._buckets.items()
            if t + (now - w) * self.rate < self.burst
        }
