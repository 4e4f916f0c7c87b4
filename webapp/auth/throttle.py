"""Fixed-window counters in Redis (the throttle database), shared by every web process:
attempts per IP, temporary keys per document and per IP, failures on unknown numbers."""
from __future__ import annotations

import redis

_PREFIX = "zp:t:"


class Throttle:
    def __init__(self, url: str) -> None:
        # Once, up front (see webapp.sessions): no connection until the first command.
        self.client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)

    def hit(self, key: str, limit: int, window_s: int) -> bool:
        """Count one more; True while the window's count stays within `limit`."""
        return self.increment(key, window_s) <= limit

    def increment(self, key: str, window_s: int) -> int:
        full = _PREFIX + key
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(full, 0, ex=max(1, window_s), nx=True)  # the window starts with the first hit
            pipe.incr(full)
            _, count = pipe.execute()
        return int(count)

    def count(self, key: str) -> int:
        value = self.client.get(_PREFIX + key)
        return int(value) if value is not None else 0

    def expire(self, key: str, seconds: int) -> None:
        self.client.expire(_PREFIX + key, max(1, seconds))

    def seconds_left(self, key: str) -> int:
        """Seconds until that counter's window ends (at least 1), for Retry-After."""
        return max(1, int(self.client.ttl(_PREFIX + key)))

    def reset(self, key: str) -> None:
        self.client.delete(_PREFIX + key)
