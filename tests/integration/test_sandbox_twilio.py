"""The sandbox Twilio: wire shapes, Basic auth, signed status callbacks and inbound webhooks."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest

from sandbox.twilio import SandboxTwilio
from services.sms import SendRequest, TwilioGateway, validate_signature

CLINIC = "+15557654321"
CLIENT = "+15551230000"


class Receiver:
    """A tiny app endpoint: checks X-Twilio-Signature like the real routes, answers 204 or 403."""

    def __init__(self, auth_token: str) -> None:
        self.auth_token = auth_token
        self.received: list[tuple[str, dict[str, str], bool]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                params = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                url = f"{receiver.base}{self.path}"
                valid = validate_signature(
                    receiver.auth_token, url, params, self.headers.get("X-Twilio-Signature")
                )
                with receiver._lock:
                    receiver.received.append((self.path, params, valid))
                self.send_response(204 if valid else 403)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def statuses(self) -> list[str]:
        with self._lock:
            return [params["MessageStatus"] for _, params, _ in self.received]


@pytest.fixture
def sandbox() -> Iterator[SandboxTwilio]:
    with SandboxTwilio(callback_delay=0) as server:
        yield server


@pytest.fixture
def receiver(sandbox: SandboxTwilio) -> Iterator[Receiver]:
    app = Receiver(sandbox.auth_token)
    app.thread.start()
    yield app
    app.server.shutdown()
    app.server.server_close()


@pytest.fixture
def gateway(sandbox: SandboxTwilio) -> TwilioGateway:
    return TwilioGateway(sandbox.account_sid, sandbox.auth_token, api_url=sandbox.url, timeout=2.0)


def _raw(
    sandbox: SandboxTwilio,
    method: str,
    path: str,
    form: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A plain HTTP call to the sandbox, returning (status, JSON body, headers)."""
    user, password = auth or (sandbox.account_sid, sandbox.auth_token)
    request = urllib.request.Request(
        sandbox.url + path,
        method=method,
        data=urlencode(form).encode() if form is not None else None,
        headers={"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read()), dict(error.headers)


def _messages_path(sandbox: SandboxTwilio) -> str:
    return f"/2010-04-01/Accounts/{sandbox.account_sid}/Messages.json"


def test_status_callbacks_arrive_signed_in_order(
    sandbox: SandboxTwilio, receiver: Receiver, gateway: TwilioGateway
) -> None:
    result = gateway.send(
        SendRequest(
            to=CLIENT, body="Hi", from_=CLINIC, status_callback=f"{receiver.base}/twilio/status?delivery=42"
        )
    )
    assert sandbox.wait_idle()
    assert receiver.statuses() == ["queued", "sent", "delivered"]
    for path, params, valid in receiver.received:
        assert valid and path == "/twilio/status?delivery=42"
        assert params["MessageSid"] == params["SmsSid"] == result.sid
        assert (params["AccountSid"], params["From"], params["To"], params["ApiVersion"]) == (
            sandbox.account_sid,
            CLINIC,
            CLIENT,
            "2010-04-01",
        )
        assert params["SmsStatus"] == params["MessageStatus"] and "ErrorCode" not in params
    assert [c.status for c in sandbox.callbacks] == [204, 204, 204]
    assert [status for status, _ in sandbox.message(result.sid).history] == ["queued", "sent", "delivered"]


def test_a_tampered_callback_is_refused(
    sandbox: SandboxTwilio, receiver: Receiver, gateway: TwilioGateway
) -> None:
    gateway.send(SendRequest(to=CLIENT, body="Hi", from_=CLINIC, status_callback=f"{receiver.base}/s"))
    assert sandbox.wait_idle()
    last = sandbox.callbacks[-1]
    assert validate_signature(sandbox.auth_token, last.url, last.params, last.signature)
    forged = {**last.params, "MessageStatus": "undelivered"}
    assert not validate_signature(sandbox.auth_token, last.url, forged, last.signature)
    assert not validate_signature("another-token", last.url, last.params, last.signature)


@pytest.mark.parametrize(
    ("outcome", "code", "statuses"),
    [
        ("undelivered", 30003, ["queued", "sent", "undelivered"]),
        ("undelivered", 30006, ["queued", "sent", "undelivered"]),
        ("undelivered", 30007, ["queued", "sent", "undelivered"]),
        ("failed", 30005, ["queued", "failed"]),
    ],
)
def test_carrier_outcomes_reach_callbacks_and_fetch(
    sandbox: SandboxTwilio,
    receiver: Receiver,
    gateway: TwilioGateway,
    outcome: str,
    code: int,
    statuses: list[str],
) -> None:
    sandbox.carrier_outcomes[CLIENT] = (outcome, code)
    result = gateway.send(
        SendRequest(to=CLIENT, body="Hi", from_=CLINIC, status_callback=f"{receiver.base}/s")
    )
    assert sandbox.wait_idle()
    assert receiver.statuses() == statuses
    assert receiver.received[-1][1]["ErrorCode"] == str(code)
    info = gateway.fetch(result.sid)
    assert (info.status, info.error_code) == (outcome, code)
    assert info.error_message


def test_without_callbacks_polling_still_sees_the_final_status(receiver: Receiver) -> None:
    with SandboxTwilio(send_callbacks=False, auth_token=receiver.auth_token) as sandbox:
        gateway = TwilioGateway(sandbox.account_sid, sandbox.auth_token, api_url=sandbox.url)
        result = gateway.send(
            SendRequest(to=CLIENT, body="Hi", from_=CLINIC, status_callback=f"{receiver.base}/s")
        )
        assert sandbox.wait_idle()
        assert gateway.fetch(result.sid).status == "delivered"
        assert receiver.received == [] and sandbox.callbacks == []


def test_callback_delay_keeps_the_message_queued_meanwhile(receiver: Receiver) -> None:
    with SandboxTwilio(callback_delay=30, auth_token=receiver.auth_token) as sandbox:
        gateway = TwilioGateway(sandbox.account_sid, sandbox.auth_token, api_url=sandbox.url)
        result = gateway.send(
            SendRequest(to=CLIENT, body="Hi", from_=CLINIC, status_callback=f"{receiver.base}/s")
        )
        assert gateway.fetch(result.sid).status == "queued"
        assert not sandbox.wait_idle(timeout=0.05)
        assert receiver.received == []


def test_duplicate_callbacks_post_each_status_twice(receiver: Receiver) -> None:
    with SandboxTwilio(duplicate_callbacks=True, auth_token=receiver.auth_token) as sandbox:
        gateway = TwilioGateway(sandbox.account_sid, sandbox.auth_token, api_url=sandbox.url)
        gateway.send(SendRequest(to=CLIENT, body="Hi", from_=CLINIC, status_callback=f"{receiver.base}/s"))
        assert sandbox.wait_idle()
        assert receiver.statuses() == ["queued", "queued", "sent", "sent", "delivered", "delivered"]


def test_shuffled_callbacks_come_after_the_final_status_in_another_order(receiver: Receiver) -> None:
    orders = set()
    with SandboxTwilio(shuffle_callbacks=True, seed=3, auth_token=receiver.auth_token) as sandbox:
        gateway = TwilioGateway(sandbox.account_sid, sandbox.auth_token, api_url=sandbox.url)
        for _ in range(6):
            receiver.received.clear()
            result = gateway.send(
                SendRequest(to=CLIENT, body="Hi", from_=CLINIC, status_callback=f"{receiver.base}/s")
            )
            assert sandbox.wait_idle()
            assert sorted(receiver.statuses()) == ["delivered", "queued", "sent"]
            assert gateway.fetch(result.sid).status == "delivered"
            orders.add(tuple(receiver.statuses()))
    assert len(orders) > 1


def test_simulate_inbound_posts_a_signed_sms_webhook(sandbox: SandboxTwilio, receiver: Receiver) -> None:
    status = sandbox.simulate_inbound(f"{receiver.base}/twilio/inbound", from_=CLIENT, to=CLINIC, body="STOP")
    assert status == 204
    path, params, valid = receiver.received[0]
    assert valid and path == "/twilio/inbound"
    assert (params["From"], params["To"], params["Body"], params["NumMedia"], params["ApiVersion"]) == (
        CLIENT,
        CLINIC,
        "STOP",
        "0",
        "2010-04-01",
    )
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"]
    assert params["AccountSid"] == sandbox.account_sid
    assert sandbox.messages[-1].direction == "inbound"


def test_simulate_inbound_reports_a_refusal(receiver: Receiver) -> None:
    with SandboxTwilio(auth_token="token-the-app-does-not-know") as sandbox:
        assert (
            sandbox.simulate_inbound(
                f"{receiver.base}/twilio/inbound",
                from_=CLIENT,
                to=CLINIC,
                body="hello",
                message_sid="SM" + "c" * 32,
            )
            == 403
        )


def test_created_message_has_twilio_json_shape(sandbox: SandboxTwilio) -> None:
    form = {"To": CLIENT, "From": CLINIC, "Body": "Hi"}
    status, body, _ = _raw(sandbox, "POST", _messages_path(sandbox), form)
    assert status == 201
    assert re.fullmatch(r"SM[0-9a-f]{32}", body["sid"])
    assert (body["account_sid"], body["to"], body["from"], body["body"], body["status"]) == (
        sandbox.account_sid,
        CLIENT,
        CLINIC,
        "Hi",
        "queued",
    )
    assert (body["direction"], body["num_segments"], body["price"], body["error_code"]) == (
        "outbound-api",
        "1",
        None,
        None,
    )
    assert body["uri"] == f"/2010-04-01/Accounts/{sandbox.account_sid}/Messages/{body['sid']}.json"
    assert parsedate_to_datetime(body["date_created"]).utcoffset() is not None
    assert body["date_created"].endswith("+0000")


def test_error_bodies_look_like_twilios(sandbox: SandboxTwilio) -> None:
    status, body, _ = _raw(
        sandbox, "POST", _messages_path(sandbox), {"To": "+15005550001", "From": CLINIC, "Body": "Hi"}
    )
    assert status == 400
    assert body["code"] == 21211 and body["status"] == 400 and body["message"]
    assert body["more_info"] == "https://www.twilio.com/docs/errors/21211"


def test_basic_auth_is_required(sandbox: SandboxTwilio) -> None:
    status, body, headers = _raw(sandbox, "GET", _messages_path(sandbox), auth=(sandbox.account_sid, "wrong"))
    assert (status, body["code"]) == (401, 20003)
    assert "WWW-Authenticate" in headers
    assert _raw(sandbox, "GET", _messages_path(sandbox))[0] == 200


def test_429_burst_has_retry_after(sandbox: SandboxTwilio) -> None:
    sandbox.rate_limit_burst(1)
    form = {"To": CLIENT, "From": CLINIC, "Body": "Hi"}
    status, body, headers = _raw(sandbox, "POST", _messages_path(sandbox), form)
    assert (status, body["code"], headers["Retry-After"]) == (429, 20429, "1")
    assert _raw(sandbox, "POST", _messages_path(sandbox), form)[0] == 201


def test_list_pages_newest_first(sandbox: SandboxTwilio) -> None:
    path_ = _messages_path(sandbox)
    sids = [
        _raw(sandbox, "POST", path_, {"To": CLIENT, "From": CLINIC, "Body": str(i)})[1]["sid"]
        for i in range(5)
    ]
    _raw(sandbox, "POST", _messages_path(sandbox), {"To": "+15551239999", "From": CLINIC, "Body": "x"})
    seen: list[str] = []
    path: str | None = f"{_messages_path(sandbox)}?To=%2B15551230000&PageSize=2"
    while path:
        status, page, _ = _raw(sandbox, "GET", path)
        assert status == 200 and page["page_size"] == 2
        seen += [m["sid"] for m in page["messages"]]
        path = page["next_page_uri"]
    assert seen == sids[::-1]


def test_failure_ratio_is_deterministic_for_a_seed() -> None:
    def pattern() -> list[int]:
        with SandboxTwilio(failure_ratio=0.5, seed=11) as sandbox:
            form = {"To": CLIENT, "From": CLINIC, "Body": "Hi"}
            return [_raw(sandbox, "POST", _messages_path(sandbox), form)[0] for _ in range(12)]

    first = pattern()
    assert first == pattern()
    assert {500, 201} == set(first)


def test_command_line_entry_point_serves(tmp_path: Any) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.twilio", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url is not None
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url.group(0) + "/2010-04-01/Accounts/AC1/Messages.json", timeout=5)
        assert caught.value.code == 401
        caught.value.close()
    finally:
        process.terminate()
        process.wait(timeout=5)
