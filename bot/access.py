"""Who may ask the Telegram bot, and how often."""

import time
from collections import deque

from retrieval.settings import Allowlist, Rate


class RateLimit:
    """At most `rate.count` questions per `rate.seconds` for each user, over a sliding window."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self._seen: dict[int, deque[float]] = {}

    def wait(self, user_id: int, now: float | None = None) -> float:
        """Return 0 and count the question if allowed, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        seen = self._seen.setdefault(user_id, deque())
        while seen and seen[0] <= now - self.rate.seconds:
            seen.popleft()
        if len(seen) >= self.rate.count:
            return seen[0] + self.rate.seconds - now
        seen.append(now)
        return 0.0


class Access:
    """The allowlist and the per-user rate limit, checked before any retrieval."""

    def __init__(self, allowed: Allowlist, rate: Rate) -> None:
        self.allowed = allowed
        self.limit = RateLimit(rate)

    def allows(self, user_id: int, username: str | None) -> bool:
        """Return True when the user is on the allowlist (or there is none)."""
        return self.allowed.allows(user_id, username)

    def wait(self, user_id: int) -> float:
        """Return 0 and count the question if the user may ask now, else the seconds to wait."""
        return self.limit.wait(user_id)
