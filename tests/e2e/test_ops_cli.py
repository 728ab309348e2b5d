"""A deployer's failures as real processes: one clear line, never a traceback.

`serve` and `worker` on a database that is not at head, and `mass-alert check` against sandbox Slack and
sandbox Twilio with each thing a deployer gets wrong (token, scopes, account, sender, public URL).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from sandbox.slack import SandboxSlack
from sandbox.twilio import SandboxTwilio
from services import db
from services.clinics import add_clinic

ROOT = Path(__file__).resolve().parents[2]
SID = "AC" + "4" * 32
TOKEN = "check-token"
NUMBER = "+15005550006"
SERVICE = "MG" + "a" * 32


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def slack() -> Iterator[SandboxSlack]:
    with SandboxSlack() as sandbox:
        yield sandbox


@pytest.fixture
def twilio() -> Iterator[SandboxTwilio]:
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, from_numbers={NUMBER}) as sandbox:
        sandbox.add_messaging_service(SERVICE)
        yield sandbox


def environment(db_url: str, slack: SandboxSlack, twilio: SandboxTwilio, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": "check-secret",
        "SLACK_API_URL": slack.url,
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_URL": twilio.url,
        "PUBLIC_BASE_URL": "https://alerts.example.org",
        **extra,
    }


def add_clinics(db_url: str, *senders: tuple[str, str | None, str | None]) -> None:
    db.upgrade(db_url)
    sessions = db.make_session_factory(db.make_engine(db_url))
    with db.transaction(sessions) as session:
        for name, number, service in senders:
            add_clinic(
                session, name=name, timezone="America/Chicago", sms_from=number, messaging_service_sid=service
            )
    sessions.kw["bind"].dispose()


def lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """check's output as {check name: the line}."""
    found: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name = line[6:].split(":", 1)[0]
        found[name] = line
    return found


@pytest.mark.slow
@pytest.mark.parametrize("verb", [["serve", "--port", "0"], ["worker"]])
def test_serve_and_worker_refuse_a_never_migrated_sqlite_file_without_creating_it(
    tmp_path: Path, slack: SandboxSlack, twilio: SandboxTwilio, verb: list[str]
) -> None:
    path = tmp_path / "never.db"
    result = run(verb, environment(f"sqlite:///{path}", slack, twilio))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: Not starting: the database has no schema yet (never migrated): run `mass-alert db upgrade`."
    ]
    assert not path.exists()


@pytest.mark.slow
def test_serve_names_the_revision_and_the_command_on_an_old_schema(
    db_url: str, slack: SandboxSlack, twilio: SandboxTwilio
) -> None:
    db.upgrade(db_url, "0001")
    result = run(["serve", "--port", "0"], environment(db_url, slack, twilio))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "schema is at revision 0001" in result.stderr
    assert "run `mass-alert db upgrade`" in result.stderr


@pytest.mark.slow
def test_check_passes_on_a_good_deployment(db_url: str, slack: SandboxSlack, twilio: SandboxTwilio) -> None:
    add_clinics(db_url, ("Happy Paws", NUMBER, None), ("Oak Vets", None, SERVICE))
    result = run(["check"], environment(db_url, slack, twilio))
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines(result)
    for name in (
        "configuration",
        "database reachable",
        "database schema at head",
        "Slack bot token",
        "Twilio account",
        "sender of Happy Paws",
        "sender of Oak Vets",
        "PUBLIC_BASE_URL",
    ):
        assert found[name].startswith("ok  "), result.stdout
    assert "T0SANDBOX" in found["Slack bot token"]


@pytest.mark.slow
def test_check_names_a_wrong_slack_token(db_url: str, slack: SandboxSlack, twilio: SandboxTwilio) -> None:
    add_clinics(db_url, ("Happy Paws", NUMBER, None))
    result = run(["check"], environment(db_url, slack, twilio, SLACK_BOT_TOKEN="xoxb-not-this-app"))
    assert result.returncode == 1 and not result.stderr
    assert lines(result)["Slack bot token"].startswith(
        "FAIL  Slack bot token: Slack refused it (invalid_auth)"
    )
    assert lines(result)["Twilio account"].startswith("ok")  # the other checks still ran


@pytest.mark.slow
def test_check_names_each_missing_slack_scope(
    db_url: str, slack: SandboxSlack, twilio: SandboxTwilio
) -> None:
    add_clinics(db_url, ("Happy Paws", NUMBER, None))
    slack.workspace(slack.team_id).scopes = "commands,chat:write,users:read"
    result = run(["check"], environment(db_url, slack, twilio))
    assert result.returncode == 1
    line = lines(result)["Slack bot token"]
    assert line.startswith("FAIL") and "missing scope(s) files:write, users:read.email, channels:read" in line


@pytest.mark.slow
def test_check_names_wrong_twilio_credentials(
    db_url: str, slack: SandboxSlack, twilio: SandboxTwilio
) -> None:
    add_clinics(db_url, ("Happy Paws", NUMBER, None))
    result = run(["check"], environment(db_url, slack, twilio, TWILIO_AUTH_TOKEN="wrong"))
    assert result.returncode == 1 and not result.stderr
    found = lines(result)
    assert found["Twilio account"].startswith(
        "FAIL  Twilio account: Twilio refused the account SID or auth token (Twilio 20003). To fix: put the "
        "account's current SID and auth token in TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
    )
    assert found["clinic senders"].startswith("skip")


@pytest.mark.slow
def test_check_names_each_sender_not_in_the_account(
    db_url: str, slack: SandboxSlack, twilio: SandboxTwilio
) -> None:
    add_clinics(
        db_url,
        ("Happy Paws", NUMBER, None),
        ("Elm Clinic", "+13125550199", None),
        ("Oak Vets", None, "MG" + "b" * 32),
    )
    result = run(["check"], environment(db_url, slack, twilio))
    assert result.returncode == 1
    found = lines(result)
    assert found["sender of Happy Paws"].startswith("ok")
    assert (
        found["sender of Elm Clinic"].startswith("FAIL")
        and "+13125550199 is not in this Twilio" in (found["sender of Elm Clinic"])
    )
    assert (
        found["sender of Oak Vets"].startswith("FAIL")
        and "Messaging Service MGbbbb" in found["sender of Oak Vets"]
    )


@pytest.mark.slow
def test_check_wants_a_public_url_for_two_way_texting(
    db_url: str, slack: SandboxSlack, twilio: SandboxTwilio
) -> None:
    add_clinics(db_url, ("Happy Paws", NUMBER, None))
    result = run(["check"], environment(db_url, slack, twilio, PUBLIC_BASE_URL=""))
    assert result.returncode == 1
    line = lines(result)["PUBLIC_BASE_URL"]
    assert line.startswith("FAIL") and "Happy Paws" in line


@pytest.mark.slow
def test_check_on_an_unmigrated_database_creates_nothing(
    tmp_path: Path, slack: SandboxSlack, twilio: SandboxTwilio
) -> None:
    path = tmp_path / "fresh.db"
    result = run(["check"], environment(f"sqlite:///{path}", slack, twilio))
    assert result.returncode == 1 and not result.stderr
    assert "never migrated" in lines(result)["database schema at head"]
    assert lines(result)["Slack bot token"].startswith("ok")
    assert not path.exists()


@pytest.mark.slow
def test_check_names_an_unreachable_database_and_a_bad_configuration(
    slack: SandboxSlack, twilio: SandboxTwilio
) -> None:
    down = "postgresql+psycopg://mass_alert@127.0.0.1:1/mass_alert?connect_timeout=2"
    result = run(["check"], environment(down, slack, twilio))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert lines(result)["database reachable"].startswith("FAIL")
    assert lines(result)["database schema at head"].startswith("skip")
    bad = run(["check"], environment(down, slack, twilio, PORT="70000"))
    assert bad.returncode == 1
    assert bad.stdout.splitlines() == ["FAIL  configuration: PORT must be at most 65535, got '70000'"]


class CuttableProxy:
    """A TCP relay on 127.0.0.1 to (host, port); `cut()` closes every connection and refuses new ones,
    as a database server going away does."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept() and stops listening (Linux)
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.slow
@pytest.mark.postgres
def test_serve_with_the_database_gone_answers_readyz_503_without_host_or_port(
    db_url: str, slack: SandboxSlack, twilio: SandboxTwilio
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("a database server that can go away: PostgreSQL")
    db.upgrade(db_url)
    real = make_url(db_url)
    proxy = CuttableProxy(real.host or "127.0.0.1", real.port or 5432)
    through = real.set(port=proxy.port).render_as_string(hide_password=False)
    env = environment(through, slack, twilio, LOG_LEVEL="INFO")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--port", "0", "--no-worker"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        found = re.search(r"serving on (http://[\d.]+:\d+)", process.stdout.readline())
        assert found is not None, process.stderr.read() if process.stderr else ""
        base = found.group(1)
        assert get(f"{base}/readyz")[0] == 200
        proxy.cut()
        answers = [get(f"{base}/readyz") for _ in range(3)]
        assert get(f"{base}/healthz") == (200, '{"ok": true}')
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert answers == [(503, '{"ok": false, "database": "unavailable"}')] * 3
    assert str(proxy.port) not in "".join(body for _, body in answers)
    assert stderr.count("the database is unavailable") == 1  # the reason, once, in the log only
    assert "Traceback" not in stderr
