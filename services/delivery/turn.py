"""An alert text's turn at its slot: the send-time rule, then the pace stamp, then (and only then) Twilio.

The article texts "clients with an appointment in the future at the time the text is sent". Recipients
are frozen when the alert is confirmed, and at one text per 12 s a 200-client alert reaches its last
client 40 minutes later, so at each text's slot the client must still have a non-cancelled
appointment in the alert's range that starts after now; otherwise the text is withdrawn (Not sent,
with a plain reason), as it is when the alert was cancelled or the client opted out meanwhile.

The pace is enforced where the text leaves, not where it was claimed: `Sender.last_alert_sent_at` is
stamped, in a committed transaction, immediately before each alert request goes to Twilio, and a stamp
is only taken at least one alert gap (pace + margin) after the sender's previous stamp. A text that
leaves late (a slow Twilio answer before it, a timeout, a restart, a loaded database) therefore pushes
the ones after it instead of letting them catch up, in any process. When the stamping transaction
itself was slow (its commit took longer than half the pace margin), the text takes its own stamp
again, so a stamp never lies more than half the margin before the real request; the other half covers
the request's way to Twilio.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Case, and_, case, exists, select, update
from sqlalchemy.orm import Session

from services.delivery.jobs import ACTIVE, Context, Job
from services.delivery.pacing import alert_gap
from services.models import (
    AlertDelivery,
    AlertState,
    Appointment,
    Client,
    DeliveryStatus,
    MassAlert,
    Patient,
    Sender,
    SkipReason,
)
from services.recipients import NOT_UPCOMING

#: Give up taking the turn after this many tries (the text stays claimed; its lease brings it back).
MAX_TRIES = 1000


class Turn(enum.Enum):
    """What happened at a text's slot."""

    GO = "go"  # stamped: send now
    WITHDRAWN = "withdrawn"  # marked Not sent (cancelled, stopped, opted out, no upcoming appointment)
    GONE = "gone"  # the row is no longer this attempt's (settled or taken by the reconciler)


@dataclass(frozen=True)
class _Check:
    state: str
    cancelled_by: str | None
    opted_out_at: datetime | None
    upcoming: bool
    started: bool
    lease_until: datetime | None


def _check(session: Session, job: Job, now: datetime) -> _Check | None:
    """One read of everything the send-time rule needs; None when the row is not this attempt's."""
    live = Appointment.status.not_in([str(s) for s in NOT_UPCOMING])
    in_range = and_(
        Appointment.clinic_id == MassAlert.clinic_id,
        Appointment.client_id == AlertDelivery.client_id,
        Appointment.start_at >= MassAlert.range_start,
        Appointment.start_at < MassAlert.range_end,
        live,
        ~exists().where(Patient.id == Appointment.patient_id, Patient.deceased.is_(True)),
    )
    row = session.execute(
        select(
            MassAlert.state,
            MassAlert.cancelled_by,
            Client.opted_out_at,
            AlertDelivery.lease_until,
            exists().where(in_range, Appointment.start_at > now).label("upcoming"),
            exists().where(in_range, Appointment.start_at <= now).label("started"),
        )
        .select_from(AlertDelivery)
        .join(MassAlert, MassAlert.id == AlertDelivery.alert_id)
        .join(Client, Client.id == AlertDelivery.client_id)
        .where(
            AlertDelivery.id == job.row_id,
            AlertDelivery.attempt_id == job.attempt_id,
            AlertDelivery.status == DeliveryStatus.SENDING,
        )
        .with_for_update(of=AlertDelivery)
    ).first()
    if row is None:
        return None
    return _Check(
        row.state, row.cancelled_by, row.opted_out_at, bool(row.upcoming), bool(row.started), row.lease_until
    )


def _withdrawal(check: _Check) -> tuple[SkipReason, str] | None:
    """Why the text must not go now (reason, detail), or None when it may."""
    if check.opted_out_at is not None:
        return SkipReason.OPTED_OUT, "Opted out while the alert was sending"
    if check.state == AlertState.CANCELLED:
        return SkipReason.CANCELLED, f"Alert cancelled by {check.cancelled_by}"
    if check.state not in ACTIVE:
        return SkipReason.ALERT_STOPPED, "Alert stopped before this text's turn"
    if not check.upcoming:
        if check.started:
            return SkipReason.APPOINTMENT_STARTED, "Appointment already started at this text's turn"
        return SkipReason.NOT_BOOKED, "No longer booked in this range at this text's turn"
    return None


class TurnTaker:
    """Takes an alert text's turn at its slot (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def take(self, job: Job) -> Turn:
        """Check the send-time rule and stamp the pace, waiting as long as the previous text requires.

        Returns GO when the caller must send now, WITHDRAWN when the row was marked Not sent, GONE when
        the row is no longer this attempt's (settled, or its lease ran out and the reconciler took it).
        While it waits, the text keeps its lease (renewed at each try) so the reconciler leaves it alone.
        """
        clock = self.ctx.clock
        gap = alert_gap(job.pace_seconds, self.ctx.config)
        lease = timedelta(seconds=self.ctx.config.lease_seconds)
        held = job.slot_at + lease  # the lease the claim gave this attempt
        tolerance = timedelta(seconds=self.ctx.config.pace_margin_seconds / 2)
        mine: datetime | None = None  # our own stamp, when its commit was too slow to send on it
        for _ in range(MAX_TRIES):
            stamp: datetime | None = None
            with self.ctx.sessions() as session, session.begin():
                # Lock the sender first (PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write lock),
                # so `now` is read after any other stamp of this sender committed.
                last = session.scalar(
                    select(Sender.last_alert_sent_at).where(Sender.key == job.sender_key).with_for_update()
                )
                now = clock.now()
                check = _check(session, job, now)
                if check is None or check.lease_until != held or held <= now:
                    # Settled, or the lease ran out: the reconciler may be looking this attempt up right
                    # now, and only it may decide whether the text left.
                    return Turn.GONE
                withdrawn = _withdrawal(check)
                if withdrawn is not None:
                    self._withdraw(session, job, withdrawn, now, last, gap)
                    return Turn.WITHDRAWN
                if last is None or last + gap <= now or (mine is not None and last == mine):
                    stamp = now  # (moving our own stamp later keeps the gap to the text before)
                    session.execute(
                        update(Sender)
                        .where(Sender.key == job.sender_key)
                        .values(last_alert_sent_at=now, next_alert_at=_pushed(now + gap))
                    )
                held = now + lease
                session.execute(
                    update(AlertDelivery).where(AlertDelivery.id == job.row_id).values(lease_until=held)
                )
            if stamp is None:
                assert last is not None
                clock.sleep(max((last + gap - clock.now()).total_seconds(), 0.001))
                continue
            if clock.now() - stamp <= tolerance:
                return Turn.GO
            mine = stamp  # the commit took too long: the stamp would lie before the request; take it again
        return Turn.GONE

    def _withdraw(
        self,
        session: Session,
        job: Job,
        why: tuple[SkipReason, str],
        now: datetime,
        last: datetime | None,
        gap: timedelta,
    ) -> None:
        """Mark the text Not sent, and give its unused slot to the sender's next text."""
        reason, detail = why
        session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id == job.row_id, AlertDelivery.attempt_id == job.attempt_id)
            .values(
                status=DeliveryStatus.SKIPPED,
                skip_reason=reason,
                skip_detail=detail,
                lease_until=None,
                final_at=now,
                updated_at=now,
            )
        )
        earliest = now if last is None else max(now, last + gap)
        session.execute(
            update(Sender)
            .where(
                Sender.key == job.sender_key,
                Sender.next_alert_at > earliest,
                Sender.next_alert_at <= job.slot_at + gap,  # only the slot this text reserved
            )
            .values(next_alert_at=earliest)
        )


def _pushed(value: datetime) -> Case[datetime]:
    """SQL: the later of the sender's next alert slot and `value` (portable: CASE, not GREATEST)."""
    return case((Sender.next_alert_at < value, value), else_=Sender.next_alert_at)
