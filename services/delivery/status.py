"""Twilio's message statuses mapped to ours, and the forward-only rule every settlement follows."""

from __future__ import annotations

from services.models import STATUS_RANK, DeliveryStatus

#: A text whose provider request may be under way or whose outcome is unknown.
IN_FLIGHT = (DeliveryStatus.SENDING, DeliveryStatus.IN_DOUBT)
#: Statuses after which a text has a final time (`final_at`).
FINAL_SENT = (DeliveryStatus.DELIVERED, DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED)

#: Twilio's message statuses (MessageStatus in callbacks, `status` in the Messages resource) -> ours.
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


def provider_status(status: str) -> DeliveryStatus:
    """Our delivery status for a Twilio message status (unknown ones count as accepted)."""
    return PROVIDER_STATUS.get(status.lower(), DeliveryStatus.ACCEPTED)


def is_forward(current: str, new: str) -> bool:
    """True when `new` is further along than `current` (ranks in STATUS_RANK)."""
    return STATUS_RANK[new] > STATUS_RANK[current]
