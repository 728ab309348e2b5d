"""`mass-alert` as a deployer runs it: a bad configuration is one clear message and a non-zero exit,
never a traceback, whether the bad value comes from the environment or a `.env` file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MASS_ALERT = Path(sys.executable).with_name("mass-alert")
GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "s",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "t",
}

pytestmark = pytest.mark.slow


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": f"sqlite:///{cwd / 'x.db'}", **env}
    return subprocess.run(
        [str(MASS_ALERT), *args], cwd=cwd, env=environ, text=True, capture_output=True, timeout=60
    )


def test_the_issues_examples_stop_serve_with_one_message(tmp_path: Path) -> None:
    bad = {"LOG_LEVEL": "LOUD", "HOST": "999.1.1.1", "PORT": "70000", "ALERT_PACE_SECONDS": "inf"}
    result = run(["serve", "--no-worker"], {**GOOD, **bad}, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.count("Configuration problem(s)") == 1
    for name, value in bad.items():
        assert f"{name} " in result.stderr and repr(value) in result.stderr, name
    assert not (tmp_path / "x.db").exists()  # refused before touching the database


@pytest.mark.parametrize(
    ("name", "value"),
    [("LOG_LEVEL", "LOUD"), ("HOST", "999.1.1.1"), ("PORT", "70000"), ("SENDER_MAX_PER_SECOND", "nan")],
)
def test_each_example_alone_is_named_without_a_traceback(tmp_path: Path, name: str, value: str) -> None:
    result = run(["serve"], {**GOOD, name: value}, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"  - {name} " in result.stderr


def test_a_dotenv_file_in_the_working_directory_is_honoured(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=70000\n", encoding="utf-8")
    result = run(["db", "current"], {}, tmp_path)
    assert result.returncode == 2
    assert "PORT must be at most 65535, got '70000'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_secret_file_is_named(tmp_path: Path) -> None:
    env = {**GOOD, "SLACK_BOT_TOKEN": "", "SLACK_BOT_TOKEN_FILE": str(tmp_path / "nope")}
    result = run(["serve"], env, tmp_path)
    assert result.returncode == 2
    assert f"SLACK_BOT_TOKEN_FILE names {tmp_path / 'nope'}, which cannot be read" in result.stderr
    assert "Traceback" not in result.stderr


def test_socket_mode_with_oauth_is_refused_in_one_line(tmp_path: Path) -> None:
    oauth = {"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "c", "SLACK_STATE_SECRET": "s"}
    env = {**GOOD, **oauth, "SLACK_APP_TOKEN": "xapp-1"}
    del env["SLACK_BOT_TOKEN"]
    result = run(["serve", "--no-worker"], env, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1 and "Slack does not allow Socket Mode for distributed apps" in problems[0]
    assert not (tmp_path / "x.db").exists()  # refused before touching the database
