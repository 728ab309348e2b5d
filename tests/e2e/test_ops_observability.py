"""Logs, /readyz and /metrics as an operator sees them, through a whole alert against the sandboxes."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from bot.notifier import build_client
from bot.web import OpsRoutes, WebApp, serve_in_thread
from sandbox.slack import SandboxSlack
from sandbox.twilio import SandboxTwilio
from services import db
from services.clock import ManualClock
from services.logs import setup_logging
from services.settings import Settings
from services.sms import SmsError, TwilioGateway
from tests.e2e.slack_world import PHONES, World, running_world, tomorrow_at

MESSAGE = "Happy Paws closes at 3 PM today because of the storm. Please call 555-0100 to reschedule."
#: Any E.164 number written out in full (raw or %2B-encoded).
FULL_NUMBER = re.compile(r"(\+|%2B)\d{8,15}", re.IGNORECASE)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Every record at DEBUG, as JSON lines, through the process's own handler and filter."""
    stream = io.StringIO()
    setup_logging("DEBUG", "json", stream)
    try:
        yield stream
    finally:
        setup_logging("WARNING", "text")


@pytest.fixture
def world(debug_log: io.StringIO, tmp_path: Path) -> Iterator[World]:
    with running_world(f"sqlite:///{tmp_path / 'ops.db'}", tmp_path / "reports") as running:
        yield running


def send_alert(world: World) -> int:
    ana = world.user()
    view = ana.slash_command()
    ana.choose_range(view["id"], "custom")
    ana.pick_custom(view["id"], tomorrow_at(8, 30), tomorrow_at(11, 30))
    ana.type_message(view["id"], MESSAGE)
    confirm = ana.submit(view["id"])
    assert confirm.shown is not None
    ana.submit(confirm.shown["id"])
    (alert_id,) = world.alert_ids()
    done = world.wait_finished(alert_id)
    assert done.sent == 3
    return alert_id


@pytest.mark.slow
def test_a_whole_alert_at_debug_logs_no_number_and_no_message_body(
    world: World, debug_log: io.StringIO
) -> None:
    alert_id = send_alert(world)
    log = debug_log.getvalue()
    records = [json.loads(line) for line in log.splitlines()]
    assert {"asctime", "level", "logger", "message"} <= set(records[0])
    loggers = {record["logger"] for record in records}
    assert any(name.startswith("slack_sdk") for name in loggers)  # the SDKs' debug output went through
    assert any(name.startswith("urllib3") for name in loggers)
    assert MESSAGE not in log and "closes at 3 PM" not in log and "storm" not in log
    assert FULL_NUMBER.findall(log) == []
    for phone in PHONES:
        assert phone not in log and phone[1:] not in log
    lifecycle = [
        r["message"] for r in records if r["level"] == "INFO" and f"alert {alert_id} " in r["message"]
    ]
    expected = (
        f"alert {alert_id} created for clinic ",
        f"alert {alert_id} started sending from ",
        f"alert {alert_id} completed: 3 sent, 0 failed, 0 skipped",
        f"alert {alert_id} report written to ",
        f"alert {alert_id} result and report posted",
    )
    for start, line in zip(expected, lifecycle, strict=True):  # each once, in this order
        assert line.startswith(start), lifecycle


@pytest.mark.slow
def test_metrics_after_an_alert_count_texts_queue_and_webhooks(world: World) -> None:
    send_alert(world)
    status, body = get(f"{world.served.base_url}/metrics")
    assert status == 200
    assert 'mass_alert_texts{error_code="",status="delivered"} 3.0' in body
    assert "mass_alert_active_alerts 0.0" in body
    assert re.search(r'mass_alert_queue_depth\{sender="[^"]+"\} 0\.0', body)
    assert re.search(r'mass_alert_sender_next_slot_seconds\{sender="[^"]+"\} -?\d', body)
    assert "mass_alert_dispatch_lateness_seconds_count" in body
    assert re.search(r'mass_alert_webhook_seconds_count\{route="/slack/events"\} [1-9]', body)
    assert re.search(r'mass_alert_webhook_seconds_count\{route="/twilio/status"\} [1-9]', body)
    status, ready = get(f"{world.served.base_url}/readyz")
    assert (status, json.loads(ready)) == (
        200,
        {"ok": True, "database": "ok", "schema": "ok", "dispatcher": "ok"},
    )


def test_readyz_with_the_database_down_says_503_and_names_no_host(caplog: pytest.LogCaptureFixture) -> None:
    down = "postgresql+psycopg://mass_alert@127.0.0.1:1/mass_alert?connect_timeout=2"
    engine = db.make_engine(down, pool_pre_ping=False)
    sessions: sessionmaker[Session] = db.make_session_factory(engine)
    server = serve_in_thread(WebApp(sessions, None))
    base = f"http://127.0.0.1:{server.effective_port}"
    try:
        with caplog.at_level(logging.WARNING, logger="bot.web"):
            first = get(f"{base}/readyz")
            second = get(f"{base}/readyz")
            metrics = get(f"{base}/metrics")
        assert get(f"{base}/healthz") == (200, '{"ok": true}')  # liveness: the process answers
    finally:
        server.close()
        engine.dispose()
    assert first == second == (503, '{"ok": false, "database": "unavailable"}')
    assert metrics == (503, "metrics unavailable")
    for answer in (first[1], metrics[1]):
        assert "127.0.0.1" not in answer and "psycopg" not in answer and "5432" not in answer
    downs = [r for r in caplog.records if "database is unavailable" in r.getMessage()]
    assert len(downs) == 1  # one line per change of state, not per request


def test_readyz_names_an_old_schema_and_a_stalled_dispatcher(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db.upgrade(url, "0001")
    engine = db.make_engine(url)
    clock = ManualClock()
    beat = clock.now()
    ops = OpsRoutes(db.make_session_factory(engine), clock, heartbeat=lambda: beat)
    try:
        reply = ops.readyz()
        assert reply.status.startswith("503")
        assert json.loads(reply.body)["schema"] == "not at head"
        db.upgrade(url)
        assert ops.readyz().status.startswith("200")
        clock.advance(300)
        stalled = ops.readyz()
        assert stalled.status.startswith("503")
        assert json.loads(stalled.body) == {
            "ok": False,
            "database": "ok",
            "schema": "ok",
            "dispatcher": "no recent heartbeat",
        }
    finally:
        engine.dispose()


def api_errors(service: str, code: str) -> float:
    return REGISTRY.get_sample_value("mass_alert_api_errors_total", {"service": service, "code": code}) or 0.0


def test_slack_and_twilio_api_errors_are_counted_by_code() -> None:
    with SandboxSlack() as slack, SandboxTwilio(account_sid="AC" + "5" * 32, auth_token="right") as twilio:
        client = build_client(Settings(slack_bot_token="xoxb-not-this-app", slack_api_url=slack.url))
        gateway = TwilioGateway("AC" + "5" * 32, "wrong", api_url=twilio.url, timeout=5)
        slack_before, twilio_before = api_errors("slack", "invalid_auth"), api_errors("twilio", "20003")
        with pytest.raises(SlackApiError):
            client.auth_test()
        with pytest.raises(SmsError):
            gateway.account_status()
    assert api_errors("slack", "invalid_auth") == slack_before + 1
    assert api_errors("twilio", "20003") == twilio_before + 1


def test_closing_the_server_after_its_loop_lost_its_trigger_releases_the_port(sessions) -> None:  # type: ignore[no-untyped-def]
    """Seen once in CI: the loop ended (its trigger closed) between close()'s liveness check and its
    wake-up; close() raised EBADF. Now it still closes the sockets and the port is free again."""
    server = serve_in_thread(WebApp(sessions, None))
    port = server.effective_port
    server.server.trigger.close()  # what the loop's own shutdown leaves behind
    server.close()
    server.thread.join(timeout=5)
    with socket.socket() as probe:  # the listening socket is gone: the port can be bound again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
