"""Merge fields end to end: `mass-alert send --wait` against sandbox Twilio, per-client texts and report."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.web import TwilioRoutes, WebApp, serve_in_thread
from sandbox.twilio import SandboxTwilio
from services import db
from services.clock import SystemClock
from services.models import MassAlert
from tests.e2e.test_send_cli import SID, TOKEN, cli_env, run_cli, send_args
from tests.integration.recipient_builders import Builder

MESSAGE = (
    "Hi {client_first_name}, {clinic_name} closes at 3 PM. {pet_names}'s visit {appointment_time}: "
    "call {clinic_phone}."
)


@pytest.fixture
def twilio():
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, callback_delay=0.05) as sandbox:
        yield sandbox


def _tomorrow_at(hour: int, minute: int) -> datetime:
    """Tomorrow at this clinic-local (America/Chicago, CST in December) hour, as UTC; tests run any day."""
    local = datetime.now(ZoneInfo("America/Chicago")) + timedelta(days=1)
    return local.replace(hour=hour, minute=minute, second=0, microsecond=0).astimezone(UTC)


def test_each_client_receives_and_is_reported_with_their_own_text(
    db_url: str, twilio: SandboxTwilio, tmp_path: Path
) -> None:
    db.upgrade(db_url)
    sessions = db.make_session_factory(db.make_engine(db_url))
    first, second = _tomorrow_at(9, 30), _tomorrow_at(14, 0)
    with sessions() as session, session.begin():
        b = Builder(session)
        clinic = b.clinic(name="Happy Paws", sms_from="+15005550006", contact_phone="(312) 555-0199")
        ann = b.client(clinic, "Ann Marie Smith", "+13125550101")
        ann.first_name = "Annie"  # the optional client_first_name column
        rex, mia = b.pet(ann, "Rex"), b.pet(ann, "Mia")
        b.visit(mia, second)
        b.visit(rex, first)
        bob = b.client(clinic, "Bob Jones", "+13125550102")
        b.visit(b.pet(bob, "Bo"), second)
    server = serve_in_thread(WebApp(sessions, TwilioRoutes(sessions, SystemClock(), TOKEN, None)))
    env = cli_env(db_url, twilio, f"http://127.0.0.1:{server.effective_port}", tmp_path)
    try:
        preview = run_cli(
            ["preview", "--clinic", "Happy Paws", "--preset", "today+2", "--message", MESSAGE, "--json"], env
        )
        result = run_cli(send_args(MESSAGE, "--wait"), env)
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    local = first.astimezone(ZoneInfo("America/Chicago"))
    when = f"{local:%a} {local:%b} {local.day}, 9:30 AM"
    expected = {
        "+13125550101": (
            f"Hi Annie, Happy Paws closes at 3 PM. Rex and Mia's visit {when}: call (312) 555-0199."
        ),
        "+13125550102": (
            f"Hi Bob, Happy Paws closes at 3 PM. Bo's visit {local:%a} {local:%b} {local.day}, 2:00 PM: "
            "call (312) 555-0199."
        ),
    }
    assert {m.to: m.body for m in twilio.messages} == expected
    with sessions() as session:
        alert = session.scalars(select(MassAlert)).one()
    with Path(alert.report_path or "").open(newline="", encoding="utf-8-sig") as handle:
        report = {r["Client Phone Number"].strip(): r["Message Text"] for r in csv.DictReader(handle)}
    assert report == expected
    assert preview.returncode == 0, preview.stderr
    shown = json.loads(preview.stdout)
    assert shown["example_message"] == expected["+13125550101"]  # the earliest appointment comes first
    assert shown["max_segments"] == 1
