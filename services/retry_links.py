"""How alerts are linked by "Text the N not reached": read by the report and the snapshot (no delivery
imports, so the report module can use it)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.models import MassAlert


def retried_by(session: Session, alert_id: int) -> int | None:
    """The id of the alert retrying this one, if any."""
    return session.scalar(select(MassAlert.id).where(MassAlert.retry_of_alert_id == alert_id).limit(1))


def retry_number(session: Session, alert: MassAlert) -> int:
    """0 for an original alert, 1 for its retry, 2 for the retry's retry..."""
    number, parent = 0, alert.retry_of_alert_id
    while parent is not None and number < 100:
        number += 1
        parent = session.scalar(select(MassAlert.retry_of_alert_id).where(MassAlert.id == parent))
    return number
