"""A per-connection limit on messages a client may send: `limit` in any `window` seconds."""

from __future__ import annotations

import time
from collections import deque


class SlidingWindowLimit:
    def __init__(self, limit: int, window: float = 60.0, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._times: deque[float] = deque()

    def allow(self) -> bool:
        """Count one message; False once more than `limit` arrived within the window."""
        now = self.clock()
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True
