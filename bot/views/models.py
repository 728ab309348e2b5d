"""Plain input values for the view builders (no ORM objects, no I/O).

An alert itself reaches the views as services.notify.AlertSnapshot."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.segments import MessageCount
from services.sending_hours import SendingHours
from services.timeranges import PRESETS

CUSTOM_PRESET = "custom"
#: The range select's choices, in order: (value, label): the services' presets, then the custom range.
RANGE_PRESETS: tuple[tuple[str, str], ...] = (*PRESETS, (CUSTOM_PRESET, "Custom range…"))
DEFAULT_PRESET = "rest-of-today"


@dataclass(frozen=True)
class MessageStats:
    """Length arithmetic of the message being typed: characters as a person sees them, texts as billed."""

    length: int
    remaining: int
    segments: int
    encoding: str  # "GSM-7" | "UCS-2"
    max_chars: int
    #: The character that forces UCS-2 (70 per text), None under GSM-7.
    forcing: str | None = None

    @classmethod
    def of(cls, count: MessageCount, max_chars: int) -> MessageStats:
        """From a services.segments.count_message result and the clinic's limit."""
        return cls(
            count.characters, count.remaining, count.segments, count.encoding, max_chars, count.forcing
        )

    @property
    def too_long(self) -> bool:
        """True when the message is over the clinic's limit."""
        return self.remaining < 0


@dataclass(frozen=True)
class ComposeState:
    """Everything the compose modal shows."""

    tz: str
    clinic_choices: list[tuple[int, str]] = field(default_factory=list)
    clinic_id: int | None = None
    preset: str = DEFAULT_PRESET
    custom_start: datetime | None = None
    custom_end: datetime | None = None
    recipients: int | None = None
    first_appointment: datetime | None = None
    last_appointment: datetime | None = None
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    range_error: str | None = None
    message: str = ""
    stats: MessageStats | None = None
    #: With merge fields: `stats` measure the longest rendered text, `example_message` is the first
    #: recipient's text, `fields_error` names unknown fields (shown while typing; refused on Review).
    stats_longest: bool = False
    example_message: str | None = None
    fields_error: str | None = None
    #: The clinic's templates (id, name); `version` suffixes the message and template name block ids
    #: (bot.ids.versioned); `template_note` says what the last save did.
    templates: list[tuple[int, str]] = field(default_factory=list)
    version: int = 0
    template_note: str | None = None
    pace_seconds: float = 12.0
    #: How long sending to `recipients` takes at the pace (services.alerts.estimate_duration).
    sending_time: timedelta | None = None
    max_range_days: int = 7
    as_of: datetime | None = None
    #: When the clinic's appointments were last imported (None: not by `mass-alert import`).
    appointments_as_of: datetime | None = None
    private_metadata: str = ""

    @property
    def skipped_total(self) -> int:
        """How many clients in range will not be texted."""
        return sum(self.skipped_by_reason.values())


class ChannelAccess(enum.StrEnum):
    """Can the bot post in the clinic channel: conversations.info `is_member` (channels:read/groups:read)."""

    MEMBER = "member"
    #: A channel the bot can see but is not in: posts answer `not_in_channel`.
    NOT_MEMBER = "not_member"
    #: Slack answers `channel_not_found`: a private channel the bot was never invited to, or a deleted one.
    NOT_VISIBLE = "not_visible"
    #: Not checked (no Slack client) or Slack did not say.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ConfirmState:
    """The pushed confirmation: recipients, span, ETA and the message."""

    tz: str
    clinic_name: str
    recipients: int
    first_appointment: datetime | None
    last_appointment: datetime | None
    message: str
    pace_seconds: float
    eta: datetime | None
    segments: int = 1
    encoding: str = "GSM-7"
    skipped: int = 0
    #: The clinic's own channel: progress, outcome and report go there, wherever /mass-alert was typed.
    channel_id: str | None = None
    private_metadata: str = ""
    #: Why the `skipped` clients will not be texted: services.models.SkipReason value -> clients.
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    channel_access: ChannelAccess = ChannelAccess.UNKNOWN
    #: Quiet hours (issue 14): the clinic's sending window (None: not said), whether the alert is urgent
    #: (sent through it), and the estimate's pause: `held` clients texted after `resumes_at` (their zone
    #: `resumes_zone`); `as_of` is when the confirmation was built (for "tomorrow").
    sending_hours: SendingHours | None = None
    urgent: bool = False
    held: int = 0
    resumes_at: datetime | None = None
    resumes_zone: str | None = None
    as_of: datetime | None = None


@dataclass(frozen=True)
class SkippedPerson:
    """One client in range who will not be texted, and why."""

    name: str
    reason: str
    detail: str | None = None
