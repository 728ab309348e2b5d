"""What every part of the conversations package shares: directions, states, and the rows the inbound path
reads with plain Core statements (so a webhook never loads ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.models import sender_key_of

ACTIVE = "active"
CLOSED = "closed"
INBOUND = "inbound"
OUTBOUND = "outbound"


@dataclass(frozen=True)
class ClinicRow:
    """The clinic fields an inbound text needs (read with the conversation and the clients)."""

    id: int
    name: str
    timezone: str
    sms_from: str | None
    messaging_service_sid: str | None
    contact_phone: str | None
    slack_channel_id: str | None

    @property
    def sender_key(self) -> str | None:
        """The identity pacing is kept for (as Clinic.sender_key)."""
        return sender_key_of(self.sms_from, self.messaging_service_sid)


@dataclass(frozen=True)
class ClientRow:
    """A client on the texting number."""

    id: int
    full_name: str
    opted_out_at: datetime | None


@dataclass(frozen=True)
class ConversationRow:
    """The conversation fields the inbound path and the thread header need.

    `slack_thread_ts` is the ts of the thread's first message once posted, else None (whether somebody is
    posting it is `Conversation.thread_claimed_at`, which the inbound path only sets).
    """

    id: int
    client_id: int | None
    phone_e164: str
    status: str
    unknown_contact: bool
    alert_id: int | None
    slack_channel_id: str | None
    slack_thread_ts: str | None
    closed_at: datetime | None
