"""The sandbox Twilio: wire shapes, Basic auth, signed status callbacks and inbound webhooks."""

from __future__ import annotations

import base64
import functools
import json
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

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


# ----- the real twilio Client against the sandbox --------------------------------------------------


class _SandboxHttpClient(TwilioHttpClient):
    """twilio's own HTTP client with every request sent to the sandbox (path and query kept)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base = urlsplit(base_url)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        url = urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, ""))
        return super().request(method, url, *args, **kwargs)


def _client(sandbox: SandboxTwilio, timeout: float = 5.0) -> Client:
    http = _SandboxHttpClient(sandbox.url, timeout)
    return Client(sandbox.account_sid, sandbox.auth_token, http_client=http)


def _refusal(call: Any) -> tuple[int, int]:
    """(HTTP status, Twilio error code) of a create the sandbox refuses."""
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value.status, int(caught.value.code or 0)


def test_a_dropped_create_can_leave_the_message_queued_and_invisible_to_date_sent(
    sandbox: SandboxTwilio,
) -> None:
    client = _client(sandbox, timeout=2.0)
    earlier = client.messages.create(to=CLIENT, from_=CLINIC, body="Earlier today")
    assert sandbox.wait_idle()
    sandbox.drop_response_for(1, hold_queued=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        client.messages.create(to=CLIENT, from_=CLINIC, body="Storm closure")
    held = sandbox.messages[-1]
    assert (held.status, held.date_sent, held.held, held.body) == ("queued", None, True, "Storm closure")
    assert sandbox.wait_idle()  # nothing moves a held message on
    today = datetime.now(UTC).date()
    by_day = client.messages.list(to=CLIENT, from_=CLINIC, date_sent=today)
    assert [m.sid for m in by_day] == [earlier.sid]
    after = client.messages.list(to=CLIENT, date_sent_after=datetime.now(UTC) - timedelta(hours=1))
    assert [m.sid for m in after] == [earlier.sid]
    listed = client.messages.list(to=CLIENT, from_=CLINIC)
    assert [m.sid for m in listed] == [held.sid, earlier.sid]
    assert listed[0].status == "queued" and listed[0].date_sent is None
    assert listed[0].date_created is not None and listed[0].date_created >= listed[1].date_created
    assert sandbox.release_held() == [held.sid]
    assert sandbox.wait_idle()
    assert sandbox.message(held.sid).status == "delivered"
    assert {m.sid for m in client.messages.list(date_sent=today)} == {earlier.sid, held.sid}


def test_a_slow_answer_times_the_client_out_after_the_message_was_stored(sandbox: SandboxTwilio) -> None:
    sandbox.delay_response_for(1, seconds=1.0)
    with pytest.raises(requests.exceptions.Timeout):
        _client(sandbox, timeout=0.2).messages.create(to=CLIENT, from_=CLINIC, body="In doubt")
    assert [m.body for m in sandbox.messages] == ["In doubt"]
    assert _client(sandbox, timeout=0.2).messages.create(to=CLIENT, from_=CLINIC, body="next").sid


def test_arrivals_record_every_create_per_sender(sandbox: SandboxTwilio) -> None:
    client = _client(sandbox)
    other = "+15557650000"
    sandbox.rate_limit_burst(1)
    with pytest.raises(TwilioRestException):
        client.messages.create(to=CLIENT, from_=CLINIC, body="refused")
    for sender in (CLINIC, other, CLINIC):
        client.messages.create(to=CLIENT, from_=sender, body="hi")
    created = sandbox.arrivals_by_sender()
    assert {sender: len(times) for sender, times in created.items()} == {CLINIC: 2, other: 1}
    assert len(sandbox.arrivals_by_sender(created_only=False)[CLINIC]) == 3
    assert [a.status for a in sandbox.arrivals()] == [429, 201, 201, 201]
    gap = sandbox.min_gap(CLINIC)
    assert gap is not None and gap > 0 and sandbox.min_gap(other) is None


@pytest.mark.parametrize("code", [21408, 21612, 21606, 21211])
def test_errors_by_destination_prefix(sandbox: SandboxTwilio, code: int) -> None:
    client = _client(sandbox)
    sandbox.refuse_to_prefix("+44", code)
    send = functools.partial(client.messages.create, to="+447700900123", from_=CLINIC, body="Closed")
    assert _refusal(send) == (400, code)
    assert client.messages.create(to=CLIENT, from_=CLINIC, body="Closed").status == "queued"
    assert [m.to for m in sandbox.messages] == [CLIENT]


@pytest.mark.parametrize("code", [20003, 20005])
def test_account_errors_refuse_every_request_until_cleared(sandbox: SandboxTwilio, code: int) -> None:
    client = _client(sandbox)
    sandbox.fail_account(code)
    assert _refusal(lambda: client.messages.create(to=CLIENT, from_=CLINIC, body="x")) == (401, code)
    sandbox.fail_account(None)
    assert client.messages.create(to=CLIENT, from_=CLINIC, body="x").sid


def test_sender_errors_refuse_at_create_or_fail_after(sandbox: SandboxTwilio, receiver: Receiver) -> None:
    client = _client(sandbox)
    sandbox.refuse_from(CLINIC, 21659)
    assert _refusal(lambda: client.messages.create(to=CLIENT, from_=CLINIC, body="x")) == (400, 21659)
    sandbox.refuse_from(CLINIC, 30034)  # unregistered 10DLC sender: accepted, then failed
    sent = client.messages.create(to=CLIENT, from_=CLINIC, body="x", status_callback=f"{receiver.base}/s")
    assert sent.status == "queued"
    assert sandbox.wait_idle()
    assert receiver.statuses() == ["queued", "failed"]
    assert receiver.received[-1][1]["ErrorCode"] == "30034"
    fetched = client.messages(sent.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("failed", 30034)
    sandbox.refuse_from(CLINIC, None)
    assert client.messages.create(to=CLIENT, from_=CLINIC, body="x").sid


def test_twilio_answers_stop_itself_and_blocks_with_21610_until_start(receiver: Receiver) -> None:
    with SandboxTwilio(callback_delay=0, auth_token=receiver.auth_token, opt_out_handling=True) as sandbox:
        client = _client(sandbox)
        inbound = f"{receiver.base}/twilio/inbound"
        assert sandbox.simulate_inbound(inbound, from_=CLIENT, to=CLINIC, body=" stop ") == 204
        assert "OptOutType" not in receiver.received[-1][1]  # only with Advanced Opt-Out
        (confirmation,) = sandbox.keyword_replies(CLIENT)
        assert (confirmation.from_, confirmation.direction) == (CLINIC, "outbound-reply")
        assert "unsubscribed" in confirmation.body
        assert _refusal(lambda: client.messages.create(to=CLIENT, from_=CLINIC, body="x")) == (400, 21610)
        assert client.messages.create(to=CLIENT, from_="+15557650000", body="other number").sid
        sandbox.simulate_inbound(inbound, from_=CLIENT, to=CLINIC, body="START")
        assert len(sandbox.keyword_replies(CLIENT)) == 2
        assert client.messages.create(to=CLIENT, from_=CLINIC, body="back").sid
        sandbox.simulate_inbound(inbound, from_=CLIENT, to=CLINIC, body="stop please")  # not a keyword
        assert len(sandbox.keyword_replies(CLIENT)) == 2


def test_advanced_opt_out_adds_opt_out_type_for_default_and_custom_keywords(receiver: Receiver) -> None:
    with SandboxTwilio(
        auth_token=receiver.auth_token, opt_out_handling=True, advanced_opt_out=True
    ) as sandbox:
        sandbox.add_keyword("alto", "STOP")
        sandbox.add_keyword("ARRÊT", "STOP")
        sandbox.add_keyword("AYUDA", "HELP")
        inbound = f"{receiver.base}/twilio/inbound"
        seen = []
        for body in ("HELP", "Alto", "arrêt", "UNSTOP", "Ayuda", "hello"):
            sandbox.simulate_inbound(inbound, from_=CLIENT, to=CLINIC, body=body)
            seen.append(receiver.received[-1][1].get("OptOutType"))
        assert seen == ["HELP", "STOP", "STOP", "START", "HELP", None]
        assert len(sandbox.keyword_replies(CLIENT)) == 5
        assert sandbox.opt_outs == set()
        sandbox.simulate_inbound(inbound, from_=CLIENT, to=CLINIC, body="ALTO")
        assert sandbox.opt_outs == {(CLINIC, CLIENT)}
    with pytest.raises(ValueError):
        sandbox.add_keyword("BASTA", "UNSUBSCRIBE")


def test_custom_keywords_need_advanced_opt_out(receiver: Receiver) -> None:
    with SandboxTwilio(auth_token=receiver.auth_token, opt_out_handling=True) as sandbox:
        sandbox.add_keyword("ALTO", "STOP")
        sandbox.simulate_inbound(f"{receiver.base}/i", from_=CLIENT, to=CLINIC, body="ALTO")
        assert sandbox.keyword_replies() == [] and sandbox.opt_outs == set()


TRICKY = {
    "apostrophe": ("We’re closed today – sorry!" + " x" * 60, 1, 3),
    "quotes and ellipsis": ("“Storm” closure… call us" + "." * 130, 1, 3),
    "non-breaking space": ("Closed\u00a0today" + "." * 140, 1, 3),
    "emoji": ("Closed today 🐾" + "." * 60, 2, 2),
    "accented GSM letters": ("Fermé à midi" + "." * 140, 1, 1),
    "accent outside GSM": ("Fenêtre" + "." * 70, 2, 2),
    "extension characters": ("[closed]" + "." * 152, 2, 2),
}


@pytest.mark.parametrize("case", sorted(TRICKY))
def test_smart_encoding_substitutes_before_counting_segments(sandbox: SandboxTwilio, case: str) -> None:
    body, smart, plain = TRICKY[case]
    client = _client(sandbox)
    encoded = client.messages.create(to=CLIENT, from_=CLINIC, body=body, smart_encoded=True)
    raw = client.messages.create(to=CLIENT, from_=CLINIC, body=body)
    assert (int(encoded.num_segments), int(raw.num_segments)) == (smart, plain)
    stored = sandbox.message(encoded.sid)
    assert stored.original_body == body and raw.body == body
    assert "’" not in stored.body and "“" not in stored.body and "…" not in stored.body


def test_validity_period_expires_a_message_stuck_in_the_queue(
    sandbox: SandboxTwilio, receiver: Receiver
) -> None:
    client = _client(sandbox)
    sandbox.set_queue_delay(3.0, from_=CLINIC)
    callback = f"{receiver.base}/s"
    expiring = client.messages.create(
        to=CLIENT, from_=CLINIC, body="Closed", validity_period=1, status_callback=callback
    )
    assert sandbox.message(expiring.sid).validity_period == 1
    assert sandbox.wait_idle(timeout=5)
    assert receiver.statuses() == ["queued", "failed"]
    assert receiver.received[-1][1]["ErrorCode"] == "30036"
    fetched = client.messages(expiring.sid).fetch()
    assert (fetched.status, fetched.error_code, fetched.date_sent) == ("failed", 30036, None)
    sandbox.set_queue_delay(0.0, from_=CLINIC)
    kept = client.messages.create(to=CLIENT, from_=CLINIC, body="Closed", validity_period=14_400)
    assert sandbox.wait_idle()
    assert sandbox.message(kept.sid).status == "delivered"
    for wrong in (0, 36_001):
        send = functools.partial(
            client.messages.create, to=CLIENT, from_=CLINIC, body="x", validity_period=wrong
        )
        assert _refusal(send) == (400, 21624)


def test_inbound_mms_media_is_served_behind_basic_auth(sandbox: SandboxTwilio, receiver: Receiver) -> None:
    photo = b"\x89PNG\r\n\x1a\n" + b"pet" * 100
    status = sandbox.simulate_inbound(
        f"{receiver.base}/twilio/inbound",
        from_=CLIENT,
        to=CLINIC,
        body="Here is Max",
        media=[("image/png", photo), ("video/mp4", b"movie")],
    )
    assert status == 204
    _, params, valid = receiver.received[-1]
    assert valid and params["NumMedia"] == "2" and params["MessageSid"].startswith("MM")
    assert (params["MediaContentType0"], params["MediaContentType1"]) == ("image/png", "video/mp4")
    url = params["MediaUrl0"]
    assert url.startswith(f"{sandbox.url}/2010-04-01/Accounts/{sandbox.account_sid}/Messages/")
    token = base64.b64encode(f"{sandbox.account_sid}:{sandbox.auth_token}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.read() == photo and response.headers["Content-Type"] == "image/png"
    for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"AC1:wrong").decode()}):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5)
        assert caught.value.code == 401
        caught.value.close()
    assert sandbox.messages[-1].num_media == 2
