"""“Text the N not reached”: a linked alert to the clients whose text failed for a reason worth retrying.

Worth retrying: a carrier or network failure that may pass (`RETRYABLE_CODES`), or a text never sent because
the alert stopped (SkipReason.ALERT_STOPPED). Never: a client whose text was delivered, who opted out (then or
since), whose number is invalid, a landline or blocked (Twilio's permanent codes), or who was skipped for any
other reason. The retry sends each client the same text the original rendered for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.delivery.pacing import ensure_sender
from services.errors import DomainError, NotFound
from services.models import AlertDelivery, AlertState, Client, Clinic, DeliveryStatus, MassAlert, SkipReason
from services.retry_links import retried_by
from services.sending_hours import recipient_zone

#: Twilio error codes after which the same text may get through later (https://www.twilio.com/docs/api/errors).
#: Left out on purpose: 30004 blocked, 30005 unknown or inactive number, 30006 landline, 30007 filtered as
#: spam, 21610 opted out, 21211/21614 invalid or not mobile (permanent), and account or sender problems
#: (30002, 30032, 30034), which a retry would meet again.
RETRYABLE_CODES: dict[str, str] = {
    "30001": "queue overflow at Twilio",
    "30003": "handset unreachable or switched off",
    "30008": "unknown error at the carrier",
    "30009": "a segment of the text went missing",
    "30017": "carrier network congestion",
    "30022": "US A2P 10DLC rate limit exceeded",
    "30023": "US A2P 10DLC daily cap reached",
    "30027": "T-Mobile's daily message limit reached",
    "30036": "validity period expired before the carrier took it",
}
#: Alert states after which nothing more is sent.
FINISHED = (AlertState.COMPLETED, AlertState.CANCELLED, AlertState.FAILED)


def _worth_retrying() -> ColumnElement[bool]:
    return or_(
        and_(
            AlertDelivery.status.in_((DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)),
            AlertDelivery.error_code.in_(list(RETRYABLE_CODES)),
        ),
        and_(
            AlertDelivery.status == DeliveryStatus.SKIPPED,
            AlertDelivery.skip_reason == SkipReason.ALERT_STOPPED,
        ),
    )


def _candidates(session: Session, alert_id: int) -> list[tuple[AlertDelivery, str]]:
    """The alert's deliveries worth retrying whose client can still be texted, with the number today."""
    rows = session.execute(
        select(AlertDelivery, Client.phone_e164)
        .join(Client, Client.id == AlertDelivery.client_id)
        .where(
            AlertDelivery.alert_id == alert_id,
            _worth_retrying(),
            Client.opted_out_at.is_(None),
            Client.phone_e164.is_not(None),
        )
        .order_by(AlertDelivery.position)
    ).all()
    return [(delivery, phone) for delivery, phone in rows if phone]


def not_reached(session: Session, alert: MassAlert) -> int:
    """How many clients "Text the N not reached" would text: 0 unless the alert is finished and not yet
    retried."""
    if alert.state not in FINISHED or retried_by(session, alert.id) is not None:
        return 0
    return len(_candidates(session, alert.id))


@dataclass(frozen=True)
class RetryRequest:
    """Who asks for the retry (an admin of the alert's clinic)."""

    alert_id: int
    by_name: str
    by_user_id: int | None = None
    slack_user_id: str | None = None


def create_retry(
    sessions: sessionmaker[Session], request: RetryRequest, *, now: datetime, default_pace: float
) -> tuple[int, bool]:
    """Queue the linked alert; return (its id, created?). A second request for the same alert returns the
    first retry (the idempotency key `retry:<id>`). DomainError when the alert is still sending, when nobody
    is worth retrying, or when the clinic can no longer text; NotFound for an unknown alert."""
    key = f"retry:{request.alert_id}"
    with sessions() as session, session.begin():
        original = session.get(MassAlert, request.alert_id)
        if original is None:
            raise NotFound(f"No mass alert #{request.alert_id}.")
        if (found := retried_by(session, original.id)) is not None:
            return found, False
        if original.state not in FINISHED:
            raise DomainError(f"Mass alert #{original.id} is still sending; retry it once it has finished.")
        clinic = session.get(Clinic, original.clinic_id)
        assert clinic is not None  # the foreign key
        sender_key = clinic.sender_key
        if not clinic.two_way_texting or sender_key is None:
            raise DomainError(f"{clinic.name} cannot send texts now (texting is off or no number is set).")
        targets = _candidates(session, original.id)
        if not targets:
            raise DomainError(f"Nobody in mass alert #{original.id} is worth texting again.")
        pace = clinic.alert_pace_seconds if clinic.alert_pace_seconds is not None else default_pace
        retry = MassAlert(
            clinic_id=clinic.id,
            created_by_user_id=request.by_user_id,
            created_by_name=request.by_name,
            slack_user_id=request.slack_user_id,
            slack_channel_id=original.slack_channel_id or clinic.slack_channel_id,
            idempotency_key=key,
            sender_key=sender_key,
            pace_seconds=pace,
            range_start=original.range_start,
            range_end=original.range_end,
            first_appointment=original.first_appointment,
            last_appointment=original.last_appointment,
            message=original.message,
            state=AlertState.QUEUED,
            total_clients=len(targets),
            to_send=len(targets),
            skipped_count=0,
            created_at=now,
            retry_of_alert_id=original.id,
            sending_hours_start=clinic.sending_hours_start,
            sending_hours_end=clinic.sending_hours_end,
            urgent=original.urgent,
        )
        session.add(retry)
        try:
            session.flush()
        except IntegrityError:  # the same click twice at once: the other one created it
            session.rollback()
            with sessions() as again:
                if (found := retried_by(again, request.alert_id)) is not None:
                    return found, False
            raise
        rows = [
            {
                "alert_id": retry.id,
                "client_id": delivery.client_id,
                "position": i,
                "client_full_name": delivery.client_full_name,
                "phone": phone,
                "phone_e164": phone,
                "body": delivery.body or original.message,
                "recipient_timezone": recipient_zone(phone, clinic.timezone),
                "status": DeliveryStatus.PENDING,
                "updated_at": now,
            }
            for i, (delivery, phone) in enumerate(targets)
        ]
        session.execute(insert(AlertDelivery), rows)
        ensure_sender(session, sender_key, now)
        return retry.id, True
