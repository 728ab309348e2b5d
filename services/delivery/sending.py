"""Sending one claimed text: wait for its slot, re-check it, call Twilio, store what Twilio said."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import cast
from urllib.parse import urlencode

from sqlalchemy import Engine, Table, bindparam, case, select, update
from sqlalchemy.orm import Session

from services.conversations.keywords import carrier_opt_out
from services.delivery.jobs import ACTIVE, Context, Job, JobKind
from services.delivery.pacing import wake_sender
from services.delivery.rows import AlertText, TextRow, skip_pending, table_for
from services.delivery.status import IN_FLIGHT, provider_status
from services.delivery.turn import Turn, TurnTaker
from services.models import (
    AlertDelivery,
    AlertState,
    DeliveryStatus,
    MassAlert,
    Sender,
    SkipReason,
    UTCDateTime,
    sender_parts,
)
from services.sms import ErrorKind, SendRequest, SmsError
from services.twilio_errors import CARRIER_OPT_OUT, is_stop

log = logging.getLogger(__name__)

_D = AlertDelivery.__table__.c
_WHEN = UTCDateTime()
#: An alert text Twilio took: its SID and request time; a row settled meanwhile (a fast callback, the
#: reconciler) keeps its status.
_HANDED = (
    update(cast(Table, AlertDelivery.__table__))
    .where(_D.id == bindparam("row_id"), _D.attempt_id == bindparam("attempt"))
    .values(
        twilio_sid=bindparam("sid"),
        requested_at=bindparam("at", type_=_WHEN),
        lease_until=None,
        updated_at=bindparam("at", type_=_WHEN),
        status=case(
            (_D.status.in_([str(s) for s in IN_FLIGHT]), bindparam("new")),
            else_=_D.status,
        ),
    )
)
#: The alert's latest request time (the pace itself was stamped before the request, by its turn).
_LAST_SENT = (
    update(cast(Table, MassAlert.__table__))
    .where(MassAlert.__table__.c.id == bindparam("alert"))
    .values(last_sent_at=bindparam("at", type_=_WHEN))
)

#: Longest backoff between two retries of a text Twilio asked to retry (429/20429, 30001), in seconds.
MAX_BACKOFF_SECONDS = 60.0


class Sending:
    """Sends claimed jobs: an alert text only after its turn is taken (services.delivery.turn)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._turns = TurnTaker(ctx)

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
        if job.kind is JobKind.ALERT:  # start the turn early by its own commit time, to send at the slot
            wait -= self._turns.lead().total_seconds()
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
        if job.kind is JobKind.ALERT and self._turns.take(job) is not Turn.GO:
            return  # withdrawn at its turn (Not sent, with the reason), or no longer this attempt's
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

    def _record_success(self, job: Job, sid: str, status: str, requested: datetime) -> None:
        """Twilio took the text as `sid`: store it (a row settled meanwhile keeps its status)."""
        if job.kind is JobKind.ALERT:
            self._record_alert_success(job, sid, provider_status(status), requested)
            return
        with self.ctx.sessions() as session, session.begin():
            row = table_for(job.kind).load(session, job.row_id, job.attempt_id)
            if row is not None:
                row.mark_handed(sid, provider_status(status), requested)

    def _record_alert_success(self, job: Job, sid: str, new: DeliveryStatus, requested: datetime) -> None:
        """`TextRow.mark_handed` for the hot path (one alert text per slot): two statements, no ORM load."""
        engine: Engine = self.ctx.sessions.kw["bind"]
        with engine.begin() as conn:
            handed = {"row_id": job.row_id, "attempt": job.attempt_id, "sid": sid, "new": str(new)}
            conn.execute(_HANDED, {**handed, "at": requested})
            conn.execute(_LAST_SENT, {"alert": job.alert_id, "at": requested})

    def _mark_sent(self, session: Session, job: Job, requested: datetime) -> None:
        """The alert's latest request time (the pace itself was stamped before the request, by its turn)."""
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
    skip_pending(session, alert.id, SkipReason.ALERT_STOPPED, f"Alert stopped: {reason}", now)
