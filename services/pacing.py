"""Sender pacing rows: creating them, and waking an idle one when new work arrives."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.models import Sender

#: next_alert_at of a sender with no alert text waiting: the dispatcher's due-sender scan skips it.
IDLE_SLOT = datetime(3000, 1, 1, tzinfo=UTC)


def ensure_sender(session: Session, key: str, now: datetime) -> None:
    """Create the pacing row of a sender the first time it is used, else wake it if idle."""
    if session.scalars(select(Sender.id).where(Sender.key == key)).first() is None:
        session.add(Sender(key=key, next_alert_at=now, next_any_at=now))
        session.flush()
    else:
        wake_sender(session, key, now)


def wake_sender(session: Session, key: str, at: datetime) -> None:
    """An idle sender has alert work again from `at`; a sender with a real next slot keeps it."""
    session.execute(
        update(Sender).where(Sender.key == key, Sender.next_alert_at >= IDLE_SLOT).values(next_alert_at=at)
    )
