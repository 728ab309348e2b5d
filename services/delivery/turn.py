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

A stamp may lie a little in the future: the turn reserves the instant it will send at (`now` plus the
time its commits have recently taken, or the previous stamp + gap when that is at most
`RESERVE_AHEAD` away), commits, sleeps to that instant and sends. So a slow commit on a loaded machine
no longer means a second transaction (which, under load, is slow too: the loop used to collapse
throughput), and a text whose predecessor left late reserves its own later slot in the same transaction.

Each turn is two to four statements in one transaction, built once at import (bound parameters, Core
tables: no ORM flush, no per-call statement construction or cache-key traversal; the profile of a
1,000-clinic run had 36 % of the worker's CPU in building `_check`).
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, and_, bindparam, case, exists, select, update

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
    UTCDateTime,
)
from services.recipients import NOT_UPCOMING

#: Give up taking the turn after this many tries (the text stays claimed; its lease brings it back).
MAX_TRIES = 1000
#: How far ahead a turn may reserve its sending instant in one transaction (else it sleeps, then tries).
RESERVE_AHEAD = timedelta(seconds=0.25)
#: The longest lead a turn adds for its own commit (seconds): beyond it the machine is overloaded anyway.
MAX_LEAD_SECONDS = 0.5

_WHEN = UTCDateTime()
_DELIVERIES = cast(Table, AlertDelivery.__table__)
_SENDERS = cast(Table, Sender.__table__)
_D = AlertDelivery.__table__.c
_A = MassAlert.__table__.c
_C = Client.__table__.c
_P = Appointment.__table__.c
_PAT = Patient.__table__.c
_S = Sender.__table__.c

_IN_RANGE = and_(
    _P.clinic_id == _A.clinic_id,
    _P.client_id == _D.client_id,
    _P.start_at >= _A.range_start,
    _P.start_at < _A.range_end,
    _P.status.not_in([str(s) for s in NOT_UPCOMING]),
    ~exists().where(_PAT.id == _P.patient_id, _PAT.deceased.is_(True)),
)
#: Everything the send-time rule needs, for one attempt still in flight; locks the delivery row.
_CHECK = (
    select(
        _A.state,
        _A.cancelled_by,
        _C.opted_out_at,
        _D.lease_until,
        exists().where(_IN_RANGE, _P.start_at > bindparam("now", type_=_WHEN)).label("upcoming"),
        exists().where(_IN_RANGE, _P.start_at <= bindparam("now", type_=_WHEN)).label("started"),
    )
    .select_from(
        AlertDelivery.__table__.join(MassAlert.__table__, _A.id == _D.alert_id).join(
            Client.__table__, _C.id == _D.client_id
        )
    )
    .where(
        _D.id == bindparam("row_id"),
        _D.attempt_id == bindparam("attempt"),
        _D.status == str(DeliveryStatus.SENDING),
    )
    .with_for_update(of=AlertDelivery.__table__)
)
#: The sender's last stamp, locking its row (PostgreSQL; SQLite's BEGIN IMMEDIATE holds the write lock).
_LAST_STAMP = select(_S.last_alert_sent_at).where(_S.key == bindparam("sender")).with_for_update()
#: Stamp the sender; its next alert slot moves to `pushed` unless it is already later.
_STAMP = (
    update(_SENDERS)
    .where(_S.key == bindparam("sender"))
    .values(
        last_alert_sent_at=bindparam("stamp", type_=_WHEN),
        next_alert_at=case(
            (_S.next_alert_at < bindparam("pushed", type_=_WHEN), bindparam("pushed", type_=_WHEN)),
            else_=_S.next_alert_at,
        ),
    )
)
_RENEW = (
    update(_DELIVERIES).where(_D.id == bindparam("row_id")).values(lease_until=bindparam("held", type_=_WHEN))
)
_WITHDRAW = (
    update(_DELIVERIES)
    .where(_D.id == bindparam("row_id"), _D.attempt_id == bindparam("attempt"))
    .values(
        status=str(DeliveryStatus.SKIPPED),
        skip_reason=bindparam("reason"),
        skip_detail=bindparam("detail"),
        lease_until=None,
        final_at=bindparam("now", type_=_WHEN),
        updated_at=bindparam("now", type_=_WHEN),
    )
)
#: Give a withdrawn text's unused slot to the sender's next text (only the slot this text reserved).
_GIVE_BACK = (
    update(_SENDERS)
    .where(
        _S.key == bindparam("sender"),
        _S.next_alert_at > bindparam("earliest", type_=_WHEN),
        _S.next_alert_at <= bindparam("reserved", type_=_WHEN),
    )
    .values(next_alert_at=bindparam("earliest", type_=_WHEN))
)


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


def _check(conn: Connection, job: Job, now: datetime) -> _Check | None:
    """One read of everything the send-time rule needs; None when the row is not this attempt's."""
    row = conn.execute(_CHECK, {"row_id": job.row_id, "attempt": job.attempt_id, "now": now}).first()
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
    """Takes an alert text's turn at its slot (see the module docstring). Shared by the sending threads."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        #: Smoothed time (seconds) from reading `now` to the commit's return, over recent turns.
        self._commit_seconds = 0.0
        self._lock = threading.Lock()

    def lead(self) -> timedelta:
        """How far ahead of `now` a turn reserves its instant: twice the recent commit time (0 in tests)."""
        return timedelta(seconds=min(2 * self._commit_seconds, MAX_LEAD_SECONDS))

    def _observe(self, took: timedelta) -> None:
        with self._lock:
            self._commit_seconds = 0.8 * self._commit_seconds + 0.2 * max(took.total_seconds(), 0.0)

    def take(self, job: Job) -> Turn:
        """Check the send-time rule and stamp the pace, waiting as long as the previous text requires.

        Returns GO when the caller must send now, WITHDRAWN when the row was marked Not sent, GONE when
        the row is no longer this attempt's (settled, or its lease ran out and the reconciler took it).
        While it waits, the text keeps its lease (renewed when half of it is used) so the reconciler
        leaves it alone.
        """
        clock = self.ctx.clock
        gap = alert_gap(job.pace_seconds, self.ctx.config)
        lease = timedelta(seconds=self.ctx.config.lease_seconds)
        held = job.slot_at + lease  # the lease the claim gave this attempt
        tolerance = timedelta(seconds=self.ctx.config.pace_margin_seconds / 2)
        engine: Engine = self.ctx.sessions.kw["bind"]
        mine: datetime | None = None  # our own stamp, when we could not send on it in time
        for _ in range(MAX_TRIES):
            if self.ctx.stopping.is_set():
                return Turn.GONE  # the process stops: the lease brings the text back
            stamp: datetime | None = None
            with engine.begin() as conn:
                last = conn.execute(_LAST_STAMP, {"sender": job.sender_key}).scalar()
                now = clock.now()  # read after any other stamp of this sender committed
                check = _check(conn, job, now)
                if check is None or check.lease_until != held or held <= now:
                    # Settled, or the lease ran out: the reconciler may be looking this attempt up right
                    # now, and only it may decide whether the text left.
                    return Turn.GONE
                withdrawn = _withdrawal(check)
                if withdrawn is not None:
                    self._withdraw(conn, job, withdrawn, now, last, gap)
                    return Turn.WITHDRAWN
                at = now + self.lead()
                if last is not None:
                    # Our own stamp is the latest: moving it later keeps the gap to the text before it.
                    at = max(at, last if last == mine else last + gap)
                if at - now <= RESERVE_AHEAD:
                    stamp = at
                    conn.execute(_STAMP, {"sender": job.sender_key, "stamp": at, "pushed": at + gap})
                if held - max(at, now) < lease / 2:
                    held = max(at, now) + lease
                    conn.execute(_RENEW, {"row_id": job.row_id, "held": held})
            committed = clock.now()
            if stamp is None:  # wake in time to reserve the instant the previous text allows
                clock.sleep(max((at - RESERVE_AHEAD - committed).total_seconds(), 0.001))
                continue
            self._observe(committed - now)
            if stamp > committed:
                clock.sleep((stamp - committed).total_seconds())
            if clock.now() - stamp <= tolerance:
                return Turn.GO
            mine = stamp  # the commit (or the wake-up) was too slow: the stamp would lie; reserve again
        return Turn.GONE

    def _withdraw(
        self,
        conn: Connection,
        job: Job,
        why: tuple[SkipReason, str],
        now: datetime,
        last: datetime | None,
        gap: timedelta,
    ) -> None:
        """Mark the text Not sent, and give its unused slot to the sender's next text."""
        reason, detail = why
        values: dict[str, Any] = {
            "row_id": job.row_id,
            "attempt": job.attempt_id,
            "reason": str(reason),
            "detail": detail,
            "now": now,
        }
        conn.execute(_WITHDRAW, values)
        earliest = now if last is None else max(now, last + gap)
        reserved = job.slot_at + gap
        conn.execute(_GIVE_BACK, {"sender": job.sender_key, "earliest": earliest, "reserved": reserved})
