"""A deployer's failures as real processes: one clear line, never a traceback.

`serve` and `worker` on a database that is not at head, and `mass-alert check` against sandbox Slack and
sandbox Twilio with each thing a deployer gets wrong (token, scopes, account, sender, public URL).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    assert found["Twilio account"] == (
        "FAIL  Twilio account: Twilio refused the account SID or auth token (Twilio 20003)"
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
