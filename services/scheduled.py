"""“Send at”: alerts held as `scheduled` until their start time, then started by the dispatcher's tick.

Each due alert is claimed by one conditional UPDATE (state scheduled -> queued), so two dispatchers (two
PostgreSQL workers) or a restart never start it twice, and a crash before the commit leaves it scheduled.
Its recipients are computed when it starts. A clinic whose texting was turned off meanwhile, or a range with
nobody left to text, gets a stopped alert with the reason (the finalizer posts and reports it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from services import alerts
from services.db import read_sessions
from services.models import AlertState, Clinic, MassAlert
from services.notify import Notifier

log = logging.getLogger(__name__)


def start_due(sessions: sessionmaker[Session], now: datetime, notifier: Notifier | None = None) -> list[int]:
    """Start every scheduled alert whose start time has come; the ids this call started."""
    with read_sessions(sessions)() as session:
        due = session.scalars(
            select(MassAlert.id)
            .where(MassAlert.state == AlertState.SCHEDULED, MassAlert.start_at <= now)
            .order_by(MassAlert.start_at, MassAlert.id)
        ).all()
    started = [alert_id for alert_id in due if _start_one(sessions, alert_id, now)]
    for alert_id in started:
        if notifier is not None:
            alerts.start_notification(sessions, alert_id, notifier, now)
    return started


def _start_one(sessions: sessionmaker[Session], alert_id: int, now: datetime) -> bool:
    with sessions() as session, session.begin():
        claimed = session.execute(
            update(MassAlert)
            .where(MassAlert.id == alert_id, MassAlert.state == AlertState.SCHEDULED)
            .values(state=AlertState.QUEUED)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE has rowcount
            return False  # another dispatcher started it, or it was cancelled
        alert = session.get(MassAlert, alert_id)
        assert alert is not None
        clinic = session.get(Clinic, alert.clinic_id)
        assert clinic is not None
        if not clinic.two_way_texting or clinic.sender_key is None:
            _stop(alert, now, f"Texting was turned off for {clinic.name} before this scheduled alert started")
            return True
        alert.sender_key = clinic.sender_key
        try:
            frozen = alerts.freeze_recipients(session, alert, clinic, now, None)
        except alerts.NobodyToText:
            _stop(alert, now, "Nobody in the range could be texted when this scheduled alert started")
            return True
        alerts.insert_deliveries(session, alert, *frozen, now)
        return True


def _stop(alert: MassAlert, now: datetime, reason: str) -> None:
    alert.state = AlertState.FAILED
    alert.error = reason
    alert.completed_at = now


@dataclass(frozen=True)
class ScheduledAlert:
    """A held alert as `mass-alert scheduled` lists it."""

    id: int
    clinic_name: str
    timezone: str
    start_at: datetime
    created_by_name: str
    message: str


def list_scheduled(sessions: sessionmaker[Session], clinic_id: int | None = None) -> list[ScheduledAlert]:
    """Alerts waiting for their start time, soonest first (one clinic's, or every clinic's)."""
    with read_sessions(sessions)() as session:
        query = (
            select(MassAlert, Clinic.name, Clinic.timezone)
            .join(Clinic, Clinic.id == MassAlert.clinic_id)
            .where(MassAlert.state == AlertState.SCHEDULED)
            .order_by(MassAlert.start_at, MassAlert.id)
        )
        if clinic_id is not None:
            query = query.where(MassAlert.clinic_id == clinic_id)
        return [
            ScheduledAlert(a.id, name, tz, a.start_at or a.created_at, a.created_by_name, a.message)
            for a, name, tz in session.execute(query).all()
        ]
