"""The exception a sandbox Slack method raises to answer {"ok": false, "error": ...}."""

from __future__ import annotations

from typing import Any


class SlackApiFailure(Exception):
    """Raised inside a method handler: the response becomes {"ok": false, "error": error}."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra
