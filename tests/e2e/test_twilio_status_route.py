"""/twilio/status over real HTTP: Twilio's signature is required; callbacks only move a text forward."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.web import TwilioRoutes, WebApp, serve_in_thread
from sandbox.signing import twilio_signature
from sandbox.twilio import SandboxTwilio
from services import alerts
from services.clock import Clock, SystemClock
from services.db import make_session_factory
from services.delivery import DispatchConfig, Dispatcher
from services.models import AlertDelivery
from services.sms import TwilioGateway
from services.timeranges import TimeRange
from tests.integration.recipient_builders import Builder

SID = "AC" + "3" * 32
TOKEN = "status-token"


def post(url: str, params: dict[str, str], signature: str | None) -> int:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    request = urllib.request.Request(url, data=urlencode(params).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def served(engine):
    sessions = make_session_factory(engine)
    clock = SystemClock()
    holder: dict[str, str] = {}
    server = serve_in_thread(WebApp(sessions, TwilioRoutes(sessions, clock, TOKEN, None)))
    holder["base"] = f"http://127.0.0.1:{server.effective_port}"
    yield sessions, clock, holder["base"]
    server.close()


def one_sent_text(
    sessions: sessionmaker[Session], clock: Clock, base: str, sandbox: SandboxTwilio
) -> AlertDelivery:
    with sessions() as session, session.begin():
        b = Builder(session)
        clinic = b.clinic(sms_from="+13125550000")
        b.visit(b.pet(b.client(clinic, "Jane Doe", "+13125550101")), clock.now() + timedelta(hours=3))
        clinic_id = clinic.id
    now = clock.now()
    alerts.create_alert(
        sessions,
        alerts.AlertRequest(clinic_id, "Ana", TimeRange(now, now + timedelta(days=1)), "Hi"),
        now=now,
        default_pace=12,
        max_chars=320,
    )
    gateway = TwilioGateway(SID, TOKEN, api_url=sandbox.url)
    Dispatcher(sessions, gateway, clock, DispatchConfig(public_base_url=base)).tick()
    with sessions() as session:
        return session.scalars(select(AlertDelivery)).one()


def test_signed_callbacks_apply_forged_ones_are_refused(served) -> None:
    sessions, clock, base = served
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, callback_delay=0.05) as sandbox:
        row = one_sent_text(sessions, clock, base, sandbox)
        assert sandbox.wait_idle(10)
        codes = {c.status for c in sandbox.callbacks}
    assert codes == {204}
    with sessions() as session:
        assert session.get(AlertDelivery, row.id).status == "delivered"
    url = f"{base}/twilio/status?d={row.id}&a={row.attempt_id}"
    failed = {
        "MessageSid": row.twilio_sid,
        "MessageStatus": "failed",
        "AccountSid": SID,
        "ErrorCode": "30006",
    }
    assert post(url, failed, None) == 403
    assert post(url, failed, twilio_signature("wrong-token", url, failed)) == 403
    assert post(url, failed, twilio_signature(TOKEN, url + "&d=999", failed)) == 403
    with sessions() as session:
        assert session.get(AlertDelivery, row.id).status == "delivered"
    # Signed but late: "sent" after "delivered" changes nothing; a duplicate "delivered" is harmless.
    for status in ("sent", "delivered"):
        params = {"MessageSid": row.twilio_sid, "MessageStatus": status, "AccountSid": SID}
        assert post(url, params, twilio_signature(TOKEN, url, params)) == 204
    with sessions() as session:
        assert session.get(AlertDelivery, row.id).status == "delivered"


def test_healthz_and_unknown_routes(served) -> None:
    _, _, base = served
    with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
        assert response.status == 200 and response.read() == b'{"ok": true}'  # liveness only
    assert post(f"{base}/nowhere", {}, None) == 404


def test_rate_limit_burst_backs_off_and_sends_each_text_once(served) -> None:
    import time

    sessions, clock, _base = served
    with sessions() as session, session.begin():
        b = Builder(session)
        clinic = b.clinic(sms_from="+13125550000", alert_pace_seconds=0.1)
        for i in range(3):
            b.visit(
                b.pet(b.client(clinic, f"Client {i}", f"+1312555020{i}")), clock.now() + timedelta(hours=3)
            )
        clinic_id = clinic.id
    now = clock.now()
    alert_id, _ = alerts.create_alert(
        sessions,
        alerts.AlertRequest(clinic_id, "Ana", TimeRange(now, now + timedelta(days=1)), "Hi"),
        now=now,
        default_pace=12,
        max_chars=320,
    )
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, send_callbacks=False, retry_after=0.3) as sandbox:
        sandbox.rate_limit_burst(3)
        d = Dispatcher(
            sessions,
            TwilioGateway(SID, TOKEN, api_url=sandbox.url),
            clock,
            DispatchConfig(sender_max_per_second=50, completion_grace_seconds=0),
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(sandbox.messages) < 3:
            d.tick()
            time.sleep(0.05)
        refused = [r for r in sandbox.requests if r.status == 429]
        sent = sorted(m.to for m in sandbox.messages)
    assert len(refused) == 3
    assert sent == ["+13125550200", "+13125550201", "+13125550202"]
    snap = alerts.snapshot(sessions, alert_id, clock.now())
    assert snap.sent == 3 and snap.failed == 0
