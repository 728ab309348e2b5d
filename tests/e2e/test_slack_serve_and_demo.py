"""`mass-alert serve` as a real process, and `mass-alert demo` end to end."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from bot.cli_demo import run_demo
from sandbox.slack import SandboxSlack
from sandbox.slack_requests import post, slash_command_body
from services import db

ROOT = Path(__file__).resolve().parents[2]


def test_serve_names_every_missing_variable_at_once(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        assert name in result.stderr


def test_serve_answers_slack_and_health_then_stops_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    db.upgrade(url)
    with SandboxSlack() as slack:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": "serve-secret",
            "SLACK_API_URL": slack.url,
            "TWILIO_ACCOUNT_SID": "AC" + "3" * 32,
            "TWILIO_AUTH_TOKEN": "t",
            "SLACK_APP_TOKEN": "",
        }
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
            assert found is not None
            base_url = found.group(1)
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as answer:
                assert json.loads(answer.read()) == {"ok": True}
            with urllib.request.urlopen(f"{base_url}/readyz", timeout=5) as answer:
                ready = {"ok": True, "database": "ok", "schema": "ok"}  # --no-worker: no dispatcher here
                assert json.loads(answer.read()) == ready
            body = slash_command_body(user_id="U0NOBODY", channel_id="C0X", trigger_id=slack.new_trigger_id())
            assert post(f"{base_url}/slack/events", body, "serve-secret")[0] == 200
            assert post(f"{base_url}/slack/events", body, "forged")[0] == 401
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0


def test_demo_runs_a_whole_alert_and_prints_what_slack_shows(tmp_path: Path) -> None:
    out = io.StringIO()
    result = run_demo(tmp_path / "demo-output", pace=0.05, stream=out)
    printed = out.getvalue()
    for heading in (
        "types /mass-alert in #frontdesk",
        "Review: the confirmation view",
        "What #frontdesk shows",
        "The report",
    ):
        assert heading in printed
    assert result.alert.finished and result.alert.to_send > 0
    alert = result.alert
    outcome = (
        f"{alert.failed} of {alert.to_send} failed" if alert.failed else f"All {alert.to_send} texts sent"
    )
    assert outcome in result.channel_text
    assert result.report_path is not None and result.report_path.exists()
    assert result.report_path.is_relative_to((tmp_path / "demo-output").resolve())
    assert (tmp_path / "demo-output" / "demo.db").exists()
