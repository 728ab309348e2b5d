"""Creating, cancelling and reading mass alerts; recipients are frozen as delivery rows."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services import merge_fields, outcomes, retry, retry_links
from services.db import read_sessions
from services.delivery.pacing import IDLE_SLOT, ensure_sender
from services.delivery.rows import skip_pending
from services.errors import DomainError, InvalidInput, NotFound
from services.models import (
    AlertDelivery,
    AlertState,
    Client,
    Clinic,
    DeliveryStatus,
    MassAlert,
    Sender,
    SkipReason,
)
from services.notify import AlertSnapshot, Notifier
from services.recipients import RecipientSet, compute
from services.segments import SegmentInfo, count_message, measure
from services.sending_hours import hours_of, recipient_zone
from services.timeranges import TimeRange

log = logging.getLogger(__name__)

ACTIVE_STATES = (AlertState.QUEUED, AlertState.SENDING)
INSERT_BATCH = 5000


@dataclass(frozen=True)
class AlertRequest:
    """What a confirmation (or `mass-alert send`) asks for.

    The alert always reports in the clinic's own channel (`Clinic.slack_channel_id`), wherever it was asked.
    """

    clinic_id: int
    created_by_name: str
    rng: TimeRange
    message: str
    created_by_user_id: int | None = None
    slack_user_id: str | None = None
    idempotency_key: str | None = None
    #: "Send at" (aware UTC): held as `scheduled` until then; None or a past instant sends now.
    start_at: datetime | None = None
    #: Urgent: sent through the clinic's sending window (quiet hours), at any hour.
    urgent: bool = False


class NobodyToText(InvalidInput):
    """No client in the range can be texted; `skipped_by_reason` says why the others are left out."""

    def __init__(self, skipped_by_reason: dict[str, int]) -> None:
        super().__init__(
            "No client has an upcoming appointment in this range, so there is nobody to text.", field="range"
        )
        self.skipped_by_reason = skipped_by_reason


def check_message(message: str, max_chars: int) -> SegmentInfo:
    """The message's length and texts; InvalidInput (field "message") when empty, over `max_chars`, or
    naming an unknown merge field. A message with merge fields is measured as typed here; `check_length`
    checks its longest rendered text once the recipients are known.

    `max_chars` is the clinic's limit (ALERT_MAX_CHARS, 320 by default: two GSM-7 segments of 160).
    """
    if not message:
        raise InvalidInput("Type the message to send.", field="message")
    merge_fields.check_fields(message)
    info = measure(message, max_chars)
    if not merge_fields.used_fields(message):
        seen = count_message(message, max_chars)  # characters as a person counts them, like the modal
        if seen.too_long:
            raise InvalidInput(
                f"The message is {seen.characters:,} characters; the limit is {max_chars:,}. "
                f"Shorten it by {-seen.remaining:,}.",
                field="message",
            )
    return info


def check_length(info: SegmentInfo, max_chars: int) -> None:
    """InvalidInput (field "message") when the longest text with its merge fields filled in, measured by
    `info`, is over `max_chars`."""
    if info.too_long:
        raise InvalidInput(
            f"With the merge fields filled in, the longest text is {info.length:,} characters; "
            f"the limit is {max_chars:,}. Shorten it by {-info.remaining:,}.",
            field="message",
        )


def check_recipients(count: int, skipped_by_reason: dict[str, int]) -> None:
    """NobodyToText when `count` is 0: an alert needs at least one client to text."""
    if count == 0:
        raise NobodyToText({reason: n for reason, n in skipped_by_reason.items() if n})


def effective_pace(clinic: Clinic, default_pace: float) -> float:
    """The clinic's own pace, else the global default."""
    return clinic.alert_pace_seconds if clinic.alert_pace_seconds is not None else default_pace


def _existing(session: Session, key: str | None) -> MassAlert | None:
    if key is None:
        return None
    return session.scalars(select(MassAlert).where(MassAlert.idempotency_key == key)).first()


def create_alert(
    sessions: sessionmaker[Session],
    request: AlertRequest,
    *,
    now: datetime,
    default_pace: float,
    max_chars: int,
) -> tuple[int, bool]:
    """Freeze the recipients into one delivery row per client; return (alert id, created?)."""
    message = request.message.strip()
    check_message(message, max_chars)
    with sessions() as session, session.begin():
        if (found := _existing(session, request.idempotency_key)) is not None:
            return found.id, False
        clinic = session.get(Clinic, request.clinic_id)
        if clinic is None:
            raise NotFound(f"No clinic with id {request.clinic_id}.")
        if not clinic.two_way_texting:
            raise DomainError(f"Two-way texting is off for {clinic.name}; turn it on before sending alerts.")
        sender_key = clinic.sender_key
        if sender_key is None:
            raise DomainError(f"{clinic.name} has no SMS number or Messaging Service configured.")
        scheduled = request.start_at is not None and request.start_at > now
        alert = MassAlert(
            clinic_id=clinic.id,
            created_by_user_id=request.created_by_user_id,
            created_by_name=request.created_by_name,
            slack_user_id=request.slack_user_id,
            slack_channel_id=clinic.slack_channel_id,
            idempotency_key=request.idempotency_key,
            sender_key=sender_key,
            pace_seconds=effective_pace(clinic, default_pace),
            range_start=request.rng.start,
            range_end=request.rng.end,
            message=message,
            state=AlertState.SCHEDULED if scheduled else AlertState.QUEUED,
            start_at=request.start_at if scheduled else None,
            created_at=now,
            sending_hours_start=clinic.sending_hours_start,
            sending_hours_end=clinic.sending_hours_end,
            urgent=request.urgent,
        )
        if scheduled:
            count_today(session, alert, now)
        frozen = None if scheduled else freeze_recipients(session, alert, clinic, now, max_chars)
        session.add(alert)
        try:
            session.flush()
        except IntegrityError:
            # The same confirmation arrived twice at once: the other one won.
            session.rollback()
            with sessions() as again:
                if (found := _existing(again, request.idempotency_key)) is not None:
                    return found.id, False
            raise
        if frozen is not None:
            insert_deliveries(session, alert, *frozen, now)
            log.info(
                "alert %s created for clinic %s by %s: %d to text, %d skipped, one every %g s",
                alert.id,
                alert.clinic_id,
                alert.created_by_name,
                len(frozen[0].recipients),
                len(frozen[0].skipped),
                alert.pace_seconds,
            )
        return alert.id, True


Frozen = tuple[RecipientSet, dict[int, str]]


def count_today(session: Session, alert: MassAlert, now: datetime) -> None:
    """A scheduled alert's counts and span as of `now`, for its entry; its recipients are computed again
    (and these counts replaced) when it starts."""
    result = compute(session, alert.clinic_id, TimeRange(alert.range_start, alert.range_end), now)
    _set_counts(alert, result)


def _set_counts(alert: MassAlert, result: RecipientSet) -> None:
    alert.first_appointment = result.first_appointment
    alert.last_appointment = result.last_appointment
    alert.total_clients = result.count + len(result.skipped)
    alert.to_send = result.count
    alert.skipped_count = len(result.skipped)


def freeze_recipients(
    session: Session, alert: MassAlert, clinic: Clinic, now: datetime, max_chars: int | None
) -> Frozen:
    """Compute the alert's recipients at `now` and each one's text; set the alert's counts and span.
    NobodyToText when nobody can be texted; InvalidInput when the longest text is over `max_chars` (None:
    not checked again, as for a scheduled alert checked when it was scheduled)."""
    rng = TimeRange(alert.range_start, alert.range_end)
    result = compute(session, clinic.id, rng, now)
    check_recipients(result.count, Counter(str(skip.reason) for skip in result.skipped))
    ids = [r.client_id for r in result.recipients]
    rendered = merge_fields.render_all(session, clinic, rng, now, ids, alert.message, max_chars or 10**6)
    if rendered.longest is not None and max_chars is not None:
        check_length(rendered.longest, max_chars)
    _set_counts(alert, result)
    return result, rendered.bodies


def insert_deliveries(
    session: Session, alert: MassAlert, result: RecipientSet, bodies: dict[int, str], now: datetime
) -> None:
    """One delivery row per client (pending with its rendered text and time zone, or skipped with the
    reason)."""
    clinic = session.get(Clinic, alert.clinic_id)
    assert clinic is not None  # the foreign key
    rows = [
        {
            "alert_id": alert.id,
            "client_id": r.client_id,
            "position": i,
            "client_full_name": r.full_name,
            "phone": r.phone or r.phone_e164,
            "phone_e164": r.phone_e164,
            "status": DeliveryStatus.PENDING,
            "body": bodies.get(r.client_id, alert.message),
            "recipient_timezone": recipient_zone(r.phone_e164, clinic.timezone),
            "updated_at": now,
        }
        for i, r in enumerate(result.recipients)
    ]
    offset = len(rows)
    rows += [
        {
            "alert_id": alert.id,
            "client_id": s.client_id,
            "position": offset + i,
            "client_full_name": s.full_name,
            "phone": s.phone,
            "phone_e164": None,
            "status": DeliveryStatus.SKIPPED,
            "skip_reason": str(s.reason),
            "skip_detail": s.detail,
            "final_at": now,
            "updated_at": now,
        }
        for i, s in enumerate(result.skipped)
    ]
    for start in range(0, len(rows), INSERT_BATCH):
        session.execute(insert(AlertDelivery), rows[start : start + INSERT_BATCH])
    ensure_sender(session, alert.sender_key, now)


def show_entry(
    sessions: sessionmaker[Session],
    alert_id: int,
    notifier: Notifier,
    now: datetime,
    *,
    asked_in: str | None = None,
) -> None:
    """Post the activity entry (or edit the one a scheduled alert has) and remember where it is; best
    effort, the finalizer reports anyway.

    `asked_in` is the channel /mass-alert was typed in; when it is not the clinic's channel the notifier
    points the admin to the clinic's channel there (issue 12: the report goes only to the clinic's channel).
    """
    snap = snapshot(sessions, alert_id, now)
    if asked_in and asked_in != snap.slack_channel_id:
        snap = replace(snap, asked_in_channel_id=asked_in)
    try:
        posted = notifier.alert_started(snap)
    except Exception:
        log.exception("could not post the activity entry of alert %s", alert_id)
        return
    if posted is not None:
        with sessions() as session, session.begin():
            session.execute(
                update(MassAlert)
                .where(MassAlert.id == alert_id)
                .values(
                    slack_channel_id=posted.channel_id, slack_message_ts=posted.ts, progress_notified_at=now
                )
            )


def cancel_before_start(alert: MassAlert, by_name: str, now: datetime) -> None:
    """Cancel a scheduled alert (locked by the caller) before it started: nobody was to be texted yet, and
    there is no report; whoever cancels shows it on the alert's entry."""
    alert.state = AlertState.CANCELLED
    alert.cancelled_by = by_name
    alert.completed_at = now
    alert.completion_notified_at = now
    log.info("scheduled alert %s cancelled by %s before it started", alert.id, by_name)


def cancel_alert(sessions: sessionmaker[Session], alert_id: int, *, by_name: str, now: datetime) -> bool:
    """Stop an alert: its unsent clients become Not sent (cancelled). False when already over."""
    with sessions() as session, session.begin():
        alert = session.get(MassAlert, alert_id, with_for_update=True)
        if alert is None:
            raise NotFound(f"No mass alert #{alert_id}.")
        if alert.state == AlertState.SCHEDULED:
            cancel_before_start(alert, by_name, now)
            return True
        if alert.state not in ACTIVE_STATES:
            return False
        alert.state = AlertState.CANCELLED
        alert.cancelled_by = by_name
        log.info("alert %s stopped: cancelled by %s", alert_id, by_name)
        skip_pending(session, alert_id, SkipReason.CANCELLED, f"Alert cancelled by {by_name}", now)
        return True


class NotStopped(DomainError):
    """Resume was asked for an alert that is not stopped (still sending, completed or cancelled)."""


@dataclass(frozen=True)
class Resumed:
    """What Resume did: clients queued again, and those left out because they opted out meanwhile."""

    requeued: int
    opted_out: int


def resume_alert(sessions: sessionmaker[Session], alert_id: int, *, by_name: str, now: datetime) -> Resumed:
    """Carry on a stopped alert (an account or sender error, now fixed) in the same entry and report.

    Only clients never handed to Twilio are queued again: those the stop left Not sent (alert stopped) and
    those Twilio refused at create with the very error that stopped it (no message SID). Nobody already
    sent, in doubt or failed for their own reason is texted again; a client who opted out meanwhile is
    marked Not sent (opted out). Raises NotFound for an unknown alert and NotStopped when it is not stopped.
    """
    with sessions() as session, session.begin():
        alert = session.get(MassAlert, alert_id, with_for_update=True)
        if alert is None:
            raise NotFound(f"No mass alert #{alert_id}.")
        if alert.state != AlertState.FAILED:
            raise NotStopped(f"Mass text alert #{alert_id} is {alert.state}, not stopped; nothing to resume.")
        stopped_by = alert.error
        never_handed = or_(
            and_(
                AlertDelivery.status == DeliveryStatus.SKIPPED,
                AlertDelivery.skip_reason == SkipReason.ALERT_STOPPED,
            ),
            and_(
                AlertDelivery.status == DeliveryStatus.FAILED,
                AlertDelivery.twilio_sid.is_(None),
                AlertDelivery.error_message == stopped_by,
            ),
        )
        rows = session.execute(
            select(AlertDelivery.id, Client.opted_out_at)
            .join(Client, Client.id == AlertDelivery.client_id)
            .where(AlertDelivery.alert_id == alert_id, never_handed)
        ).all()
        out = [row.id for row in rows if row.opted_out_at is not None]
        again = [row.id for row in rows if row.opted_out_at is None]
        if out:
            session.execute(
                update(AlertDelivery)
                .where(AlertDelivery.id.in_(out))
                .values(
                    status=DeliveryStatus.SKIPPED,
                    skip_reason=SkipReason.OPTED_OUT,
                    skip_detail="Opted out before the alert was resumed",
                    final_at=now,
                    updated_at=now,
                )
            )
        for start in range(0, len(again), INSERT_BATCH):
            session.execute(
                update(AlertDelivery)
                .where(AlertDelivery.id.in_(again[start : start + INSERT_BATCH]))
                .values(
                    status=DeliveryStatus.PENDING,
                    skip_reason=None,
                    skip_detail=None,
                    error_code=None,
                    error_message=None,
                    attempt_id=None,
                    attempts=0,
                    next_attempt_at=None,
                    lease_until=None,
                    requested_at=None,
                    final_at=None,
                    updated_at=now,
                )
            )
        if again:
            alert.state = AlertState.SENDING
            alert.error = None
            alert.completed_at = None
            alert.completion_notified_at = None
            alert.report_path = None  # written again when the resumed alert completes
            ensure_sender(session, alert.sender_key, now)
        log.info("alert %s resumed by %s: %d queued again", alert_id, by_name, len(again))
        return Resumed(len(again), len(out))


def status_counts(session: Session, alert_id: int) -> Counter[str]:
    """How many of the alert's deliveries are in each status."""
    rows = session.execute(
        select(AlertDelivery.status, func.count())
        .where(AlertDelivery.alert_id == alert_id)
        .group_by(AlertDelivery.status)
    )
    return Counter({status: count for status, count in rows})


def snapshot(sessions: sessionmaker[Session], alert_id: int, now: datetime) -> AlertSnapshot:
    """The alert with live counts and ETA."""
    with read_sessions(sessions)() as session:
        alert = session.get(MassAlert, alert_id)
        if alert is None:
            raise NotFound(f"No mass alert #{alert_id}.")
        return _snapshot(session, alert, now)


@dataclass(frozen=True)
class _Counts:
    """An alert's deliveries counted once: by status, skip reason and failure category."""

    by_status: Counter[str]
    not_texted_reasons: Counter[str]
    failure_reasons: Counter[str]
    #: Pending texts that may go at `now` (no next attempt set, or it has come), and the earliest next
    #: attempt of the others (None when there are none).
    pending_due: int = 0
    pending_waits_until: datetime | None = None


def _counts(session: Session, alert_id: int, now: datetime) -> _Counts:
    due = or_(AlertDelivery.next_attempt_at.is_(None), AlertDelivery.next_attempt_at <= now)
    rows = session.execute(
        select(
            AlertDelivery.status,
            AlertDelivery.skip_reason,
            AlertDelivery.error_code,
            func.count(),
            func.count(case((due, 1))),
            func.min(AlertDelivery.next_attempt_at),
        )
        .where(AlertDelivery.alert_id == alert_id)
        .group_by(AlertDelivery.status, AlertDelivery.skip_reason, AlertDelivery.error_code)
    )
    by_status: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    pending_due, waits_until = 0, None
    for status, reason, code, count, due_count, next_attempt in rows:
        by_status[str(status)] += count
        if status == DeliveryStatus.SKIPPED:
            skipped[str(reason) if reason else "other"] += count
        elif status in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED):
            failed[outcomes.category(code)] += count
        elif status == DeliveryStatus.PENDING:
            pending_due += due_count
            if next_attempt is not None and (waits_until is None or next_attempt < waits_until):
                waits_until = next_attempt
    return _Counts(by_status, skipped, failed, pending_due, waits_until)


def _quiet_pause(
    session: Session, alert: MassAlert, found: _Counts, now: datetime
) -> tuple[datetime, str] | None:
    """(when the first held text may go, its client's zone) while the sending window holds every text the
    alert has left: some pending, none in flight or due, and the window shut now where the first one waits
    (a retry's backoff in an open window is no pause). None otherwise, and for urgent alerts."""
    counts = found.by_status
    hours = None if alert.urgent else hours_of(alert.sending_hours_start, alert.sending_hours_end)
    if (
        hours is None
        or hours.all_day
        or alert.state not in ACTIVE_STATES
        or not counts["pending"]
        or found.pending_due
        or counts["sending"]
        or counts["in_doubt"]
        or found.pending_waits_until is None
    ):
        return None
    until = found.pending_waits_until
    tz = session.scalar(
        select(AlertDelivery.recipient_timezone)
        .where(
            AlertDelivery.alert_id == alert.id,
            AlertDelivery.status == DeliveryStatus.PENDING,
            AlertDelivery.next_attempt_at == until,
        )
        .limit(1)
    )
    zone = tz or alert.clinic.timezone
    return None if hours.is_open(now, zone) else (until, zone)


def _snapshot(session: Session, alert: MassAlert, now: datetime) -> AlertSnapshot:
    found = _counts(session, alert.id, now)
    paused = _quiet_pause(session, alert, found, now)
    counts = found.by_status
    sent = sum(counts[s] for s in ("accepted", "sent", "delivered"))
    failed = counts["failed"] + counts["undelivered"]
    pending = counts["pending"] + counts["sending"] + counts["in_doubt"]
    eta = None
    if counts["pending"] and alert.state in ACTIVE_STATES:
        next_slot = session.scalars(
            select(Sender.next_alert_at).where(Sender.key == alert.sender_key)
        ).first()
        start = now if next_slot is None or next_slot >= IDLE_SLOT else max(now, next_slot)
        eta = start + estimate_duration(counts["pending"], alert.pace_seconds)
    return AlertSnapshot(
        id=alert.id,
        clinic_id=alert.clinic_id,
        clinic_name=alert.clinic.name,
        timezone=alert.clinic.timezone,
        created_by_name=alert.created_by_name,
        slack_user_id=alert.slack_user_id,
        message=alert.message,
        range_start=alert.range_start,
        range_end=alert.range_end,
        first_appointment=alert.first_appointment,
        last_appointment=alert.last_appointment,
        state=alert.state,
        pace_seconds=alert.pace_seconds,
        texted=sent + failed + pending,
        not_texted=counts["skipped"],
        sent=sent,
        failed=failed,
        pending=pending,
        created_at=alert.created_at,
        completed_at=alert.completed_at,
        eta=eta,
        error=alert.error,
        cancelled_by=alert.cancelled_by,
        report_path=alert.report_path,
        report_permalink=alert.report_permalink,
        slack_channel_id=alert.slack_channel_id,
        slack_message_ts=alert.slack_message_ts,
        failure_reasons=found.failure_reasons,
        not_texted_reasons=found.not_texted_reasons,
        slack_team_id=alert.clinic.slack_team_id,
        not_reached=retry.not_reached(session, alert) if failed or alert.state == AlertState.FAILED else 0,
        retry_of=alert.retry_of_alert_id,
        retry_number=retry_links.retry_number(session, alert),
        start_at=alert.start_at,
        scheduled_count=alert.to_send if alert.state == AlertState.SCHEDULED else 0,
        paused_until=paused[0] if paused else None,
        paused_zone=paused[1] if paused else None,
    )


def recent_alerts(
    sessions: sessionmaker[Session],
    clinic_ids: list[int],
    now: datetime,
    limit: int = 10,
    *,
    since: datetime | None = None,
    offset: int = 0,
) -> list[AlertSnapshot]:
    """The newest alerts of these clinics, newest first: at most `limit`, skipping the first `offset`,
    only those created at or after `since` (aware) when given."""
    query = select(MassAlert).where(MassAlert.clinic_id.in_(clinic_ids))
    if since is not None:
        query = query.where(MassAlert.created_at >= since)
    query = query.order_by(MassAlert.created_at.desc(), MassAlert.id.desc()).offset(offset).limit(limit)
    with read_sessions(sessions)() as session:
        alerts = session.scalars(query).all()
        return [_snapshot(session, alert, now) for alert in alerts]


def estimate_duration(recipients: int, pace_seconds: float) -> timedelta:
    """How long sending `recipients` texts takes at `pace_seconds` per text: the first goes at once,
    each next one a pace later (the one sending-time rule: the modal, the confirmation, the ETA)."""
    return timedelta(seconds=pace_seconds * max(recipients - 1, 0))
