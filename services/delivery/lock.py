"""The single-dispatcher rule on SQLite: a lock row with a heartbeat (PostgreSQL allows several).

SQLite has no `SELECT ... FOR UPDATE SKIP LOCKED`, so two dispatchers on one SQLite file could claim
the same row; the DispatcherLock row keeps it to one (see DESIGN.md, "Scale-out is PostgreSQL").
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from services.db import is_sqlite
from services.errors import DomainError
from services.models import DispatcherLock

#: Seconds without a heartbeat after which another dispatcher may take the lock over.
STALE_AFTER_SECONDS = 15.0


def instance_name() -> str:
    """host:pid of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(holder: str) -> bool:
    """False only when the holder is a process of this host that no longer exists."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire_dispatcher(
    sessions: sessionmaker[Session], holder: str, now: datetime, stale_after: float = STALE_AFTER_SECONDS
) -> None:
    """On SQLite, become the only dispatcher; PostgreSQL allows several.

    Raises DomainError (saying what to do) when another live dispatcher holds a fresh lock.
    """
    engine = sessions.kw["bind"]
    if not is_sqlite(engine):
        return
    with sessions() as session, session.begin():
        lock = session.get(DispatcherLock, "dispatcher")
        if lock is not None and lock.holder != holder:
            fresh = now - lock.heartbeat_at < timedelta(seconds=stale_after)
            if fresh and _alive(lock.holder):
                raise DomainError(
                    f"Another dispatcher ({lock.holder}) is already sending from this SQLite database. "
                    "SQLite supports one dispatcher: stop the other one (or run `mass-alert serve "
                    "--no-worker` beside one `mass-alert worker`), or move to PostgreSQL to run several."
                )
        if lock is None:
            session.add(DispatcherLock(name="dispatcher", holder=holder, heartbeat_at=now))
        else:
            lock.holder, lock.heartbeat_at = holder, now


def heartbeat(sessions: sessionmaker[Session], holder: str, now: datetime) -> None:
    """Keep the dispatcher lock fresh."""
    if not is_sqlite(sessions.kw["bind"]):
        return
    with sessions() as session, session.begin():
        session.execute(
            update(DispatcherLock)
            .where(DispatcherLock.name == "dispatcher", DispatcherLock.holder == holder)
            .values(heartbeat_at=now)
        )


def release_dispatcher(sessions: sessionmaker[Session], holder: str) -> None:
    """Give the lock up on a clean stop."""
    if not is_sqlite(sessions.kw["bind"]):
        return
    with sessions() as session, session.begin():
        lock = session.get(DispatcherLock, "dispatcher")
        if lock is not None and lock.holder == holder:
            session.delete(lock)
