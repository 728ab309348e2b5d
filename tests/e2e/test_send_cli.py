"""`mass-alert send --wait` as a real process against sandbox Twilio.

Twilio's status callbacks reach the web app signed, as Twilio sends them.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.web import TwilioRoutes, WebApp, serve_in_thread
from sandbox.twilio import SandboxTwilio
from services import db
from services.clock import SystemClock
from services.models import AlertDelivery, MassAlert
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
    base = f"http://127.0.0.1:{server.effective_port}"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_URL": twilio.url,
        "PUBLIC_BASE_URL": base,
        "ALERT_PACE_SECONDS": "0.4",
        "SENDER_MAX_PER_SECOND": "10",
        "COMPLETION_GRACE_SECONDS": "20",
        "REPORTS_DIR": str(tmp_path),
    }
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
