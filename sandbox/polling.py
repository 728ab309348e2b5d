"""Waiting for something another thread or process does, with a deadline instead of a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(found: Callable[[], T | None], what: str, timeout: float, interval: float = 0.005) -> T:
    """Poll until `found()` returns something truthy and return it; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = found()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)
