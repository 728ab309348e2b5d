"""“Send at”: alerts held as `scheduled` until their start time, then started by the dispatcher's tick.

Each due alert is claimed by one conditional UPDATE (state scheduled -> queued), so two dispatchers (two
PostgreSQL workers) or a restart never start it twice, and a crash before the commit leaves it scheduled.
Its recipients are computed when it starts. A clinic whose texting was turned off meanwhile, a range with
nobody left to text, or a message whose merge fields now render over the limit, gets a stopped alert with
the reason (the finalizer shows it on the alert's entry).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from services import alerts
from services.db import read_sessions
from services.errors import DomainError, InvalidInput, NotFound
from services.models import AlertState, Clinic, MassAlert
from services.notify import Notifier
from services.timeranges import format_instant

log = logging.getLogger(__name__)


def start_due(
    sessions: sessionmaker[Session],
    now: datetime,
    notifier: Notifier | None = None,
    *,
    max_chars: int | None = None,
    checkpoint: Callable[[str], None] | None = None,
) -> list[int]:
    """Start every scheduled alert whose start time has come; the ids this call started (stopped ones too).

    `max_chars` is the limit the compose modal enforces (ALERT_MAX_CHARS): a message whose merge fields now
    render longer stops the alert with the reason. A started alert's entry becomes its activity entry (the
    same message, edited); a stopped one's is shown by the finalizer. `checkpoint` is the crash tests'
    fault injection ("starting" before the claim commits, "started" after).
    """
    with read_sessions(sessions)() as session:
        due = session.scalars(
            select(MassAlert.id)
            .where(MassAlert.state == AlertState.SCHEDULED, MassAlert.start_at <= now)
            .order_by(MassAlert.start_at, MassAlert.id)
        ).all()
    started = [alert_id for alert_id in due if _start_one(sessions, alert_id, now, max_chars, checkpoint)]
    for alert_id in started:
        if checkpoint is not None:
            checkpoint("started")
        if notifier is not None and alerts.snapshot(sessions, alert_id, now).state == AlertState.QUEUED:
            alerts.show_entry(sessions, alert_id, notifier, now)
    return started


def _start_one(
    sessions: sessionmaker[Session],
    alert_id: int,
    now: datetime,
    max_chars: int | None,
    checkpoint: Callable[[str], None] | None,
) -> bool:
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
        if checkpoint is not None:
            checkpoint("starting")
        if not clinic.two_way_texting or clinic.sender_key is None:
            _stop(alert, now, f"Texting was turned off for {clinic.name} before this scheduled alert started")
            return True
        alert.sender_key = clinic.sender_key
        try:
            frozen = alerts.freeze_recipients(session, alert, clinic, now, max_chars)
        except alerts.NobodyToText:
            _stop(alert, now, "Nobody in the range could be texted when this scheduled alert started")
            return True
        except InvalidInput as too_long:  # merge fields filled in with today's data: over the limit
            _stop(alert, now, f"Its message was too long when this scheduled alert started. {too_long}")
            return True
        alerts.insert_deliveries(session, alert, *frozen, now)
        log.info("scheduled alert %s started: %d to text", alert_id, len(frozen[0].recipients))
        return True


def _stop(alert: MassAlert, now: datetime, reason: str) -> None:
    alert.state = AlertState.FAILED
    alert.error = reason
    alert.completed_at = now


@dataclass(frozen=True)
class ScheduledAlert:
    """A held alert as `mass-alert scheduled` lists it."""

    id: int
    clinic_id: int
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
            ScheduledAlert(
                a.id, a.clinic_id, name, tz, a.start_at or a.created_at, a.created_by_name, a.message
            )
            for a, name, tz in session.execute(query).all()
        ]


class NotScheduled(DomainError):
    """Cancel of a scheduled alert that is no longer waiting: it started, was cancelled or stopped."""


def cancel_scheduled(sessions: sessionmaker[Session], alert_id: int, *, by_name: str, now: datetime) -> None:
    """Cancel an alert still waiting for its start time (nobody is texted). NotFound for an unknown id;
    NotScheduled, saying what became of it, when it already started, was cancelled or stopped."""
    with sessions() as session, session.begin():
        alert = session.get(MassAlert, alert_id, with_for_update=True)
        if alert is None:
            raise NotFound(f"No mass alert #{alert_id}.")
        name = f"Mass text alert #{alert_id}"
        if alert.state == AlertState.CANCELLED:
            who = f" by {alert.cancelled_by}" if alert.cancelled_by else ""
            raise NotScheduled(f"{name} was already cancelled{who}.")
        if alert.state == AlertState.FAILED and alert.start_at is not None and alert.error:
            raise NotScheduled(f"{name} has already stopped: {alert.error}.")
        if alert.state != AlertState.SCHEDULED:
            when = f" at {format_instant(alert.start_at, alert.clinic.timezone)}" if alert.start_at else ""
            raise NotScheduled(
                f"{name} already started{when}, so it is no longer scheduled. To stop the texts not "
                "sent yet, click Cancel alert on its entry in the channel."
            )
        alerts.cancel_before_start(alert, by_name, now)
