"""Events API deliveries taken in once: Slack's retries of an event_id are recognised across processes.

Slack retries a delivery it counts as failed (no 2xx within 3 s) up to three times, over about five
minutes, with the same `event_id` (https://docs.slack.dev/apis/events-api, "Retries"). The receipt is a
row keyed by event_id, so several web processes on one database agree on which delivery acts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.models import SlackEventReceipt

#: Receipts older than this are forgotten (Slack's last retry comes about 5 minutes after the first try).
KEEP_RECEIPTS = timedelta(hours=1)
#: Slack's event ids are short (`Ev0123ABCD`); the column holds 64 characters.
MAX_EVENT_ID = 64


def first_delivery(sessions: sessionmaker[Session], event_id: str, now: datetime) -> bool:
    """True the first time `event_id` is seen (the receipt is stored); False for any later delivery.

    Receipts older than KEEP_RECEIPTS are deleted in the same transaction. Raises ValueError for an
    empty or over-long event id (a delivery Slack never sends).
    """
    if not event_id or len(event_id) > MAX_EVENT_ID:
        raise ValueError(f"an Events API event_id has 1 to {MAX_EVENT_ID} characters, got {event_id!r}")
    try:
        with sessions() as session, session.begin():
            session.execute(
                delete(SlackEventReceipt).where(SlackEventReceipt.received_at < now - KEEP_RECEIPTS)
            )
            session.add(SlackEventReceipt(event_id=event_id, received_at=now))
    except IntegrityError:
        return False
    return True
