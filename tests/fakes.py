"""Hand-written fakes for the ports: an SMS gateway and a notifier that record what they saw."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from services.clock import Clock
from services.notify import AlertSnapshot, PostedMessage
from services.sms import ErrorKind, MessageInfo, SendRequest, SendResult, SmsError


@dataclass
class SentText:
    sid: str
    request: SendRequest
    at: datetime
    status: str = "queued"
    error_code: int | None = None


@dataclass
class FakeGateway:
    """Accepts texts at the clock's time; `errors` maps a To number to the SmsError it raises."""

    clock: Clock
    errors: dict[str, SmsError] = field(default_factory=dict)
    #: Raise this once per To number *after* recording the message (the provider got it, the answer was lost).
    lose_answer_for: set[str] = field(default_factory=set)
    sent: list[SentText] = field(default_factory=list)
    attempts: list[tuple[str, datetime]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, req: SendRequest) -> SendResult:
        now = self.clock.now()
        with self._lock:
            self.attempts.append((req.to, now))
            if req.to in self.errors:
                raise self.errors[req.to]
            text = SentText(f"SM{next(self._ids):032x}", req, now)
            self.sent.append(text)
            if req.to in self.lose_answer_for:
                self.lose_answer_for.discard(req.to)
                raise SmsError(ErrorKind.IN_DOUBT, "timed out waiting for Twilio")
            return SendResult(text.sid, "queued")

    def _info(self, text: SentText) -> MessageInfo:
        return MessageInfo(
            sid=text.sid,
            status=text.status,
            to=text.request.to,
            from_=text.request.from_,
            body=text.request.body,
            error_code=text.error_code,
            error_message=None,
            date_created=text.at,
        )

    def fetch(self, sid: str) -> MessageInfo:
        return next(self._info(t) for t in self.sent if t.sid == sid)

    def find_sent(
        self, to: str, from_: str | None, messaging_service_sid: str | None, since: datetime
    ) -> list[MessageInfo]:
        return [self._info(t) for t in reversed(self.sent) if t.request.to == to and t.at >= since]

    def to(self, number: str) -> list[SentText]:
        return [t for t in self.sent if t.request.to == number]


@dataclass
class RecordingNotifier:
    """Remembers every notice; `fail_completed` makes the completion notice raise that many times."""

    started: list[AlertSnapshot] = field(default_factory=list)
    progress: list[AlertSnapshot] = field(default_factory=list)
    completed: list[tuple[AlertSnapshot, Path]] = field(default_factory=list)
    fail_completed: int = 0

    def alert_started(self, alert: AlertSnapshot) -> PostedMessage | None:
        self.started.append(alert)
        if alert.slack_channel_id and alert.slack_message_ts:  # a scheduled alert's entry: edited in place
            return PostedMessage(alert.slack_channel_id, alert.slack_message_ts)
        return PostedMessage("C0TEST", f"1700000000.{len(self.started):06d}")

    def alert_progress(self, alert: AlertSnapshot) -> None:
        self.progress.append(alert)

    def alert_completed(self, alert: AlertSnapshot, report: Path) -> str | None:
        if self.fail_completed:
            self.fail_completed -= 1
            raise RuntimeError("Slack is down")
        self.completed.append((alert, report))
        return f"https://files.example/{report.name}"
