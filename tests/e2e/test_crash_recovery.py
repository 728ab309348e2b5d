"""Real worker processes killed with SIGKILL at each risky point, then restarted.

Each client still gets one text, and the pace holds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sandbox import polling
from sandbox.twilio import SandboxTwilio
from services import alerts, db
from services.clock import SystemClock
from services.models import AlertDelivery, MassAlert
from services.timeranges import TimeRange
from tests.integration.recipient_builders import Builder

ROOT = Path(__file__).resolve().parents[2]
SID = "AC" + "2" * 32
TOKEN = "crash-token"
PACE = 0.3


def worker(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def seed(db_url: str, clinics: int, clients: int) -> tuple[sessionmaker[Session], list[int], list[str]]:
    db.upgrade(db_url)
    sessions = db.make_session_factory(db.make_engine(db_url))
    now = SystemClock().now()
    clinic_ids, phones = [], []
    with sessions() as session, session.begin():
        b = Builder(session)
        for c in range(clinics):
            clinic = b.clinic(name=f"Clinic {c}", sms_from=f"+1312999{c:04d}", alert_pace_seconds=PACE)
            clinic_ids.append(clinic.id)
            for i in range(clients):
                phone = f"+1312{c:03d}{i:04d}"
                phones.append(phone)
                b.visit(
                    b.pet(b.client(clinic, f"Client {c}-{i}", phone)), now + timedelta(hours=2, minutes=i)
                )
    for clinic_id in clinic_ids:
        alerts.create_alert(
            sessions,
            alerts.AlertRequest(
                clinic_id, "Dr. Ana Lee", TimeRange(now, now + timedelta(days=1)), "Storm closure at 3 PM."
            ),
            now=now,
            default_pace=12,
            max_chars=320,
        )
    return sessions, clinic_ids, phones


def wait_done(sessions: sessionmaker[Session], timeout: float = 60) -> None:
    def all_completed() -> bool:
        with sessions() as session:
            states = session.scalars(select(MassAlert.completion_notified_at)).all()
        return bool(states) and all(s is not None for s in states)

    polling.wait_for(all_completed, "the alerts to complete", timeout, interval=0.2)


def assert_once_and_paced(sandbox: SandboxTwilio, phones: list[str]) -> None:
    sent = sandbox.messages
    assert sorted(m.to for m in sent) == sorted(phones), "a client got no text or more than one"
    by_sender: dict[str | None, list] = {}
    for m in sent:
        by_sender.setdefault(m.from_, []).append(m.date_created)
    for times in by_sender.values():
        times.sort()
        gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
        assert min(gaps) >= PACE, f"two texts on one number {min(gaps):.3f}s apart (pace {PACE}s)"


def env_for(db_url: str, sandbox: SandboxTwilio, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_URL": sandbox.url,
        "SENDER_MAX_PER_SECOND": "20",
        "TWILIO_TIMEOUT_SECONDS": "1",
        "DELIVERY_LEASE_SECONDS": "1.5",
        "COMPLETION_GRACE_SECONDS": "30",
        "REPORTS_DIR": str(tmp_path),
        **extra,
    }


@pytest.mark.parametrize("point", ["claimed", "sent", "stored"])
def test_killed_worker_resumes_without_loss_or_duplicate(db_url: str, point: str, tmp_path: Path) -> None:
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, send_callbacks=False) as sandbox:
        sessions, _, phones = seed(db_url, clinics=1, clients=5)
        first = worker(env_for(db_url, sandbox, tmp_path, MASS_ALERT_CRASH_AT=f"{point}:3"))
        first.wait(timeout=60)
        assert first.returncode == -signal.SIGKILL
        with sessions() as session:
            in_flight = session.scalars(select(AlertDelivery).where(AlertDelivery.status == "sending")).all()
        if point != "stored":  # the killed text (and any claimed ahead of its slot) is left in flight
            assert len(in_flight) >= 1
        second = worker(env_for(db_url, sandbox, tmp_path))
        try:
            wait_done(sessions)
        finally:
            second.terminate()
            second.wait(timeout=30)
        assert_once_and_paced(sandbox, phones)
        with sessions() as session:
            statuses = session.scalars(select(AlertDelivery.status)).all()
        assert set(statuses) <= {"accepted", "sent", "delivered"}


def test_two_dispatchers_on_postgres_share_the_work(db_url: str, tmp_path: Path) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several dispatchers are a PostgreSQL feature; SQLite refuses a second one")
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, send_callbacks=False) as sandbox:
        sessions, _, phones = seed(db_url, clinics=4, clients=6)
        env = env_for(db_url, sandbox, tmp_path)
        workers = [worker(env), worker(env)]
        try:
            wait_done(sessions)
        finally:
            for w in workers:
                w.terminate()
            outputs = [w.communicate(timeout=30)[0] for w in workers]
        assert_once_and_paced(sandbox, phones)
        assert all("running" in out for out in outputs), outputs


def test_second_worker_on_sqlite_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, send_callbacks=False) as sandbox:
        db.upgrade(url)
        env = env_for(url, sandbox, tmp_path)
        first = worker(env)
        try:
            assert first.stdout is not None and "running" in first.stdout.readline()
            second = subprocess.run(
                [sys.executable, "-m", "bot.cli", "worker"],
                cwd=ROOT,
                env=env,
                text=True,
                capture_output=True,
                timeout=30,
            )
        finally:
            first.terminate()
            first.wait(timeout=30)
        assert second.returncode == 1
        assert "SQLite supports one dispatcher" in second.stderr
