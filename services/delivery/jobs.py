"""What the dispatcher's parts share: its tunables, a claimed job, and the context each part reads."""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from services.clock import Clock
from services.models import AlertState, DeliveryStatus
from services.notify import Notifier
from services.sms import SmsGateway

#: Alert states in which the dispatcher still sends the alert's texts.
ACTIVE = (AlertState.QUEUED, AlertState.SENDING)
#: Statuses of a text Twilio has taken but not yet settled (polled when there are no status callbacks).
NOT_FINAL_HANDED = (DeliveryStatus.ACCEPTED, DeliveryStatus.SENT)


class JobKind(enum.StrEnum):
    """Which outbox table a job's row is in."""

    ALERT = "alert"  # an AlertDelivery: one client's text of a mass alert, paced
    CONVERSATION = "conversation"  # an outbound ConversationMessage: a staff reply, the priority lane


@dataclass(frozen=True)
class DispatchConfig:
    """Tunables of the dispatcher (from Settings in production, small values in tests); seconds throughout."""

    #: The sender's hard rate, every lane together (texts per second).
    sender_max_per_second: float = 1.0
    #: How far ahead of its slot a text may be claimed.
    lookahead_seconds: float = 0.2
    #: How long a claim owns its row before the reconciler may look at it.
    lease_seconds: float = 20.0
    #: When a send in doubt is first looked up in Twilio's Messages list.
    in_doubt_recheck_seconds: float = 10.0
    max_attempts: int = 8
    #: How long an alert waits for its accepted/sent texts to become final before it completes anyway.
    completion_grace_seconds: float = 600.0
    progress_interval_seconds: float = 5.0
    poll_interval_seconds: float = 5.0
    #: The app's public URL: status callbacks go to `<url>/twilio/status`; None means poll instead.
    public_base_url: str | None = None
    reports_dir: Path = field(default_factory=lambda: Path("reports"))
    max_claims_per_tick: int = 64
    #: Added to every alert gap so the provider never sees two texts closer than the pace: it covers the
    #: pace stamp's tolerance (half of it, services.delivery.turn) and the request's way from the stamp to
    #: Twilio on a loaded machine (thread switches every 5 ms). 0.4 % of the article's 12 s pace.
    pace_margin_seconds: float = 0.05
    #: ALERT_MAX_CHARS: a scheduled alert whose merge fields render longer when it starts is stopped.
    alert_max_chars: int = 320


@dataclass(frozen=True)
class Job:
    """One claimed text, ready to go to the provider at `slot_at` (UTC)."""

    kind: JobKind
    row_id: int
    attempt_id: str
    to: str
    body: str
    sender_key: str
    slot_at: datetime
    alert_id: int | None = None
    pace_seconds: float = 0.0  # the alert's pace; conversation texts have none


class Context(Protocol):
    """What each part of the dispatcher reads from the front (`Dispatcher`), at call time.

    Read at call time because callers replace `config` (and `notifier`) after the dispatcher is built.
    """

    sessions: sessionmaker[Session]
    gateway: SmsGateway
    clock: Clock
    config: DispatchConfig
    notifier: Notifier
    stopping: threading.Event

    def checkpoint(self, name: str) -> None:
        """A crash test's kill point (no-op unless asked for)."""
