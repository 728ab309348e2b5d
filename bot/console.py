"""A Notifier for the terminal (`mass-alert send`, `worker`): plain lines and a progress bar."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from bot.views.wording import progress_bar
from services.notify import AlertSnapshot, PostedMessage
from services.timeranges import format_instant, format_span


def progress_line(alert: AlertSnapshot) -> str:
    """'[####....] 17 of 42 sent · 1 failed · about 5 min left'."""
    done = alert.sent + alert.failed
    line = f"[{progress_bar(done, alert.to_send, 28, marks=('#', '.'))}] {alert.sent} of {alert.to_send} sent"
    if alert.failed:
        line += f" · {alert.failed} failed"
    if alert.eta is not None and alert.pending:
        line += f" · done around {format_instant(alert.eta, alert.timezone)}"
    return line


def outcome_line(alert: AlertSnapshot) -> str:
    """The green/red status line in words."""
    if alert.state == "cancelled":
        return (
            f"Cancelled by {alert.cancelled_by}: {alert.sent} sent, {alert.failed} failed before it stopped"
        )
    if alert.state == "failed":
        return f"Stopped: {alert.error}. {alert.sent} sent, {alert.failed} failed"
    if alert.failed == 0:
        return f"All {alert.sent} texts sent"
    return f"{alert.failed} of {alert.to_send} failed · {alert.sent} sent · {alert.failure_summary}"


class ConsoleNotifier:
    """Prints the alert's life to a stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def alert_started(self, alert: AlertSnapshot) -> PostedMessage | None:
        span = (
            format_span(alert.first_appointment, alert.last_appointment, alert.timezone)
            if alert.first_appointment and alert.last_appointment
            else "no appointments"
        )
        print(
            f"Mass text alert #{alert.id} by {alert.created_by_name}: {alert.to_send} clients "
            f"({alert.skipped_count} not texted), appointments {span}",
            file=self.stream,
        )
        return None

    def alert_progress(self, alert: AlertSnapshot) -> None:
        print(progress_line(alert), file=self.stream)

    def alert_completed(self, alert: AlertSnapshot, report: Path) -> str | None:
        mark = "GREEN" if alert.succeeded else "RED"
        print(f"[{mark}] {outcome_line(alert)}", file=self.stream)
        print(f"Report: {report}", file=self.stream)
        return None
