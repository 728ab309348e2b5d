"""Claims and pacing: which text goes next on a sender, and when.

The pace rule comes from the article: a clinic's number sends at most one alert text every 12 s
(the seed's default, `MassAlert.pace_seconds`, configurable per clinic through
`Clinic.alert_pace_seconds`), so 10 people take about 2 minutes and the number stays free for normal
conversation texts. Staff replies (the conversation lane) skip that pace and only keep the sender's
hard rate (`DispatchConfig.sender_max_per_second`).

The pace is kept as GCRA slots on the sender's row (`Sender`), advanced in the same transaction as
the claim:

- `next_alert_at`: the earliest slot of the sender's next alert text (`IDLE_SLOT` when none waits);
- `next_any_at`: the earliest slot of any text (the hard rate, both lanes);
- `last_alert_sent_at`: the pace stamp, taken immediately before the sender's last alert request went
  to Twilio (any process; see services.delivery.turn).

An alert text's slot is the latest of now, `next_alert_at`, `next_any_at` and
`last_alert_sent_at + pace + margin`. Quiet hours (issue 14, services.sending_hours): an alert text
whose client's local time at its slot is outside the alert's sending window (and the alert is not
urgent) is not claimed; every pending text of that alert in that client's zone is held until the
window's next opening (`next_attempt_at`, one UPDATE; not an attempt), and the next client in another
zone goes instead. When nobody is left to send, the sender sleeps until the earliest opening (`_park`).
The slot only plans the claim: at the slot the text's turn
(services.delivery.turn) takes the stamp only one pace + margin after the previous one, so two alert
texts of one number never reach Twilio closer than the pace, and a late text pushes the next ones.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, Row, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from services.delivery.jobs import ACTIVE, Context, DispatchConfig, Job, JobKind
from services.delivery.rows import AlertText, StaffReply
from services.models import (
    AlertDelivery,
    AlertState,
    Client,
    Clinic,
    ConversationMessage,
    DeliveryStatus,
    MassAlert,
    MessageStatus,
    Sender,
    SkipReason,
    UTCDateTime,
)
from services.sending_hours import hours_of

log = logging.getLogger(__name__)

#: next_alert_at of a sender with no alert text waiting: the dispatcher's due-sender scan skips it.
IDLE_SLOT = datetime(3000, 1, 1, tzinfo=UTC)
#: How many opted-out clients one claim skips over before giving the sender up for this tick.
MAX_SKIPS_PER_CLAIM = 100


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


def hard_gap(config: DispatchConfig) -> timedelta:
    """The gap between any two texts of one sender: 1 / sender_max_per_second."""
    return timedelta(seconds=1.0 / config.sender_max_per_second)


def alert_gap(pace_seconds: float, config: DispatchConfig) -> timedelta:
    """The gap between two alert texts of one sender: the alert's pace (12 s by default) plus the margin."""
    return timedelta(seconds=pace_seconds + config.pace_margin_seconds)


def next_alert_slot(sender: Sender, pace_seconds: float, now: datetime, config: DispatchConfig) -> datetime:
    """The earliest instant the sender's next alert text may leave (UTC)."""
    slot = max(now, sender.next_alert_at, sender.next_any_at)
    if sender.last_alert_sent_at is not None:
        slot = max(slot, sender.last_alert_sent_at + alert_gap(pace_seconds, config))
    return slot


def claim_ahead(pace_seconds: float, config: DispatchConfig) -> timedelta:
    """How far ahead of its slot an alert text may be claimed: the lookahead, at most a third of the pace.

    A third of the pace (4 s at 12 s) makes sure the text before has gone out first.
    """
    return timedelta(seconds=min(config.lookahead_seconds, pace_seconds / 3))


#: A sender's active alerts, oldest first, with what the claim needs of each (built once: bound parameters).
_SENDER_ALERTS = (
    select(
        MassAlert.id,
        MassAlert.pace_seconds,
        MassAlert.message,
        MassAlert.state,
        MassAlert.urgent,
        MassAlert.sending_hours_start,
        MassAlert.sending_hours_end,
        Clinic.timezone,
    )
    .join(Clinic, Clinic.id == MassAlert.clinic_id)
    .where(MassAlert.sender_key == bindparam("sender"), MassAlert.state.in_(ACTIVE))
    .order_by(MassAlert.id)
)
#: An alert's next pending text due by the horizon (index: alert, status, position), locked, and whether
#: its client has opted out since.
_NEXT_PENDING = (
    select(AlertDelivery, Client.opted_out_at)
    .join(Client, Client.id == AlertDelivery.client_id)
    .where(
        AlertDelivery.alert_id == bindparam("alert"),
        AlertDelivery.status == DeliveryStatus.PENDING,
        or_(
            AlertDelivery.next_attempt_at.is_(None),
            AlertDelivery.next_attempt_at <= bindparam("horizon", type_=UTCDateTime()),
        ),
    )
    .order_by(AlertDelivery.position)
    .limit(1)
    .with_for_update(of=AlertDelivery, skip_locked=True)
)


class Claimer:
    """Claims due texts and advances their senders' slots, one transaction per claim pass."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def claim(self, limit: int | None = None) -> list[Job]:
        """Claim at most `limit` texts whose slot is due within the lookahead (conversation lane first)."""
        config = self.ctx.config
        now = self.ctx.clock.now()
        horizon = now + timedelta(seconds=config.lookahead_seconds)
        limit = config.max_claims_per_tick if limit is None else limit
        if limit <= 0:
            return []
        jobs: list[Job] = []
        with self.ctx.sessions() as session, session.begin():
            # The conversation lane first: senders with a staff text waiting (rare, and a small index scan).
            conv_keys = select(ConversationMessage.sender_key).where(
                ConversationMessage.direction == "outbound",
                ConversationMessage.status == MessageStatus.QUEUED,
                or_(
                    ConversationMessage.next_attempt_at.is_(None),
                    ConversationMessage.next_attempt_at <= horizon,
                ),
            )
            conv_senders = session.scalars(
                select(Sender)
                .where(Sender.key.in_(conv_keys), Sender.next_any_at <= horizon)
                .order_by(Sender.next_any_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for sender in conv_senders:
                if (job := self._claim_conversation(session, sender, now)) is not None:
                    jobs.append(job)
            taken = {sender.id for sender in conv_senders}
            # Then the alert lane: only senders whose next slot is due (idle ones sit at IDLE_SLOT).
            due = session.scalars(
                select(Sender)
                .where(Sender.next_alert_at <= horizon, Sender.next_any_at <= horizon)
                .order_by(Sender.next_alert_at)
                .limit(max(0, limit - len(jobs)))
                .with_for_update(skip_locked=True)
            ).all()
            for sender in due:
                if sender.id in taken:
                    continue
                if (job := self._claim_alert(session, sender, now, horizon)) is not None:
                    jobs.append(job)
        return jobs

    def _claim_conversation(self, session: Session, sender: Sender, now: datetime) -> Job | None:
        """The sender's oldest due staff reply, at the sender's next slot of any kind (no alert pace)."""
        config = self.ctx.config
        msg = session.scalars(
            select(ConversationMessage)
            .where(
                ConversationMessage.sender_key == sender.key,
                ConversationMessage.direction == "outbound",
                ConversationMessage.status == MessageStatus.QUEUED,
                or_(
                    ConversationMessage.next_attempt_at.is_(None), ConversationMessage.next_attempt_at <= now
                ),
            )
            .order_by(ConversationMessage.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if msg is None or msg.to_phone is None:
            return None
        slot = max(now, sender.next_any_at)
        attempt = StaffReply(msg).mark_sending(slot, timedelta(seconds=config.lease_seconds))
        sender.next_any_at = slot + hard_gap(config)
        return Job(JobKind.CONVERSATION, msg.id, attempt, msg.to_phone, msg.body, sender.key, slot)

    def _claim_alert(self, session: Session, sender: Sender, now: datetime, horizon: datetime) -> Job | None:
        """The sender's next alert text (oldest active alert first), or park the sender when none is due."""
        if sender.next_alert_at > horizon:
            return None
        alerts = session.execute(_SENDER_ALERTS, {"sender": sender.key}).all()
        for alert in alerts:
            slot = next_alert_slot(sender, alert.pace_seconds, now, self.ctx.config)
            if slot > now + claim_ahead(alert.pace_seconds, self.ctx.config):
                return None
            job = self._claim_delivery(session, sender, alert, now, horizon)
            if job is not None:
                return job
        self._park(session, sender)
        return None

    def _claim_delivery(
        self, session: Session, sender: Sender, alert: Row[Any], now: datetime, horizon: datetime
    ) -> Job | None:
        """The next due delivery of one alert (index: alert, status, position), claimed for its slot."""
        config = self.ctx.config
        hours = None if alert.urgent else hours_of(alert.sending_hours_start, alert.sending_hours_end)
        if hours is not None and hours.all_day:
            hours = None
        # Skip over clients who opted out since the alert was created, and zones outside the window.
        for _ in range(MAX_SKIPS_PER_CLAIM):
            found = session.execute(_NEXT_PENDING, {"alert": alert.id, "horizon": horizon}).first()
            if found is None:
                return None
            delivery, opted_out_at = found
            if opted_out_at is not None:
                delivery.status = DeliveryStatus.SKIPPED
                delivery.skip_reason = SkipReason.OPTED_OUT
                delivery.skip_detail = "Opted out while the alert was sending"
                delivery.final_at = now
                continue
            slot = next_alert_slot(sender, alert.pace_seconds, now, config)
            if hours is not None:
                tz = delivery.recipient_timezone or alert.timezone
                if not hours.is_open(slot, tz):
                    _hold_zone(session, alert, tz, hours.next_opening(slot, tz))
                    continue
            attempt = AlertText(delivery).mark_sending(slot, timedelta(seconds=config.lease_seconds))
            # GCRA: the next alert slot is one pace after this one, the next slot of any text one hard gap.
            pace = timedelta(seconds=alert.pace_seconds)
            sender.next_alert_at = slot + pace + timedelta(seconds=config.pace_margin_seconds)
            sender.next_any_at = max(sender.next_any_at, slot + hard_gap(config))
            if alert.state == AlertState.QUEUED:
                started = session.execute(
                    update(MassAlert)
                    .where(MassAlert.id == alert.id, MassAlert.state == AlertState.QUEUED)
                    .values(state=AlertState.SENDING, started_at=now)
                )
                if isinstance(started, CursorResult) and started.rowcount:
                    log.info("alert %s started sending from %s", alert.id, sender.key)
            return Job(
                JobKind.ALERT,
                delivery.id,
                attempt,
                delivery.phone_e164 or "",
                delivery.body or alert.message,  # the text rendered for this client (merge fields)
                sender.key,
                slot,
                alert.id,
                alert.pace_seconds,
            )
        return None

    def _park(self, session: Session, sender: Sender) -> None:
        """No alert text is due on this sender: sleep until its earliest retry, or go idle."""
        retry_at = session.scalar(
            select(func.min(AlertDelivery.next_attempt_at))
            .join(MassAlert, MassAlert.id == AlertDelivery.alert_id)
            .where(
                MassAlert.sender_key == sender.key,
                MassAlert.state.in_(ACTIVE),
                AlertDelivery.status == DeliveryStatus.PENDING,
            )
        )
        sender.next_alert_at = IDLE_SLOT if retry_at is None else max(sender.next_alert_at, retry_at)


def _hold_zone(session: Session, alert: Row[Any], tz: str, opening: datetime) -> None:
    """Quiet hours: every pending text of `alert` timed in zone `tz` waits until `opening` (UTC), except
    those already waiting longer (a retry's backoff). One UPDATE; `attempts` is untouched."""
    in_zone = AlertDelivery.recipient_timezone == tz
    if tz == alert.timezone:  # rows from before windows carry no zone: the clinic's
        in_zone = or_(in_zone, AlertDelivery.recipient_timezone.is_(None))
    session.execute(
        update(AlertDelivery)
        .where(
            AlertDelivery.alert_id == alert.id,
            AlertDelivery.status == DeliveryStatus.PENDING,
            in_zone,
            or_(AlertDelivery.next_attempt_at.is_(None), AlertDelivery.next_attempt_at < opening),
        )
        .values(next_attempt_at=opening)
        .execution_options(synchronize_session=False)
    )
    log.info("alert %s: texts to %s held for quiet hours until %s", alert.id, tz, opening.isoformat())
