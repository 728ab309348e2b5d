"""Slack's Web API rate limits for the sandbox: tiers per method per workspace, chat.postMessage per channel.

Source: https://docs.slack.dev/apis/web-api/rate-limits — Tier 1 about 1 call a minute, Tier 2 20+,
Tier 3 50+, Tier 4 100+, each per method per workspace; chat.postMessage is special, about one message
a second per channel. A refused call gets HTTP 429 with `Retry-After` in whole seconds.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

#: Calls per minute per method per workspace for each tier.
TIER_LIMITS: dict[int, int] = {1: 1, 2: 20, 3: 50, 4: 100}
#: The tier of each method the sandbox serves (methods not listed are not limited).
METHOD_TIERS: dict[str, int] = {
    "auth.test": 4,
    "chat.update": 3,
    "chat.postEphemeral": 4,
    "chat.getPermalink": 4,
    "conversations.info": 3,
    "conversations.members": 4,
    "conversations.join": 3,
    "conversations.open": 3,
    "users.info": 4,
    "views.open": 4,
    "views.update": 4,
    "views.push": 4,
    "views.publish": 4,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "files.info": 4,
    "apps.uninstall": 1,
}
POST_MESSAGE = "chat.postMessage"


@dataclass(frozen=True)
class Refusal:
    """A call over its limit: how long until one more fits, and the Retry-After Slack would send."""

    wait: float

    @property
    def retry_after(self) -> int:
        """Whole seconds, at least 1 (slack_sdk reads the header as an integer)."""
        return max(1, math.ceil(self.wait))


@dataclass
class RateLimits:
    """Sliding-window limits keyed by (workspace, method) and, for chat.postMessage, the channel.

    `window` is the tier window in seconds (60 as Slack; shrink it in tests), `limits` overrides the
    calls allowed per window for a method, and `post_limit` calls per `post_window` seconds are allowed
    to one channel by chat.postMessage.
    """

    window: float = 60.0
    limits: dict[str, int] = field(default_factory=dict)
    post_limit: int = 1
    post_window: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _seen: dict[tuple[str, ...], deque[float]] = field(default_factory=dict)

    def limit_of(self, method: str) -> tuple[int, float] | None:
        """(calls allowed, window seconds) for `method`, or None when it is not limited."""
        if method == POST_MESSAGE:
            return self.post_limit, self.post_window
        if method in self.limits:
            return self.limits[method], self.window
        tier = METHOD_TIERS.get(method)
        return None if tier is None else (TIER_LIMITS[tier], self.window)

    def check(self, team_id: str, method: str, channel: str | None = None) -> Refusal | None:
        """Count one call now; a Refusal (and nothing counted) when it is over the limit."""
        limit = self.limit_of(method)
        if limit is None:
            return None
        allowed, window = limit
        key = (team_id, method, channel or "") if method == POST_MESSAGE else (team_id, method)
        now = self.clock()
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - window:
            seen.popleft()
        if len(seen) >= allowed:
            return Refusal(seen[0] + window - now)
        seen.append(now)
        return None
