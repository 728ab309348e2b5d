"""The Notifier port (how an alert's life reaches people) and the snapshot it is given."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from services.outcomes import plural_category


@dataclass(frozen=True)
class AlertSnapshot:
    """An alert as people see it: who, what, how far along, and the outcome.

    One set of counts for every screen (issue 12, "counts that agree"): `texted` clients were handed
    to the send queue, `not_texted` were skipped with a reason, and `sent + failed + pending == texted`
    (failed is part of texted).
    """

    id: int
    clinic_id: int
    clinic_name: str
    timezone: str
    created_by_name: str
    slack_user_id: str | None
    message: str
    range_start: datetime
    range_end: datetime
    first_appointment: datetime | None
    last_appointment: datetime | None
    state: str
    pace_seconds: float
    #: Clients handed to the send queue and not taken back (sent + failed + pending).
    texted: int
    #: Clients in the range skipped with a reason (at confirmation, or later: opted out, cancelled, stopped).
    not_texted: int
    sent: int
    failed: int
    pending: int
    created_at: datetime
    completed_at: datetime | None = None
    eta: datetime | None = None
    error: str | None = None
    cancelled_by: str | None = None
    report_path: str | None = None
    report_permalink: str | None = None
    slack_channel_id: str | None = None
    slack_message_ts: str | None = None
    failure_reasons: Counter[str] = field(default_factory=Counter)
    #: Why clients were not texted: services.models.SkipReason value -> clients.
    not_texted_reasons: Counter[str] = field(default_factory=Counter)
    #: The workspace of the clinic's channel (Slack's rate limits are per workspace).
    slack_team_id: str | None = None
    #: Where /mass-alert was typed, when that is not the clinic's channel (the start notice only).
    asked_in_channel_id: str | None = None

    #: "Text the N not reached" (services.retry): how many a retry would text (0: no button), the alert this
    #: one retries and its attempt number (1 for the first retry).
    not_reached: int = 0
    retry_of: int | None = None
    retry_number: int = 0
    #: "Send at": when a scheduled alert starts (None: sent when confirmed), and while it waits, how many
    #: clients it would text as counted when it was scheduled (they are counted again when it starts).
    start_at: datetime | None = None
    scheduled_count: int = 0
    #: Quiet hours (issue 14): while every text left waits for its client's sending window to open (none
    #: in flight, none due), when the first of them may go (UTC) and that client's zone; else None.
    paused_until: datetime | None = None
    paused_zone: str | None = None

    @property
    def to_send(self) -> int:
        """The same number as `texted` (older name)."""
        return self.texted

    @property
    def skipped_count(self) -> int:
        """The same number as `not_texted` (older name)."""
        return self.not_texted

    @property
    def total_clients(self) -> int:
        """Every client with an appointment in the range: texted + not texted."""
        return self.texted + self.not_texted

    @property
    def finished(self) -> bool:
        """True once the outcome is known (completed, cancelled or stopped)."""
        return self.state in ("completed", "cancelled", "failed") and self.pending == 0

    @property
    def never_started(self) -> bool:
        """A scheduled alert that has no client yet: waiting, cancelled or stopped before it started."""
        return self.start_at is not None and self.total_clients == 0

    @property
    def succeeded(self) -> bool:
        """Green: every text that was to be sent went out."""
        return self.state == "completed" and self.failed == 0

    @property
    def failure_summary(self) -> str:
        """Plain words for the failures, most common first: '2 landlines, 1 unreachable'."""
        return ", ".join(plural_category(name, count) for name, count in self.failure_reasons.most_common())


@dataclass(frozen=True)
class PostedMessage:
    """Where the activity entry was posted, so later updates edit the same message."""

    channel_id: str
    ts: str


class Notifier(Protocol):
    """Tells people about an alert; implemented for Slack (bot.notifier) and the terminal."""

    def alert_started(self, alert: AlertSnapshot) -> PostedMessage | None:
        """Show the activity entry: post it, or edit in place the one the snapshot names already (a
        scheduled alert's entry, as it starts, is cancelled or stops); return where it is (None: nowhere)."""
        ...

    def alert_progress(self, alert: AlertSnapshot) -> None:
        """Update the activity entry with the counts and ETA."""
        ...

    def alert_completed(self, alert: AlertSnapshot, report: Path) -> str | None:
        """Show the green/red outcome and share the report; return the report's link if any."""
        ...


class NullNotifier:
    """Tells nobody (the worker process when another process talks to Slack)."""

    def alert_started(self, alert: AlertSnapshot) -> PostedMessage | None:
        return None

    def alert_progress(self, alert: AlertSnapshot) -> None:
        return None

    def alert_completed(self, alert: AlertSnapshot, report: Path) -> str | None:
        return None
