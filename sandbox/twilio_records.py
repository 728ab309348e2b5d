"""What the sandbox Twilio holds and records: messages in Twilio's JSON shape, requests, webhooks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any

from sandbox.twilio_rules import segments

API_VERSION = "2010-04-01"


def rfc2822(instant: datetime | None) -> str | None:
    """Twilio's date format, e.g. 'Tue, 01 Dec 2026 15:00:00 +0000'."""
    return format_datetime(instant.astimezone(UTC)) if instant is not None else None


@dataclass
class SandboxMessage:
    """A message the sandbox holds, with every status it went through and when."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status: str
    direction: str
    date_created: datetime
    date_updated: datetime
    status_callback: str | None = None
    date_sent: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    history: list[tuple[str, datetime]] = field(default_factory=list)
    #: The Body as the create carried it (before smart encoding); `body` is what the handset gets.
    original_body: str | None = None
    num_media: int = 0
    validity_period: int | None = None
    #: Seconds the message waits as `queued` before it is sent (the sender's queue).
    queue_wait: float = 0.0
    #: Set when the message is bound to fail after create (validity expiry, unregistered sender).
    fail_code: int | None = None
    #: True while a dropped create left it `queued` with no date_sent (see release_held).
    held: bool = False

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def to_json(self) -> dict[str, Any]:
        """The message in Twilio's JSON shape."""
        base = self.uri[: -len(".json")]
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(self.num_media),
            "num_segments": str(segments(self.body)),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
            "to": self.to,
            "uri": self.uri,
            "validity_period": self.validity_period,
        }


@dataclass(frozen=True)
class RequestRecord:
    """One API request the sandbox answered."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    status: int
    at: datetime


@dataclass(frozen=True)
class CallbackRecord:
    """One webhook the sandbox posted: status callback or inbound message."""

    url: str
    params: dict[str, str]
    signature: str
    status: int | None
    error: str | None
    at: datetime


@dataclass(frozen=True)
class Arrival:
    """One message create as it reached the sandbox: when (wall clock, monotonic) and how it was answered."""

    from_: str | None
    to: str
    at: datetime
    monotonic: float
    status: int
    sid: str | None


def sent_matches(sent: datetime | None, name: str, value: str) -> bool:
    """Whether a date_sent passes one DateSent filter (see SandboxTwilio._list)."""
    if sent is None:
        return False
    value = value.strip()
    if len(value) <= 10 or name == "DateSent":
        have: date | datetime = sent.astimezone(UTC).date()
        wanted: date | datetime = date.fromisoformat(value[:10])
    else:
        have = sent.astimezone(UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        wanted = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if name == "DateSent":
        return have == wanted
    return have >= wanted if name == "DateSent>" else have <= wanted


def copy_message(message: SandboxMessage) -> SandboxMessage:
    return dataclasses.replace(message, history=list(message.history))
