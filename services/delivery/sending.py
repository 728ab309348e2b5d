"""Sending one claimed text: wait for its slot, re-check it, call Twilio, store what Twilio said."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session

from services.conversations.keywords import carrier_opt_out
from services.db import read_sessions
from services.delivery.jobs import ACTIVE, Context, Job, JobKind
from services.delivery.pacing import alert_gap, wake_sender
from services.delivery.rows import AlertText, TextRow, table_for
from services.delivery.status import provider_status
from services.models import (
    AlertDelivery,
    AlertState,
    Client,
    DeliveryStatus,
    MassAlert,
    Sender,
    SkipReason,
    sender_parts,
)
from services.sms import ErrorKind, SendRequest, SmsError
from services.twilio_errors import CARRIER_OPT_OUT, is_stop

log = logging.getLogger(__name__)

#: Longest backoff between two retries of a text Twilio asked to retry (429/20429, 30001), in seconds.
MAX_BACKOFF_SECONDS = 60.0


class Sending:
    """Sends claimed jobs; remembers per sender when Twilio last answered an alert text in this process."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._last_done: dict[str, datetime] = {}

    def callback_url(self, job: Job) -> str | None:
        """Status callback URL naming the row and attempt (None: no public URL, so poll)."""
        base = self.ctx.config.public_base_url
        if not base:
            return None
        key = table_for(job.kind).callback_key
        return f"{base}/twilio/status?{urlencode({key: job.row_id, 'a': job.attempt_id})}"

    def execute(self, job: Job) -> None:
        """Wait for the job's slot, send it, and store what the provider said."""
        ctx = self.ctx
        ctx.checkpoint("claimed")
        wait = (job.slot_at - ctx.clock.now()).total_seconds()
        if wait > 0:
            ctx.clock.sleep(wait)
        from_, service = sender_parts(job.sender_key)
        request = SendRequest(
            to=job.to,
            body=job.body,
            from_=from_,
            messaging_service_sid=service,
            status_callback=self.callback_url(job),
        )
        if job.kind is JobKind.ALERT:
            withdrawn, stored_last_send = self._preflight(job)
            if withdrawn:
                return
            self._respect_last_send(job, stored_last_send)
        requested = ctx.clock.now()
        try:
            result = ctx.gateway.send(request)
        except SmsError as error:
            self._record_error(job, error, requested)
        except Exception as error:
            log.exception("send of %s %s raised", job.kind, job.row_id)
            self._record_error(job, SmsError(ErrorKind.IN_DOUBT, f"Unexpected error: {error}"), requested)
        else:
            ctx.checkpoint("sent")
            self._record_success(job, result.sid, result.status, requested)
            ctx.checkpoint("stored")

    def _preflight(self, job: Job) -> tuple[bool, datetime | None]:
        """One read at the slot: (withdrawn?, the sender's last answered send in any process).

        Between claim and slot the alert may have been cancelled or the client opted out: then the text is
        withdrawn (marked Not sent) instead of sent.
        """
        with read_sessions(self.ctx.sessions)() as session:
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
        now = self.ctx.clock.now()
        with self.ctx.sessions() as session, session.begin():
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
        """Wait until the pace has passed since Twilio last answered this sender (any process)."""
        with self._lock:
            last = self._last_done.get(job.sender_key)
        if stored is not None and (last is None or stored > last):
            last = stored
        if last is None:
            return
        wait = (last + alert_gap(job.pace_seconds, self.ctx.config) - self.ctx.clock.now()).total_seconds()
        if wait > 0:
            self.ctx.clock.sleep(wait)

    def _record_success(self, job: Job, sid: str, status: str, requested: datetime) -> None:
        """Twilio took the text as `sid`: store it (a row settled meanwhile keeps its status)."""
        with self.ctx.sessions() as session, session.begin():
            row = table_for(job.kind).load(session, job.row_id, job.attempt_id)
            if row is not None:
                row.mark_handed(sid, provider_status(status), requested)
            if job.kind is JobKind.ALERT:
                self._mark_sent(session, job, requested)

    def _mark_sent(self, session: Session, job: Job, requested: datetime) -> None:
        """The provider had the alert text by the time it answered: pace the next one from the answer."""
        done = self.ctx.clock.now()
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
        """Twilio refused the text or its answer was lost: in doubt, retry later, or fail (and say why)."""
        config = self.ctx.config
        now = self.ctx.clock.now()
        code = None if error.code is None else str(error.code)
        table = table_for(job.kind)
        with self.ctx.sessions() as session, session.begin():
            row = table.load(session, job.row_id, job.attempt_id)
            if row is None or not row.in_flight:
                return  # a callback or the reconciler settled it meanwhile
            row.note_requested(requested)
            if error.kind == ErrorKind.IN_DOUBT:
                row.mark_in_doubt(error.reason, now + timedelta(seconds=config.in_doubt_recheck_seconds))
                if job.kind is JobKind.ALERT:
                    self._mark_sent(session, job, requested)
                return
            attempts = row.columns.attempts
            if error.kind == ErrorKind.RETRY and attempts < config.max_attempts:
                retry_at = now + timedelta(
                    seconds=error.retry_after or min(2.0**attempts, MAX_BACKOFF_SECONDS)
                )
                row.requeue(retry_at)
                row.set_error(code, error.reason)
                session.execute(
                    update(Sender)
                    .where(Sender.key == job.sender_key)
                    .values(
                        next_any_at=case((Sender.next_any_at < retry_at, retry_at), else_=Sender.next_any_at)
                    )
                )
                if table.paced:
                    wake_sender(session, job.sender_key, retry_at)
                return
            reason = error.reason
            if error.kind == ErrorKind.RETRY:
                reason = f"Gave up after {attempts} attempts: {error.reason}"
            row.set_error(code, reason)
            row.fail(reason, now)
            log.warning(
                "%s %s failed: Twilio %s: %s", table.noun, job.row_id, code or "(no code)", error.reason
            )
            if job.kind is JobKind.ALERT:
                stops = error.kind == ErrorKind.CONFIG
                record_alert_failure(session, job.alert_id, error.code, job.to, reason, now, stops=stops)


def record_alert_failure(
    session: Session,
    alert_id: int | None,
    code: int | str | None,
    to: str,
    reason: str,
    now: datetime,
    *,
    stops: bool,
) -> None:
    """What an alert text's failure means beyond its row: an account or sender error (`stops`: kind CONFIG
    in services.twilio_errors) stops the alert; Twilio 21610 records the number as opted out at the
    carrier so no later alert texts it."""
    if stops:
        stop_alert(session, alert_id, reason, now)
    elif str(code) == str(CARRIER_OPT_OUT) and alert_id is not None:
        clinic_id = session.scalar(select(MassAlert.clinic_id).where(MassAlert.id == alert_id))
        if clinic_id is not None:
            carrier_opt_out(session, clinic_id, to, now)


def provider_failure(session: Session, row: TextRow, code: str | None, now: datetime) -> None:
    """A failure Twilio reported for an alert text it had accepted (status callback or lookup): a sender
    error it reports only then (30034 unregistered 10DLC, 30032 toll-free not verified) stops the alert."""
    if code is None or not isinstance(row, AlertText):
        return
    reason = row.columns.error_message or f"Twilio error {code}"
    to = row.row.phone_e164 or ""
    record_alert_failure(session, row.row.alert_id, code, to, reason, now, stops=is_stop(code))


def stop_alert(session: Session, alert_id: int | None, reason: str, now: datetime) -> None:
    """A configuration error (account, sender): no other client can be texted either; stop and say why."""
    alert = session.get(MassAlert, alert_id, with_for_update=True)
    if alert is None or alert.state not in ACTIVE:
        return
    alert.state = AlertState.FAILED
    alert.error = reason
    log.warning("alert %s stopped: %s", alert_id, reason)
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
