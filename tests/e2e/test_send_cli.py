"""`mass-alert send --wait` as a real process against sandbox Twilio.

Twilio's status callbacks reach the web app signed, as Twilio sends them.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.views.wording import hours_words
from bot.web import TwilioRoutes, WebApp, serve_in_thread
from sandbox.twilio import SandboxTwilio
from services import db
from services.clock import SystemClock
from services.models import AlertDelivery, MassAlert
from services.sending_hours import SendingHours
from tests.integration.recipient_builders import Builder

ROOT = Path(__file__).resolve().parents[2]
SID = "AC" + "1" * 32
TOKEN = "sandbox-token"


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def send_args(message: str, *extra: str) -> list[str]:
    """`mass-alert send` for the clinic "Happy Paws", preset today+2, confirmed (`--yes`), then `extra`."""
    return ["send", "--clinic", "Happy Paws", "--preset", "today+2", "--message", message, "--yes", *extra]


def cli_env(
    db_url: str, twilio: SandboxTwilio, base: str, reports: Path, pace: str = "0.2"
) -> dict[str, str]:
    """The environment of a `mass-alert` process on `db_url` texting through sandbox `twilio`, its status
    callbacks sent to `base`, `pace` seconds between alert texts, reports written to `reports`."""
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_URL": twilio.url,
        "PUBLIC_BASE_URL": base,
        "ALERT_PACE_SECONDS": pace,
        "SENDER_MAX_PER_SECOND": "10",
        "COMPLETION_GRACE_SECONDS": "20",
        "REPORTS_DIR": str(reports),
    }


@pytest.fixture
def twilio():
    with SandboxTwilio(
        account_sid=SID,
        auth_token=TOKEN,
        callback_delay=0.05,
        carrier_outcomes={"+13125550104": ("undelivered", 30003)},
    ) as sandbox:
        yield sandbox


def test_send_wait_delivers_paced_alert_with_report(
    db_url: str, twilio: SandboxTwilio, tmp_path: Path
) -> None:
    db.upgrade(db_url)
    sessions = db.make_session_factory(db.make_engine(db_url))
    clock = SystemClock()
    phones = ["+13125550101", "+13125550102", "+13125550103", "+13125550104", "+15005550009"]
    with sessions() as session, session.begin():
        b = Builder(session)
        clinic = b.clinic(name="Happy Paws", sms_from="+15005550006")
        for i, phone in enumerate(phones):
            b.visit(b.pet(b.client(clinic, f"Client {i}", phone)), clock.now() + timedelta(hours=5 + i))
    server = serve_in_thread(WebApp(sessions, TwilioRoutes(sessions, clock, TOKEN, None)))
    env = cli_env(db_url, twilio, f"http://127.0.0.1:{server.effective_port}", tmp_path, pace="0.4")
    try:
        result = run_cli(
            [
                "send",
                "--clinic",
                "Happy Paws",
                "--preset",
                "today+1",
                "--message",
                "Closing at 3 PM today (storm).",
                "--yes",
                "--wait",
            ],
            env,
        )
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    assert "2 of 5 failed" in result.stdout  # the landline and the unreachable handset
    created = sorted(m.to for m in twilio.messages)
    assert created == sorted(p for p in phones if p != "+15005550009")  # 21614 is refused at create
    times = sorted(m.date_created for m in twilio.messages)
    with sessions() as session:
        alert = session.scalars(select(MassAlert)).one()
        rows = session.scalars(select(AlertDelivery).where(AlertDelivery.status != "skipped")).all()
        requested = sorted(r.requested_at for r in rows if r.requested_at)
    assert all(b - a >= timedelta(seconds=0.4) for a, b in pairwise(requested))
    assert len(times) == 4
    report = Path(alert.report_path or "")
    with report.open(newline="", encoding="utf-8-sig") as handle:
        table = {r["Client Phone Number"].removeprefix("\u00a0"): r for r in csv.DictReader(handle)}
    assert table["+13125550101"]["SMS Status"] == "Delivered"
    assert table["+13125550104"]["SMS Status"] == "Undelivered"
    assert "30003" in table["+13125550104"]["Error Details"]
    assert table["+15005550009"]["SMS Status"] == "Failed"
    assert "21614" in table["+15005550009"]["Error Details"]
    assert f"Report: {report}" in result.stdout


def shut_window(now: datetime, tz: str) -> tuple[int, int]:
    """A one-hour sending window starting two hours after `now` in zone `tz`: shut whenever the test runs."""
    local = now.astimezone(ZoneInfo(tz))
    start = (local.hour * 60 + local.minute + 120) % (24 * 60)
    return start, start + 60 if start + 60 <= 24 * 60 else (start + 60) % (24 * 60)


def test_send_urgent_texts_outside_the_sending_hours_and_records_the_flag(
    db_url: str, twilio: SandboxTwilio, tmp_path: Path
) -> None:
    db.upgrade(db_url)
    sessions = db.make_session_factory(db.make_engine(db_url))
    clock = SystemClock()
    start, end = shut_window(clock.now(), "America/Chicago")
    hours = SendingHours(start, end)
    phones = ["+13125550101", "+13125550102"]  # Chicago numbers: timed in Chicago, where the window is shut
    with sessions() as session, session.begin():
        b = Builder(session)
        clinic = b.clinic(
            name="Happy Paws", sms_from="+15005550006", sending_hours_start=start, sending_hours_end=end
        )
        for i, phone in enumerate(phones):
            b.visit(b.pet(b.client(clinic, f"Client {i}", phone)), clock.now() + timedelta(hours=5 + i))
    server = serve_in_thread(WebApp(sessions, TwilioRoutes(sessions, clock, TOKEN, None)))
    env = cli_env(db_url, twilio, f"http://127.0.0.1:{server.effective_port}", tmp_path)
    try:
        urgent = run_cli(send_args("Storm: closed today.", "--urgent", "--wait"), env)
        # Without --urgent the same clients wait for the window: nothing more reaches Twilio.
        held = run_cli(send_args("Storm: closed today."), env)
    finally:
        server.close()
    assert urgent.returncode == 0, urgent.stderr
    assert f"Urgent: texts go out at any hour, outside the sending hours ({hours_words(hours)}) too." in (
        urgent.stdout
    )
    assert "will be texted after" not in urgent.stdout
    assert "All 2 texts sent" in urgent.stdout
    assert held.returncode == 0, held.stderr
    assert "About 2 clients will be texted after" in held.stdout and "Urgent" not in held.stdout
    assert sorted(m.to for m in twilio.messages) == phones  # the urgent alert's two, sent in the shut window
    with sessions() as session:
        first, second = session.scalars(select(MassAlert).order_by(MassAlert.id)).all()
        requested = session.scalars(
            select(AlertDelivery.requested_at).where(AlertDelivery.alert_id == first.id)
        ).all()
        waiting = session.scalars(
            select(AlertDelivery.status).where(AlertDelivery.alert_id == second.id)
        ).all()
    assert first.urgent and first.state == "completed"
    assert (first.sending_hours_start, first.sending_hours_end) == (start, end)  # the window it went through
    assert all(at is not None and not hours.is_open(at, "America/Chicago") for at in requested)
    assert not second.urgent and waiting == ["pending", "pending"]
