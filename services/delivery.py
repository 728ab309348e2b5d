"""The outbox: claim due texts per sender (GCRA pacing, conversation lane first), send, reconcile, finish.

Every step is a short transaction. A claim marks a row `sending` with a fresh attempt id and a lease
and advances the sender's next slots in the same transaction, so two dispatchers never take the same
row and a sender's slots never overlap. A send whose outcome is unknown (timeout, 5xx, crash) is put
`in_doubt` and later looked up in the provider's Messages list (or settled by the status callback
naming it); only when the provider has no such message is it queued again.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Row, and_, case, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from services import alerts as alert_service
from services.clock import Clock
from services.db import read_sessions
from services.models import (
    AlertDelivery,
    AlertState,
    Client,
    ConversationMessage,
    DeliveryStatus,
    MassAlert,
    Sender,
    SkipReason,
    sender_parts,
)
from services.notify import Notifier, NullNotifier
from services.pacing import IDLE_SLOT, wake_sender
from services.reports import write_report
from services.sms import ErrorKind, MessageInfo, SendRequest, SmsError, SmsGateway
from services.status import IN_FLIGHT, is_forward, provider_status

log = logging.getLogger(__name__)

ACTIVE = (AlertState.QUEUED, AlertState.SENDING)
NOT_FINAL_HANDED = (DeliveryStatus.ACCEPTED, DeliveryStatus.SENT)


@dataclass(frozen=True)
class DispatchConfig:
    """Tunables of the dispatcher (from Settings in production, small values in tests)."""

    sender_max_per_second: float = 1.0
    lookahead_seconds: float = 0.2
    lease_seconds: float = 20.0
    in_doubt_recheck_seconds: float = 10.0
    max_attempts: int = 8
    completion_grace_seconds: float = 600.0
    progress_interval_seconds: float = 5.0
    poll_interval_seconds: float = 5.0
    public_base_url: str | None = None
    reports_dir: Path = field(default_factory=lambda: Path("reports"))
    max_claims_per_tick: int = 64
    #: Added to every alert gap so the provider never sees two texts closer than the pace (network jitter).
    pace_margin_seconds: float = 0.025


@dataclass(frozen=True)
class Job:
    """One claimed text, ready to go to the provider at `slot_at`."""

    kind: str  # "alert" | "conversation"
    row_id: int
    attempt_id: str
    to: str
    body: str
    sender_key: str
    slot_at: datetime
    alert_id: int | None = None
    pace_seconds: float = 0.0  # the alert's pace; conversation texts have none


class Dispatcher:
    """Claims, sends and settles texts; each public method is one job the scheduler runs."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        gateway: SmsGateway,
        clock: Clock,
        config: DispatchConfig,
        notifier: Notifier | None = None,
        *,
        executor: ThreadPoolExecutor | None = None,
        capacity: int = 16,
        crash_points: Mapping[str, int] | None = None,
    ) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.clock = clock
        self.config = config
        self.notifier: Notifier = notifier or NullNotifier()
        self.executor = executor
        self.capacity = capacity
        self._in_flight = 0
        self._lock = threading.Lock()
        #: Crash tests' fault injection: {"claimed"|"sent"|"stored": n} kills the process the nth time there.
        self.crash_points: dict[str, int] = dict(crash_points or {})
        self._last_done: dict[str, datetime] = {}

    def _checkpoint(self, name: str) -> None:
        """Die here (SIGKILL, no clean-up) when a crash test asked for it."""
        if name not in self.crash_points:
            return
        with self._lock:
            self.crash_points[name] -= 1
            if self.crash_points[name] <= 0:
                log.warning("crash test: killing the process at %r", name)
                os.kill(os.getpid(), signal.SIGKILL)

    # --- claiming -------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.clock.now()

    def claim(self, limit: int | None = None) -> list[Job]:
        """Claim every text whose slot is due within the lookahead; advance the senders' slots."""
        now = self._now()
        horizon = now + timedelta(seconds=self.config.lookahead_seconds)
        limit = self.config.max_claims_per_tick if limit is None else limit
        if limit <= 0:
            return []
        jobs: list[Job] = []
        with self.sessions() as session, session.begin():
            # The conversation lane first: senders with a staff text waiting (rare, and a small index scan).
            conv_keys = select(ConversationMessage.sender_key).where(
                ConversationMessage.direction == "outbound",
                ConversationMessage.status == "queued",
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

    def _hard_gap(self) -> timedelta:
        return timedelta(seconds=1.0 / self.config.sender_max_per_second)

    def _claim_conversation(self, session: Session, sender: Sender, now: datetime) -> Job | None:
        msg = session.scalars(
            select(ConversationMessage)
            .where(
                ConversationMessage.sender_key == sender.key,
                ConversationMessage.direction == "outbound",
                ConversationMessage.status == "queued",
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
        attempt = uuid.uuid4().hex
        msg.status = "sending"
        msg.attempt_id = attempt
        msg.attempts += 1
        msg.requested_at = slot
        msg.lease_until = slot + timedelta(seconds=self.config.lease_seconds)
        sender.next_any_at = slot + self._hard_gap()
        return Job("conversation", msg.id, attempt, msg.to_phone, msg.body, sender.key, slot)

    def _claim_alert(self, session: Session, sender: Sender, now: datetime, horizon: datetime) -> Job | None:
        if sender.next_alert_at > horizon:
            return None
        alerts = session.execute(
            select(MassAlert.id, MassAlert.pace_seconds, MassAlert.message, MassAlert.state)
            .where(MassAlert.sender_key == sender.key, MassAlert.state.in_(ACTIVE))
            .order_by(MassAlert.id)
        ).all()
        for alert in alerts:
            # Claim no further ahead than a third of the pace, so the text before has gone out first.
            ahead = min(self.config.lookahead_seconds, alert.pace_seconds / 3)
            if self._next_slot(sender, alert.pace_seconds, now) > now + timedelta(seconds=ahead):
                return None
            job = self._claim_delivery(session, sender, alert, now, horizon)
            if job is not None:
                return job
        self._park(session, sender)
        return None

    def _next_slot(self, sender: Sender, pace_seconds: float, now: datetime) -> datetime:
        """The earliest instant the sender's next alert text may leave."""
        slot = max(now, sender.next_alert_at, sender.next_any_at)
        if sender.last_alert_sent_at is not None:
            gap = timedelta(seconds=pace_seconds + self.config.pace_margin_seconds)
            slot = max(slot, sender.last_alert_sent_at + gap)
        return slot

    def _claim_delivery(
        self, session: Session, sender: Sender, alert: Row[Any], now: datetime, horizon: datetime
    ) -> Job | None:
        """The next due delivery of one alert (index: alert, status, position), claimed for its slot."""
        for _ in range(100):  # skip over clients who opted out since the alert was created
            delivery = session.scalars(
                select(AlertDelivery)
                .where(
                    AlertDelivery.alert_id == alert.id,
                    AlertDelivery.status == DeliveryStatus.PENDING,
                    or_(AlertDelivery.next_attempt_at.is_(None), AlertDelivery.next_attempt_at <= horizon),
                )
                .order_by(AlertDelivery.position)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if delivery is None:
                return None
            opted_out_at = session.scalar(select(Client.opted_out_at).where(Client.id == delivery.client_id))
            if opted_out_at is not None:
                delivery.status = DeliveryStatus.SKIPPED
                delivery.skip_reason = SkipReason.OPTED_OUT
                delivery.skip_detail = "Opted out while the alert was sending"
                delivery.final_at = now
                continue
            pace = timedelta(seconds=alert.pace_seconds)
            slot = self._next_slot(sender, alert.pace_seconds, now)
            attempt = uuid.uuid4().hex
            delivery.status = DeliveryStatus.SENDING
            delivery.attempt_id = attempt
            delivery.attempts += 1
            delivery.slot_at = slot
            delivery.lease_until = slot + timedelta(seconds=self.config.lease_seconds)
            sender.next_alert_at = slot + pace + timedelta(seconds=self.config.pace_margin_seconds)
            sender.next_any_at = max(sender.next_any_at, slot + self._hard_gap())
            if alert.state == AlertState.QUEUED:
                session.execute(
                    update(MassAlert)
                    .where(MassAlert.id == alert.id, MassAlert.state == AlertState.QUEUED)
                    .values(state=AlertState.SENDING, started_at=now)
                )
            return Job(
                "alert",
                delivery.id,
                attempt,
                delivery.phone_e164 or "",
                alert.message,
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

    # --- sending --------------------------------------------------------------------------

    def callback_url(self, job: Job) -> str | None:
        """Status callback URL naming the row and attempt (None: no public URL, so poll)."""
        if not self.config.public_base_url:
            return None
        key = "d" if job.kind == "alert" else "m"
        return (
            f"{self.config.public_base_url}/twilio/status?{urlencode({key: job.row_id, 'a': job.attempt_id})}"
        )

    def execute(self, job: Job) -> None:
        """Wait for the job's slot, send it, and store what the provider said."""
        self._checkpoint("claimed")
        wait = (job.slot_at - self._now()).total_seconds()
        if wait > 0:
            self.clock.sleep(wait)
        from_, service = sender_parts(job.sender_key)
        request = SendRequest(
            to=job.to,
            body=job.body,
            from_=from_,
            messaging_service_sid=service,
            status_callback=self.callback_url(job),
        )
        if job.kind == "alert":
            withdrawn, stored_last_send = self._preflight(job)
            if withdrawn:
                return
            self._respect_last_send(job, stored_last_send)
        requested = self._now()
        try:
            result = self.gateway.send(request)
        except SmsError as error:
            self._record_error(job, error, requested)
        except Exception as error:
            log.exception("send of %s %s raised", job.kind, job.row_id)
            self._record_error(job, SmsError(ErrorKind.IN_DOUBT, f"Unexpected error: {error}"), requested)
        else:
            self._checkpoint("sent")
            self._record_success(job, result.sid, result.status, requested)
            self._checkpoint("stored")

    def _preflight(self, job: Job) -> tuple[bool, datetime | None]:
        """One read at the slot: (withdrawn?, the sender's last answered send in any process).

        Between claim and slot the alert may have been cancelled or the client opted out: then the text is
        withdrawn (marked Not sent) instead of sent.
        """
        with read_sessions(self.sessions)() as session:
            row = session.execute(
                select(
                    MassAlert.state, MassAlert.cancelled_by, Client.opted_out_at, Sender.last_alert_sent_at
                )
                .select_from(AlertDelivery)
                .join(MassAlert, MassAlert.id == AlertDelivery.alert_id)
                .join(Client, Client.id == AlertDelivery.client_id)
                .join(Sender, Sender.key == MassAlert.sender_key)
                .where(AlertDelivery.id == job.row_id)
            ).first()
        if row is None:
            return False, None
        if row.state in ACTIVE and row.opted_out_at is None:
            return False, row.last_alert_sent_at
        if row.opted_out_at is not None:
            reason, detail = SkipReason.OPTED_OUT, "Opted out while the alert was sending"
        elif row.state == AlertState.CANCELLED:
            reason, detail = SkipReason.CANCELLED, f"Alert cancelled by {row.cancelled_by}"
        else:
            reason, detail = SkipReason.ALERT_STOPPED, "Alert stopped before this text's turn"
        now = self._now()
        with self.sessions() as session, session.begin():
            session.execute(
                update(AlertDelivery)
                .where(
                    AlertDelivery.id == job.row_id,
                    AlertDelivery.attempt_id == job.attempt_id,
                    AlertDelivery.status == DeliveryStatus.SENDING,
                )
                .values(
                    status=DeliveryStatus.SKIPPED,
                    skip_reason=reason,
                    skip_detail=detail,
                    lease_until=None,
                    final_at=now,
                    updated_at=now,
                )
            )
        return True, row.last_alert_sent_at

    def _respect_last_send(self, job: Job, stored: datetime | None) -> None:
        """Wait until the pace has passed since the last send on the sender answered (this or another process)."""
        with self._lock:
            last = self._last_done.get(job.sender_key)
        if stored is not None and (last is None or stored > last):
            last = stored
        if last is None:
            return
        gap = timedelta(seconds=job.pace_seconds + self.config.pace_margin_seconds)
        wait = (last + gap - self._now()).total_seconds()
        if wait > 0:
            self.clock.sleep(wait)

    def _record_success(self, job: Job, sid: str, status: str, requested: datetime) -> None:
        new = provider_status(status)
        with self.sessions() as session, session.begin():
            if job.kind == "conversation":
                session.execute(
                    update(ConversationMessage)
                    .where(
                        ConversationMessage.id == job.row_id, ConversationMessage.attempt_id == job.attempt_id
                    )
                    .values(
                        twilio_sid=sid,
                        requested_at=requested,
                        lease_until=None,
                        status=case(
                            (ConversationMessage.status.in_(("sending", "in_doubt")), new),
                            else_=ConversationMessage.status,
                        ),
                    )
                )
                return
            session.execute(
                update(AlertDelivery)
                .where(AlertDelivery.id == job.row_id, AlertDelivery.attempt_id == job.attempt_id)
                .values(
                    twilio_sid=sid,
                    requested_at=requested,
                    lease_until=None,
                    updated_at=requested,
                    status=case((AlertDelivery.status.in_(IN_FLIGHT), new), else_=AlertDelivery.status),
                )
            )
            self._mark_sent(session, job, requested)

    def _mark_sent(self, session: Session, job: Job, requested: datetime) -> None:
        # The provider had the text by the time it answered: pace the next one from the answer.
        done = self._now()
        with self._lock:
            self._last_done[job.sender_key] = max(done, self._last_done.get(job.sender_key, done))
        session.execute(
            update(Sender)
            .where(Sender.key == job.sender_key)
            .values(
                last_alert_sent_at=case(
                    (or_(Sender.last_alert_sent_at.is_(None), Sender.last_alert_sent_at < done), done),
                    else_=Sender.last_alert_sent_at,
                )
            )
        )
        session.execute(update(MassAlert).where(MassAlert.id == job.alert_id).values(last_sent_at=requested))

    def _record_error(self, job: Job, error: SmsError, requested: datetime) -> None:
        now = self._now()
        model = AlertDelivery if job.kind == "alert" else ConversationMessage
        mine = and_(model.id == job.row_id, model.attempt_id == job.attempt_id)
        code = None if error.code is None else str(error.code)
        with self.sessions() as session, session.begin():
            row = session.scalars(select(model).where(mine).with_for_update()).first()
            if row is None or row.status not in IN_FLIGHT:
                return  # a callback or the reconciler settled it meanwhile
            if job.kind == "alert":
                row.requested_at = requested
            if error.kind == ErrorKind.IN_DOUBT:
                row.status = DeliveryStatus.IN_DOUBT
                row.error_message = error.reason
                row.lease_until = now + timedelta(seconds=self.config.in_doubt_recheck_seconds)
                if job.kind == "alert":
                    self._mark_sent(session, job, requested)
                return
            if error.kind == ErrorKind.RETRY and row.attempts < self.config.max_attempts:
                backoff = error.retry_after or min(2.0**row.attempts, 60.0)
                row.status = "queued" if job.kind == "conversation" else DeliveryStatus.PENDING
                row.next_attempt_at = now + timedelta(seconds=backoff)
                row.lease_until = None
                row.error_code, row.error_message = code, error.reason
                session.execute(
                    update(Sender)
                    .where(Sender.key == job.sender_key)
                    .values(
                        next_any_at=case(
                            (Sender.next_any_at < row.next_attempt_at, row.next_attempt_at),
                            else_=Sender.next_any_at,
                        )
                    )
                )
                if job.kind == "alert":
                    wake_sender(session, job.sender_key, row.next_attempt_at)
                return
            reason = error.reason
            if error.kind == ErrorKind.RETRY:
                reason = f"Gave up after {row.attempts} attempts: {error.reason}"
            row.status = DeliveryStatus.FAILED
            row.error_code, row.error_message = code, reason
            row.lease_until = None
            if job.kind == "alert":
                row.final_at = now
                if error.kind == ErrorKind.CONFIG:
                    self._stop_alert(session, job.alert_id, reason, now)

    def _stop_alert(self, session: Session, alert_id: int | None, reason: str, now: datetime) -> None:
        """A configuration error: no other client can be texted either; stop and say why."""
        alert = session.get(MassAlert, alert_id, with_for_update=True)
        if alert is None or alert.state not in ACTIVE:
            return
        alert.state = AlertState.FAILED
        alert.error = reason
        session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.alert_id == alert_id, AlertDelivery.status == DeliveryStatus.PENDING)
            .values(
                status=DeliveryStatus.SKIPPED,
                skip_reason=SkipReason.ALERT_STOPPED,
                skip_detail=f"Alert stopped: {reason}",
                final_at=now,
                updated_at=now,
            )
        )

    # --- the scheduler's jobs -------------------------------------------------------------

    def tick(self) -> int:
        """Claim what is due and send it (inline without an executor); the number claimed."""
        if self.executor is None:
            jobs = self.claim()
            for job in jobs:
                self.execute(job)
            return len(jobs)
        with self._lock:
            free = self.capacity - self._in_flight
        jobs = self.claim(limit=min(free, self.config.max_claims_per_tick))
        for job in jobs:
            with self._lock:
                self._in_flight += 1
            self.executor.submit(self._run, job)
        return len(jobs)

    def _run(self, job: Job) -> None:
        try:
            self.execute(job)
        except Exception:
            log.exception("sending %s %s failed", job.kind, job.row_id)
        finally:
            with self._lock:
                self._in_flight -= 1

    def reconcile(self) -> int:
        """Settle rows whose outcome is unknown (expired lease or in doubt); poll when there are no callbacks."""
        now = self._now()
        settled = self._reconcile_in_doubt(now) + self._reconcile_conversations(now)
        if not self.config.public_base_url:
            settled += self.poll(now)
        return settled

    def _reconcile_in_doubt(self, now: datetime) -> int:
        with self.sessions() as session, session.begin():
            rows = session.execute(
                select(
                    AlertDelivery.id,
                    AlertDelivery.attempt_id,
                    AlertDelivery.phone_e164,
                    AlertDelivery.slot_at,
                    MassAlert.message,
                    MassAlert.sender_key,
                    AlertDelivery.attempts,
                )
                .join(MassAlert, MassAlert.id == AlertDelivery.alert_id)
                .where(AlertDelivery.status.in_(IN_FLIGHT), AlertDelivery.lease_until < now)
                .limit(50)
                .with_for_update(skip_locked=True, of=AlertDelivery)
            ).all()
            for row in rows:  # take them so no other reconciler looks at the same rows
                session.execute(
                    update(AlertDelivery)
                    .where(AlertDelivery.id == row.id)
                    .values(lease_until=now + timedelta(seconds=self.config.lease_seconds))
                )
        count = 0
        for row in rows:
            from_, service = sender_parts(row.sender_key)
            since = (row.slot_at or now) - timedelta(seconds=5)
            try:
                found = self.gateway.find_sent(row.phone_e164 or "", from_, service, since)
            except SmsError as error:
                log.warning("reconciling delivery %s: %s", row.id, error.reason)
                continue
            match = self._match(found, row.message)
            with self.sessions() as session, session.begin():
                delivery = session.get(AlertDelivery, row.id, with_for_update=True)
                if (
                    delivery is None
                    or delivery.status not in IN_FLIGHT
                    or delivery.attempt_id != row.attempt_id
                ):
                    continue
                if match is not None:
                    self._apply_info(session, delivery, match, now)
                    log.info(
                        "delivery %s was accepted by the provider as %s (found on reconcile)",
                        row.id,
                        match.sid,
                    )
                elif delivery.attempts >= self.config.max_attempts:
                    delivery.status = DeliveryStatus.FAILED
                    delivery.error_message = f"Gave up after {delivery.attempts} attempts"
                    delivery.final_at = now
                else:
                    # The provider has no such message: it never left, so queue it for a fresh slot.
                    delivery.status = DeliveryStatus.PENDING
                    delivery.lease_until = None
                    delivery.next_attempt_at = now
                    wake_sender(session, row.sender_key, now)
            count += 1
        return count

    def _reconcile_conversations(self, now: datetime) -> int:
        """The same for staff replies: found at the provider -> settled, not found -> queued again."""
        with self.sessions() as session, session.begin():
            rows = session.execute(
                select(
                    ConversationMessage.id,
                    ConversationMessage.attempt_id,
                    ConversationMessage.to_phone,
                    ConversationMessage.requested_at,
                    ConversationMessage.body,
                    ConversationMessage.sender_key,
                )
                .where(
                    ConversationMessage.direction == "outbound",
                    ConversationMessage.status.in_(IN_FLIGHT),
                    ConversationMessage.lease_until < now,
                )
                .limit(50)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                session.execute(
                    update(ConversationMessage)
                    .where(ConversationMessage.id == row.id)
                    .values(lease_until=now + timedelta(seconds=self.config.lease_seconds))
                )
        for row in rows:
            from_, service = sender_parts(row.sender_key or "")
            try:
                found = self.gateway.find_sent(
                    row.to_phone or "", from_, service, (row.requested_at or now) - timedelta(seconds=5)
                )
            except SmsError as error:
                log.warning("reconciling conversation text %s: %s", row.id, error.reason)
                continue
            match = self._match(found, row.body)
            with self.sessions() as session, session.begin():
                msg = session.get(ConversationMessage, row.id, with_for_update=True)
                if msg is None or msg.status not in IN_FLIGHT or msg.attempt_id != row.attempt_id:
                    continue
                msg.lease_until = None
                if match is not None:
                    msg.twilio_sid, msg.status = match.sid, provider_status(match.status)
                elif msg.attempts >= self.config.max_attempts:
                    msg.status, msg.error_message = "failed", f"Gave up after {msg.attempts} attempts"
                else:
                    msg.status, msg.next_attempt_at = "queued", now
        return len(rows)

    def _match(self, found: list[MessageInfo], body: str) -> MessageInfo | None:
        candidates = [m for m in found if m.body == body]
        if not candidates:
            return None
        sids = [m.sid for m in candidates]
        with read_sessions(self.sessions)() as session:
            used = set(
                session.scalars(select(AlertDelivery.twilio_sid).where(AlertDelivery.twilio_sid.in_(sids)))
            )
            used |= set(
                session.scalars(
                    select(ConversationMessage.twilio_sid).where(ConversationMessage.twilio_sid.in_(sids))
                )
            )
        fresh = [m for m in candidates if m.sid not in used]
        return fresh[0] if fresh else None

    def _apply_info(
        self, session: Session, delivery: AlertDelivery, info: MessageInfo, now: datetime
    ) -> None:
        new = provider_status(info.status)
        if delivery.twilio_sid is None:
            delivery.twilio_sid = info.sid
        if is_forward(delivery.status, new) or delivery.status in IN_FLIGHT:
            delivery.status = new
            delivery.lease_until = None
            if info.error_code:
                delivery.error_code = str(info.error_code)
                from services.sms import describe

                delivery.error_message = describe(info.error_code)
            if new in (DeliveryStatus.DELIVERED, DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED):
                delivery.final_at = now
        delivery.updated_at = now

    def poll(self, now: datetime) -> int:
        """Without status callbacks: fetch each handed-over message until it is final."""
        cutoff = now - timedelta(seconds=self.config.poll_interval_seconds)
        with read_sessions(self.sessions)() as session:
            rows = session.execute(
                select(AlertDelivery.id, AlertDelivery.twilio_sid)
                .where(
                    AlertDelivery.status.in_(NOT_FINAL_HANDED),
                    AlertDelivery.twilio_sid.is_not(None),
                    AlertDelivery.updated_at <= cutoff,
                )
                .order_by(AlertDelivery.updated_at)
                .limit(100)
            ).all()
        for row_id, sid in rows:
            try:
                info = self.gateway.fetch(sid)
            except SmsError as error:
                log.warning("polling %s: %s", sid, error.reason)
                continue
            with self.sessions() as session, session.begin():
                delivery = session.get(AlertDelivery, row_id, with_for_update=True)
                if delivery is not None:
                    self._apply_info(session, delivery, info, now)
        return len(rows)

    def finalize(self) -> int:
        """Complete alerts whose texts are all settled; post progress for running ones. Returns completions."""
        now = self._now()
        done = 0
        for alert_id, ready in self._finalize_candidates(now):
            try:
                done += self._finalize_one(alert_id, now) if ready else self._progress(alert_id, now)
            except Exception:
                log.exception("finalizing alert %s", alert_id)
        return done

    def _finalize_candidates(self, now: datetime) -> list[tuple[int, bool]]:
        """(alert id, ready to complete?) for alerts that are ready or due a progress update; one read."""
        progress_every = timedelta(seconds=self.config.progress_interval_seconds)
        grace = timedelta(seconds=self.config.completion_grace_seconds)
        with read_sessions(self.sessions)() as session:
            alerts = session.execute(
                select(
                    MassAlert.id,
                    MassAlert.state,
                    MassAlert.last_sent_at,
                    MassAlert.started_at,
                    MassAlert.created_at,
                    MassAlert.progress_notified_at,
                    MassAlert.slack_message_ts,
                )
                .where(MassAlert.completion_notified_at.is_(None))
                .order_by(MassAlert.id)
            ).all()
            if not alerts:
                return []
            counts: dict[int, Counter[str]] = {a.id: Counter() for a in alerts}
            for alert_id, status, count in session.execute(
                select(AlertDelivery.alert_id, AlertDelivery.status, func.count())
                .where(AlertDelivery.alert_id.in_(list(counts)))
                .group_by(AlertDelivery.alert_id, AlertDelivery.status)
            ):
                counts[alert_id][status] = count
        result = []
        for a in alerts:
            c = counts[a.id]
            unsettled = c["pending"] + c["sending"] + c["in_doubt"]
            awaiting = c["accepted"] + c["sent"]
            last = a.last_sent_at or a.started_at or a.created_at
            if unsettled == 0 and (awaiting == 0 or now >= last + grace):
                result.append((a.id, True))
            elif (
                a.state in ACTIVE
                and a.slack_message_ts is not None
                and (a.progress_notified_at is None or now - a.progress_notified_at >= progress_every)
            ):
                result.append((a.id, False))
        return result

    def _progress(self, alert_id: int, now: datetime) -> int:
        """Post the progress of a running alert (best effort)."""
        with self.sessions() as session, session.begin():
            session.execute(
                update(MassAlert).where(MassAlert.id == alert_id).values(progress_notified_at=now)
            )
        try:
            self.notifier.alert_progress(alert_service.snapshot(self.sessions, alert_id, now))
        except Exception:
            log.exception("progress notice for alert %s", alert_id)
        return 0

    def _finalize_one(self, alert_id: int, now: datetime) -> int:
        with self.sessions() as session, session.begin():
            alert = session.get(MassAlert, alert_id, with_for_update=True)
            if alert is None or alert.completion_notified_at is not None:
                return 0
            counts = alert_service.status_counts(session, alert_id)
            if counts["pending"] + counts["sending"] + counts["in_doubt"]:
                return 0  # something moved since the candidates were read
            if alert.state in ACTIVE:
                alert.state = AlertState.COMPLETED
            if alert.completed_at is None:
                alert.completed_at = now
            alert.sent_count = counts["accepted"] + counts["sent"] + counts["delivered"]
            alert.failed_count = counts["failed"] + counts["undelivered"]
        with read_sessions(self.sessions)() as session:
            alert = session.get(MassAlert, alert_id)
            assert alert is not None
            report = Path(alert.report_path) if alert.report_path else None
        if report is None or not report.exists():
            report = write_report(self.sessions, alert_id, self.config.reports_dir)
            with self.sessions() as session, session.begin():
                session.execute(
                    update(MassAlert).where(MassAlert.id == alert_id).values(report_path=str(report))
                )
        snap = alert_service.snapshot(self.sessions, alert_id, now)
        link = self.notifier.alert_completed(snap, report)  # raises: retried on the next run
        with self.sessions() as session, session.begin():
            session.execute(
                update(MassAlert)
                .where(MassAlert.id == alert_id)
                .values(completion_notified_at=now, report_permalink=link)
            )
        return 1
