"""Provider status callbacks: Twilio's statuses mapped to ours, applied forward-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.models import STATUS_RANK, AlertDelivery, ConversationMessage, DeliveryStatus
from services.sms import describe

IN_FLIGHT = (DeliveryStatus.SENDING, DeliveryStatus.IN_DOUBT)

#: Twilio's message statuses -> ours.
PROVIDER_STATUS = {
    "queued": DeliveryStatus.ACCEPTED,
    "accepted": DeliveryStatus.ACCEPTED,
    "scheduled": DeliveryStatus.ACCEPTED,
    "sending": DeliveryStatus.ACCEPTED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}


def provider_status(status: str) -> str:
    """Our delivery status for a Twilio message status."""
    return PROVIDER_STATUS.get(status.lower(), DeliveryStatus.ACCEPTED)


def is_forward(current: str, new: str) -> bool:
    """True when `new` is further along than `current`."""
    return STATUS_RANK[new] > STATUS_RANK[current]


def apply_status_callback(sessions: sessionmaker[Session], params: dict[str, str], now: datetime) -> bool:
    """Apply a provider status callback: forward transitions only; duplicates and stale ones are harmless."""
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or not status:
        return False
    new = provider_status(status)
    code = params.get("ErrorCode") or None
    model: type[AlertDelivery] | type[ConversationMessage]
    if "m" in params:
        model, row_id = ConversationMessage, params["m"]
    elif "d" in params:
        model, row_id = AlertDelivery, params["d"]
    else:
        model, row_id = AlertDelivery, None
    with sessions() as session, session.begin():
        query = select(model).with_for_update()
        if row_id is not None and row_id.isdigit():
            query = query.where(model.id == int(row_id))
        else:
            query = query.where(model.twilio_sid == sid)
        row = session.scalars(query).first()
        if row is None:
            return False
        if row.twilio_sid not in (None, sid):
            return False  # a callback for another attempt's message; ignore
        if row.twilio_sid is None:
            row.twilio_sid = sid
        current = row.status if row.status in STATUS_RANK else "accepted"
        if not (is_forward(current, new) or row.status in IN_FLIGHT or row.status == "sending"):
            return True
        row.status = new
        row.lease_until = None
        if code:
            row.error_code = code
            row.error_message = describe(int(code)) if code.isdigit() else code
        if isinstance(row, AlertDelivery):
            row.updated_at = now
            if new in (DeliveryStatus.DELIVERED, DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED):
                row.final_at = now
    return True
