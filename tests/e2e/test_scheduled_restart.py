"""A scheduled alert across a restart and with two PostgreSQL workers: started exactly once.

Real processes: `mass-alert send --at` schedules it and posts its entry in sandbox Slack; `mass-alert worker`
processes start it, one of them killed with SIGKILL just before or just after its claim commits; the sandbox
Twilio receives the texts over HTTP. Each client gets one text and the channel has one entry, edited.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from sandbox.slack import SandboxSlack
from sandbox.twilio import SandboxTwilio
from services import db
from services.clock import SystemClock
from services.models import AlertState, MassAlert
from tests.blockkit import all_text
from tests.e2e.test_crash_recovery import SID, TOKEN, env_for, wait_done, worker
from tests.e2e.test_send_cli import run_cli, send_args
from tests.integration.recipient_builders import Builder

CHANNEL = "C0FRONTDESK"
PHONES = ["+13125550101", "+13125550102", "+13125550103", "+13125550104"]


@pytest.fixture
def slack() -> Iterator[SandboxSlack]:
    sandbox = SandboxSlack().start()
    sandbox.add_channel(CHANNEL, "frontdesk")
    try:
        yield sandbox
    finally:
        sandbox.stop()


def seed(db_url: str, team_id: str) -> sessionmaker[Session]:
    db.upgrade(db_url)
    sessions = db.make_session_factory(db.make_engine(db_url))
    now = SystemClock().now()
    with sessions() as session, session.begin():
        b = Builder(session)
        clinic = b.clinic(
            name="Happy Paws",
            sms_from="+15005550006",
            alert_pace_seconds=0.3,
            slack_team_id=team_id,
            slack_channel_id=CHANNEL,
        )
        for i, phone in enumerate(PHONES):
            b.visit(b.pet(b.client(clinic, f"Client {i}", phone)), now + timedelta(days=1, minutes=i))
    return sessions


def schedule_from_the_command_line(env: dict[str, str], sessions: sessionmaker[Session]) -> int:
    """`mass-alert send --at` an hour ahead (its entry is posted then), then make it due: the app is down."""
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    args = send_args("Closed.", "--at", at)
    sent = run_cli(args, env)
    assert sent.returncode == 0, sent.stderr
    with sessions() as session, session.begin():
        alert = session.scalars(select(MassAlert)).one()
        alert.start_at = datetime.now(UTC) - timedelta(seconds=1)
        return alert.id


def entries(slack: SandboxSlack) -> list[dict[str, object]]:
    with slack._lock:
        return [dict(m) for m in slack.messages.get(CHANNEL, []) if not m.get("thread_ts")]


def assert_started_once(slack: SandboxSlack, twilio: SandboxTwilio, entry_ts: object) -> None:
    assert sorted(m.to for m in twilio.messages) == PHONES, "a client got no text or more than one"
    (entry,) = entries(slack)  # the entry posted when it was scheduled, edited: never a second one
    assert entry["ts"] == entry_ts and "All 4 texts sent" in str(entry["text"])
    assert "scheduled for" not in all_text(entry["blocks"])  # type: ignore[arg-type]


@pytest.mark.parametrize("point", ["starting", "started"])
def test_a_worker_killed_as_it_starts_the_alert_then_restarted_starts_it_once(
    db_url: str, point: str, slack: SandboxSlack, tmp_path: Path
) -> None:
    """Killed before its claim commits (still scheduled) or after (started, no text sent yet); then one
    worker again on SQLite, two on PostgreSQL."""
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, send_callbacks=False) as twilio:
        sessions = seed(db_url, slack.team_id)
        env = env_for(db_url, twilio, tmp_path, SLACK_BOT_TOKEN=slack.bot_token, SLACK_API_URL=slack.url)
        alert_id = schedule_from_the_command_line(env, sessions)
        (posted,) = entries(slack)
        assert "🕘" in all_text(posted["blocks"])  # type: ignore[arg-type]

        crashed = worker({**env, "MASS_ALERT_CRASH_AT": f"{point}:1"})
        crashed.communicate(timeout=60)
        assert crashed.returncode == -signal.SIGKILL
        with sessions() as session:
            state = session.scalar(select(MassAlert.state).where(MassAlert.id == alert_id))
        assert state == (AlertState.SCHEDULED if point == "starting" else AlertState.QUEUED)
        assert twilio.messages == []

        restarted = [worker(env), worker(env)] if db_url.startswith("postgresql") else [worker(env)]
        try:
            wait_done(sessions)
        finally:
            for process in restarted:
                process.terminate()
            for process in restarted:
                process.communicate(timeout=30)
        assert_started_once(slack, twilio, posted["ts"])


def test_a_scheduled_alert_due_while_the_app_was_down_starts_once_it_is_back(
    db_url: str, slack: SandboxSlack, tmp_path: Path
) -> None:
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, send_callbacks=False) as twilio:
        sessions = seed(db_url, slack.team_id)
        env = env_for(db_url, twilio, tmp_path, SLACK_BOT_TOKEN=slack.bot_token, SLACK_API_URL=slack.url)
        schedule_from_the_command_line(env, sessions)
        (posted,) = entries(slack)
        with sessions() as session, session.begin():  # long overdue: it was due an hour ago
            session.execute(update(MassAlert).values(start_at=datetime.now(UTC) - timedelta(hours=1)))
        back = worker(env)
        try:
            wait_done(sessions)
        finally:
            back.terminate()
            back.communicate(timeout=30)
        assert_started_once(slack, twilio, posted["ts"])
