"""TwilioGateway (the official twilio client) over real HTTP against the sandbox Twilio."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta

import pytest

from sandbox.twilio import SandboxTwilio
from services.clock import ManualClock
from services.sms import ErrorKind, SendRequest, SmsError, TwilioGateway

CLINIC = "+15557654321"
CLIENT = "+15551230000"
SERVICE = "MG" + "b" * 32


@pytest.fixture
def sandbox() -> Iterator[SandboxTwilio]:
    with SandboxTwilio(send_callbacks=False) as server:
        yield server


@pytest.fixture
def gateway(sandbox: SandboxTwilio) -> TwilioGateway:
    return TwilioGateway(sandbox.account_sid, sandbox.auth_token, api_url=sandbox.url, timeout=2.0)


def _send_error(gateway: TwilioGateway, to: str = CLIENT, **kwargs: str) -> SmsError:
    with pytest.raises(SmsError) as caught:
        gateway.send(SendRequest(to=to, body="Clinic closed today", from_=kwargs.get("from_", CLINIC)))
    return caught.value


def test_create_fetch_and_list_go_through_the_base_url_override(
    sandbox: SandboxTwilio, gateway: TwilioGateway
) -> None:
    result = gateway.send(SendRequest(to=CLIENT, body="Clinic closed today", from_=CLINIC))
    assert result.sid.startswith("SM") and len(result.sid) == 34
    assert result.status == "queued"
    assert sandbox.wait_idle()

    info = gateway.fetch(result.sid)
    assert (info.sid, info.to, info.from_, info.body, info.status) == (
        result.sid,
        CLIENT,
        CLINIC,
        "Clinic closed today",
        "delivered",
    )
    assert info.date_created is not None and info.date_created.utcoffset() == timedelta(0)

    found = gateway.find_sent(CLIENT, CLINIC, None, info.date_created)
    assert [m.sid for m in found] == [result.sid]

    base = f"/2010-04-01/Accounts/{sandbox.account_sid}"
    paths = [(r.method, r.path) for r in sandbox.requests]
    assert paths[:3] == [
        ("POST", f"{base}/Messages.json"),
        ("GET", f"{base}/Messages/{result.sid}.json"),
        ("GET", f"{base}/Messages.json"),
    ]
    assert sandbox.requests[2].query["To"] == CLIENT and sandbox.requests[2].query["From"] == CLINIC
    assert "DateSent>" in sandbox.requests[2].query


def test_messaging_service_and_status_callback_are_passed_on(
    sandbox: SandboxTwilio, gateway: TwilioGateway
) -> None:
    callback = "https://clinic.example.org/twilio/status?delivery=7"
    result = gateway.send(
        SendRequest(to=CLIENT, body="Hi", messaging_service_sid=SERVICE, status_callback=callback)
    )
    assert result.status == "accepted"
    form = sandbox.requests[0].form
    assert form == {
        "To": CLIENT,
        "Body": "Hi",
        "MessagingServiceSid": SERVICE,
        "StatusCallback": callback,
        "SmartEncoded": "true",
    }


def test_a_send_without_from_or_service_is_a_configuration_error(gateway: TwilioGateway) -> None:
    with pytest.raises(SmsError) as caught:
        gateway.send(SendRequest(to=CLIENT, body="Hi"))
    assert caught.value.kind is ErrorKind.CONFIG


@pytest.mark.parametrize(
    ("to", "code", "kind", "reason"),
    [
        ("+15005550001", 21211, ErrorKind.PERMANENT, "Not a valid phone number (Twilio 21211)"),
        (
            "+15005550002",
            21612,
            ErrorKind.PERMANENT,
            "Twilio cannot route texts to this number (Twilio 21612)",
        ),
        (
            "+15005550003",
            21408,
            ErrorKind.PERMANENT,
            "Texting this country or region is not enabled on the Twilio account (Twilio 21408)",
        ),
        (
            "+15005550004",
            21610,
            ErrorKind.PERMANENT,
            "The client opted out with the carrier: they replied STOP to the clinic's number (Twilio 21610)",
        ),
        (
            "+15005550009",
            21614,
            ErrorKind.PERMANENT,
            "Not a mobile number, it cannot receive texts (Twilio 21614)",
        ),
    ],
)
def test_twilio_test_numbers_are_classified_with_a_plain_reason(
    sandbox: SandboxTwilio, gateway: TwilioGateway, to: str, code: int, kind: ErrorKind, reason: str
) -> None:
    error = _send_error(gateway, to)
    assert (error.kind, error.code, error.http_status, error.reason) == (kind, code, 400, reason)
    assert sandbox.messages == []


def test_a_429_burst_asks_to_retry_after_the_header(sandbox: SandboxTwilio, gateway: TwilioGateway) -> None:
    sandbox.retry_after = 2.0
    sandbox.rate_limit_burst(2)
    for _ in range(2):
        error = _send_error(gateway)
        assert (error.kind, error.code, error.http_status) == (ErrorKind.RETRY, 20429, 429)
        assert error.retry_after == 2.0
    assert gateway.send(SendRequest(to=CLIENT, body="Hi", from_=CLINIC)).status == "queued"
    assert len(sandbox.messages) == 1


def test_a_500_without_code_leaves_the_text_in_doubt(gateway: TwilioGateway, sandbox: SandboxTwilio) -> None:
    sandbox.failure_ratio = 1.0
    error = _send_error(gateway)
    assert (error.kind, error.code, error.http_status) == (ErrorKind.IN_DOUBT, None, 500)


def test_a_500_after_twilio_kept_the_message_is_found_by_reconciliation(clock: ManualClock) -> None:
    with SandboxTwilio(
        failure_ratio=1.0, failures_create_message=True, clock=clock, send_callbacks=False
    ) as sandbox:
        gateway = TwilioGateway(sandbox.account_sid, sandbox.auth_token, api_url=sandbox.url)
        since = clock.now()
        assert _send_error(gateway).kind is ErrorKind.IN_DOUBT
        found = gateway.find_sent(CLIENT, CLINIC, None, since)
        assert [m.sid for m in found] == [sandbox.messages[0].sid]


def test_a_response_slower_than_the_timeout_leaves_the_text_in_doubt(clock: ManualClock) -> None:
    with SandboxTwilio(latency=0.6, clock=clock, send_callbacks=False) as sandbox:
        gateway = TwilioGateway(sandbox.account_sid, sandbox.auth_token, api_url=sandbox.url, timeout=0.2)
        since = clock.now()
        error = _send_error(gateway)
        assert (error.kind, error.code, error.http_status) == (ErrorKind.IN_DOUBT, None, None)
        assert "may have been sent" in error.reason
        # Twilio got it: reconciliation finds exactly that one message, still queued (no date_sent).
        found = gateway.find_sent(CLIENT, CLINIC, None, since)
        assert [m.sid for m in found] == [sandbox.messages[0].sid]


def test_a_lost_response_leaves_the_text_in_doubt_and_reconciliation_finds_it(
    sandbox: SandboxTwilio, gateway: TwilioGateway
) -> None:
    before = gateway.send(SendRequest(to="+15551239999", body="other client", from_=CLINIC))
    sandbox.drop_response_for(1)
    error = _send_error(gateway)
    assert error.kind is ErrorKind.IN_DOUBT
    lost = sandbox.messages[-1]
    assert lost.to == CLIENT and lost.sid != before.sid
    found = gateway.find_sent(CLIENT, CLINIC, None, lost.date_created)
    assert [m.sid for m in found] == [lost.sid]


def test_a_wrong_auth_token_is_a_configuration_error(sandbox: SandboxTwilio) -> None:
    gateway = TwilioGateway(sandbox.account_sid, "not-the-token", api_url=sandbox.url)
    error = _send_error(gateway)
    assert (error.kind, error.code, error.http_status) == (ErrorKind.CONFIG, 20003, 401)
    with pytest.raises(SmsError) as caught:
        gateway.find_sent(CLIENT, CLINIC, None, ManualClock().now())
    assert caught.value.kind is ErrorKind.CONFIG


def test_nothing_listening_means_nothing_was_sent_so_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = TwilioGateway("AC" + "1" * 32, "token", api_url=f"http://127.0.0.1:{port}", timeout=1.0)
    error = _send_error(gateway)
    assert error.kind is ErrorKind.RETRY


def test_fetching_an_unknown_sid_says_so(gateway: TwilioGateway) -> None:
    with pytest.raises(SmsError) as caught:
        gateway.fetch("SM" + "0" * 32)
    assert (caught.value.code, caught.value.http_status) == (20404, 404)
    assert "no message" in caught.value.reason


def test_find_sent_only_returns_this_clients_texts_since_the_given_time(clock: ManualClock) -> None:
    with SandboxTwilio(clock=clock, callback_delay=0) as sandbox:
        gateway = TwilioGateway(sandbox.account_sid, sandbox.auth_token, api_url=sandbox.url)
        old = gateway.send(SendRequest(to=CLIENT, body="yesterday's", from_=CLINIC))
        assert sandbox.wait_idle()
        clock.advance(3600)
        since = clock.now()
        new = gateway.send(SendRequest(to=CLIENT, body="today's", from_=CLINIC))
        gateway.send(SendRequest(to="+15551239999", body="someone else", from_=CLINIC))
        gateway.send(SendRequest(to=CLIENT, body="another sender", from_="+15557650000"))
        assert sandbox.wait_idle()
        found = gateway.find_sent(CLIENT, CLINIC, None, since)
        assert [m.sid for m in found] == [new.sid]
        assert old.sid not in {m.sid for m in gateway.find_sent(CLIENT, CLINIC, None, since)}
        everything = gateway.find_sent(CLIENT, CLINIC, None, since - timedelta(hours=2))
        assert {m.sid for m in everything} == {old.sid, new.sid}
