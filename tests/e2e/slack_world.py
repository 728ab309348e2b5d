"""The served app over real HTTP with sandbox Slack and Twilio, and a clinic to alert.

Shared by the Slack end-to-end tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import serve
from bot.container import AppContext
from bot.main import Overrides
from sandbox import polling
from sandbox.slack import SandboxSlack
from sandbox.slack_user import SlackUser
from sandbox.twilio import SandboxTwilio
from services import alerts, db
from services.models import MassAlert, Role
from services.notify import AlertSnapshot
from services.settings import Settings
from tests.blockkit import check_message, check_view
from tests.integration.recipient_builders import Builder

T = TypeVar("T")
SECRET = "e2e-signing-secret"
TWILIO_SID = "AC" + "2" * 32
TWILIO_TOKEN = "e2e-twilio-token"
TZ = "America/Chicago"
CHANNEL, UPTOWN_CHANNEL, OTHER_CHANNEL = "C0FRONTDESK", "C0UPTOWN", "C0RANDOM"
ADMIN, STAFF, UPTOWN_ADMIN, STRANGER = "U0ADMIN", "U0STAFF", "U0UPTOWN", "U0STRANGER"
SENDER = "+15005550006"
#: Reachable clients with an appointment tomorrow, and two in range who cannot be texted.
PHONES = ("+13125550101", "+13125550102", "+13125550103")
LANDLINE, UNREACHABLE = "+15005550009", "+13125550104"


@dataclass
class World:
    """Everything one end-to-end test touches."""

    slack: SandboxSlack
    twilio: SandboxTwilio
    context: AppContext
    served: serve.Served
    clinic_id: int
    uptown_id: int
    names: dict[str, str] = field(default_factory=dict)

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.context.sessions

    def user(self, user_id: str = ADMIN, channel_id: str = CHANNEL) -> SlackUser:
        """A Slack member who sends signed requests to the served app."""
        return SlackUser(
            self.slack, self.served.events_url, SECRET, user_id=user_id, channel_id=channel_id, timeout=10.0
        )

    def alert_ids(self) -> list[int]:
        with self.sessions() as session:
            return list(session.scalars(select(MassAlert.id).order_by(MassAlert.id)))

    def snapshot(self, alert_id: int) -> AlertSnapshot:
        return alerts.snapshot(self.sessions, alert_id, datetime.now(UTC))

    def wait_for(self, found: Callable[[], T | None], what: str, timeout: float = 15.0) -> T:
        return polling.wait_for(found, what, timeout, interval=0.02)

    def wait_finished(self, alert_id: int, timeout: float = 20.0) -> AlertSnapshot:
        """The alert once its outcome has been posted (the report link is stored then)."""
        return self.wait_for(
            lambda: (s := self.snapshot(alert_id)).finished and s.report_permalink and s,
            f"alert {alert_id} to finish",
            timeout,
        )

    def messages(self, channel: str = CHANNEL) -> list[dict[str, Any]]:
        with self.slack._lock:
            return [dict(m) for m in self.slack.messages.get(channel, [])]

    def problems(self) -> list[str]:
        """Every Block Kit rule broken by a view or message the app sent to Slack."""
        found: list[str] = []
        for call in list(self.slack.calls):
            if call.method in ("views.open", "views.update", "views.push", "views.publish"):
                view = call.params.get("view")
                found += [f"{call.method}: {p}" for p in check_view(view)] if isinstance(view, dict) else []
            elif call.method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
                blocks = call.params.get("blocks") or []
                found += [f"{call.method}: {p}" for p in check_message(call.params.get("text") or "", blocks)]
        return found


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    """An instant tomorrow in clinic time.

    Always inside the "rest of today and tomorrow" preset, never inside "rest of today".
    """
    zone = ZoneInfo(TZ)
    day = datetime.now(zone).date() + timedelta(days=1)
    return datetime.combine(day, clock_time(hour, minute), tzinfo=zone)


def _seed(sessions: sessionmaker[Session], team_id: str) -> tuple[int, int, dict[str, str]]:
    names: dict[str, str] = {}
    with sessions() as session, session.begin():
        b = Builder(session)
        clinic = b.clinic(
            name="Happy Paws, Downtown",
            tz=TZ,
            sms_from=SENDER,
            slack_team_id=team_id,
            slack_channel_id=CHANNEL,
        )
        b.user(clinic, "ana@happypaws.test", Role.ADMIN, name="Dr. Ana Lee")
        b.user(clinic, "sam@happypaws.test", Role.STAFF, name="Sam Ortiz")
        for index, phone in enumerate((*PHONES, LANDLINE, UNREACHABLE)):
            name = f"Client {index + 1}"
            names[phone] = name
            b.visit(b.pet(b.client(clinic, name, phone)), tomorrow_at(9 + index))
        b.visit(
            b.pet(b.client(clinic, "Olive Optout", "+13125550150", opted_out_at=datetime.now(UTC))),
            tomorrow_at(15),
        )
        b.visit(
            b.pet(b.client(clinic, "Nora Nophone", None, raw="call after 5pm", error="not a phone number")),
            tomorrow_at(16),
        )
        uptown = b.clinic(
            name="Happy Paws, Uptown",
            tz=TZ,
            sms_from=SENDER,
            slack_team_id=team_id,
            slack_channel_id=UPTOWN_CHANNEL,
            two_way_texting=False,
        )
        b.user(uptown, "jordan@happypaws.test", Role.ADMIN, name="Jordan Kim")
        return clinic.id, uptown.id, names


def seed_database(url: str, team_id: str) -> tuple[int, int, dict[str, str]]:
    """Seed the clinics before the app is served (its own short-lived connection pool)."""
    engine = db.make_engine(url)
    try:
        return _seed(db.make_session_factory(engine), team_id)
    finally:
        engine.dispose()


@contextmanager
def running_world(
    url: str, reports: Path, *, pace: float = 0.2, overrides: Callable[[Settings], Overrides] | None = None
) -> Iterator[World]:
    """Migrate `url`, seed it, start both sandboxes and serve the app with its dispatcher."""
    db.upgrade(url)
    slack = SandboxSlack().start()
    twilio = SandboxTwilio(
        account_sid=TWILIO_SID,
        auth_token=TWILIO_TOKEN,
        callback_delay=0.02,
        carrier_outcomes={UNREACHABLE: ("undelivered", 30003)},
    ).start()
    served = None
    try:
        slack.add_channel(CHANNEL, "frontdesk")
        slack.add_channel(UPTOWN_CHANNEL, "uptown")
        slack.add_channel(OTHER_CHANNEL, "random")
        slack.add_user(ADMIN, email="ana@happypaws.test", real_name="Dr. Ana Lee")
        slack.add_user(STAFF, email="sam@happypaws.test", real_name="Sam Ortiz")
        slack.add_user(UPTOWN_ADMIN, email="jordan@happypaws.test", real_name="Jordan Kim")
        slack.add_user(STRANGER, email="visitor@example.org", real_name="Val Visitor")
        settings = Settings(
            database_url=url,
            alert_pace_seconds=pace,
            sender_max_per_second=50.0,
            completion_grace_seconds=5.0,
            dispatch_interval_seconds=0.02,
            reports_dir=reports,
            slack_bot_token=slack.bot_token,
            slack_signing_secret=SECRET,
            slack_api_url=slack.url,
            twilio_account_sid=TWILIO_SID,
            twilio_auth_token=TWILIO_TOKEN,
            twilio_api_url=twilio.url,
        )
        clinic_id, uptown_id, names = seed_database(url, slack.team_id)
        served = serve.start(
            settings,
            overrides(settings) if overrides is not None else None,
            host="127.0.0.1",
            port=0,
            callbacks_to_self=True,
            finalize_every=0.25,
        )
        yield World(slack, twilio, served.context, served, clinic_id, uptown_id, names)
    finally:
        if served is not None:
            served.close()
        twilio.stop()
        slack.stop()
