"""Background loops while the database is away: back off, and say so once per change.

A loop that runs every 50 ms and logs a full traceback each time the database cannot be reached
writes hundreds of megabytes an hour and hides the one fact that matters. `DatabaseGuard.run` wraps
one pass of a loop: while the database is unreachable it skips passes with a capped exponential
back-off (50 ms doubling to 30 s) and logs one line when the database goes away
("database unreachable: <short reason>; retrying") and one when it is back ("database reachable
again"). Any other error is logged with its traceback, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

T = TypeVar("T")

#: First wait after a failed pass, and the longest (seconds).
FIRST_BACKOFF = 0.05
MAX_BACKOFF = 30.0
#: Contention, not absence: these still get their traceback (and a retry on the next pass).
_CONTENTION = ("database is locked", "deadlock detected", "could not serialize")


def unreachable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be reached (connection refused or lost, file unreadable)."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    text = str(error.orig if isinstance(error, DBAPIError) else error).lower()
    return not any(word in text for word in _CONTENTION)


def short_reason(error: BaseException) -> str:
    """The first line of the driver's message, at most 160 characters."""
    origin = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    lines = str(origin).strip().splitlines()
    first = lines[0].strip() if lines else type(origin).__name__
    return first if len(first) <= 160 else first[:157] + "..."


class DatabaseGuard:
    """Runs passes of background loops, backing off together while the database is unreachable.

    One guard may be shared by several loops of a process (the dispatcher's jobs): once one of them
    finds the database gone, all of them wait. Thread-safe.
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        first: float = FIRST_BACKOFF,
        cap: float = MAX_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = logger
        self.first = first
        self.cap = cap
        self.clock = clock
        self._lock = threading.Lock()
        self._down = False
        self._backoff = 0.0
        self._next_try = 0.0

    @property
    def down(self) -> bool:
        """Whether the last pass found the database unreachable."""
        return self._down

    def run(self, func: Callable[[], T], name: str = "") -> T | None:
        """One pass of `func`; None when skipped (backing off) or failed."""
        with self._lock:
            if self._down and self.clock() < self._next_try:
                return None
        try:
            result = func()
        except Exception as error:
            if unreachable(error):
                self._failed(error)
            else:
                self.log.exception("scheduled job %s failed", name or getattr(func, "__name__", func))
            return None
        self._succeeded()
        return result

    def _failed(self, error: BaseException) -> None:
        with self._lock:
            first = not self._down
            self._down = True
            self._backoff = self.first if first else min(self._backoff * 2, self.cap)
            self._next_try = self.clock() + self._backoff
        if first:
            self.log.warning("database unreachable: %s; retrying", short_reason(error))

    def _succeeded(self) -> None:
        with self._lock:
            was_down, self._down, self._backoff = self._down, False, 0.0
        if was_down:
            self.log.warning("database reachable again")
