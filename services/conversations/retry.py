"""Run a short transaction again when PostgreSQL aborted it for a deadlock or a serialization failure.

Inbound replies and the Slack relay touch the same conversation rows at the same moment (a burst of
replies from one number while earlier ones are being posted). Both sides take row locks in one order
(message ids ascending), and when PostgreSQL still picks a transaction as a deadlock victim
(SQLSTATE 40P01) or cannot serialize it (40001), the whole transaction is rolled back, so running it
again from the start is safe: a Twilio webhook must not answer 500 for it (Twilio does not retry).
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError

T = TypeVar("T")
P = ParamSpec("P")

log = logging.getLogger(__name__)

#: PostgreSQL's SQLSTATE for deadlock_detected and serialization_failure.
CONFLICT_STATES = frozenset({"40P01", "40001"})
#: Attempts in all, and the longest pause between two (seconds, jittered so the victims do not collide again).
ATTEMPTS = 6
MAX_PAUSE = 0.2


def conflicted(error: BaseException) -> bool:
    """Whether `error` is a deadlock or serialization failure the database rolled back."""
    if not isinstance(error, DBAPIError):
        return False
    state = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return state in CONFLICT_STATES


def retrying(func: Callable[[], T], what: str) -> T:
    """`func()` (one whole transaction), run again on a deadlock or serialization failure.

    Raises the last error after ATTEMPTS tries, and any other error at once.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return func()
        except DBAPIError as error:
            if not conflicted(error) or attempt == ATTEMPTS:
                raise
            log.info("%s: %s; trying again (%d)", what, type(error.orig).__name__, attempt)
            time.sleep(random.uniform(0, min(MAX_PAUSE, 0.01 * 2**attempt)))
    raise AssertionError("unreachable")


def retried(func: Callable[P, T]) -> Callable[P, T]:
    """`func` (which runs one whole transaction) run again on a deadlock or serialization failure."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return retrying(lambda: func(*args, **kwargs), func.__name__)

    return run
