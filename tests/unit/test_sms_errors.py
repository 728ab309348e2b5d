"""Twilio error codes -> what the dispatcher does and what the clinic manager reads; signatures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from sandbox.signing import twilio_signature
from services.sms import ErrorKind, SmsError, classify, describe, validate_signature

TOKEN = "12345abcdef"


@pytest.mark.parametrize(
    ("code", "status", "kind", "words"),
    [
        (20003, 401, ErrorKind.CONFIG, "account SID or auth token"),
        (21408, 400, ErrorKind.PERMANENT, "region is not enabled"),
        (30034, None, ErrorKind.CONFIG, "10DLC"),
        (21606, 400, ErrorKind.CONFIG, "From number cannot send"),
        (21659, 400, ErrorKind.CONFIG, "does not belong"),
        (20404, 404, ErrorKind.CONFIG, "does not know"),
        (20429, 429, ErrorKind.RETRY, "slow down"),
        (30001, None, ErrorKind.RETRY, "queue"),
        (21211, 400, ErrorKind.PERMANENT, "Not a valid phone number"),
        (21610, 400, ErrorKind.PERMANENT, "opted out"),
        (21612, 400, ErrorKind.PERMANENT, "cannot route"),
        (21614, 400, ErrorKind.PERMANENT, "Not a mobile number"),
        (21617, 400, ErrorKind.PERMANENT, "too long"),
        (30003, None, ErrorKind.PERMANENT, "unreachable"),
        (30004, None, ErrorKind.PERMANENT, "blocked"),
        (30005, None, ErrorKind.PERMANENT, "inactive"),
        (30006, None, ErrorKind.PERMANENT, "Landline"),
        (30007, None, ErrorKind.PERMANENT, "spam"),
        (30008, None, ErrorKind.PERMANENT, "Unknown error"),
    ],
)
def test_known_codes_have_a_kind_and_a_plain_reason_with_the_code(
    code: int, status: int | None, kind: ErrorKind, words: str
) -> None:
    got_kind, reason = classify(code, status)
    assert got_kind is kind
    assert words in reason
    assert f"(Twilio {code})" in reason


def test_the_invalid_number_reason_reads_as_the_product_describes_it() -> None:
    assert classify(21211, 400) == (ErrorKind.PERMANENT, "Not a valid phone number (Twilio 21211)")


@pytest.mark.parametrize(
    ("code", "status", "kind", "reason"),
    [
        (None, 429, ErrorKind.RETRY, "Twilio asked to slow down (HTTP 429)"),
        (None, 500, ErrorKind.IN_DOUBT, "HTTP 500"),
        (None, 503, ErrorKind.IN_DOUBT, "HTTP 503"),
        (20500, 500, ErrorKind.IN_DOUBT, "Twilio 20500"),
        (None, 401, ErrorKind.CONFIG, "auth token"),
        (12345, 400, ErrorKind.UNKNOWN, "Twilio error 12345"),
        (None, 400, ErrorKind.UNKNOWN, "Twilio answered HTTP 400"),
        (None, None, ErrorKind.UNKNOWN, "no code"),
    ],
)
def test_statuses_without_a_listed_code(
    code: int | None, status: int | None, kind: ErrorKind, reason: str
) -> None:
    got_kind, got_reason = classify(code, status)
    assert got_kind is kind
    assert reason in got_reason


def test_unknown_codes_keep_the_raw_code_exactly() -> None:
    assert classify(12345, 400) == (ErrorKind.UNKNOWN, "Twilio error 12345")


def test_describe_gives_report_details_for_carrier_outcomes() -> None:
    assert describe(30003) == "Phone unreachable or switched off (Twilio 30003)"
    assert describe(30007) == "The carrier filtered the message as spam (Twilio 30007)"
    assert describe(99999) == "Twilio error 99999"
    assert describe(None) == ""


def test_sms_error_from_code_carries_everything_the_dispatcher_needs() -> None:
    error = SmsError.from_code(20429, 429, retry_after=2.5)
    assert (error.kind, error.code, error.http_status) == (ErrorKind.RETRY, 20429, 429)
    assert error.retry_after == 2.5
    assert str(error) == error.reason


def test_signature_made_as_twilio_makes_it_is_accepted() -> None:
    url = "https://clinic.example.org/twilio/status?delivery=42"
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "To": "+15551230000"}
    assert validate_signature(TOKEN, url, params, twilio_signature(TOKEN, url, params))


def test_twilio_documented_example_signature() -> None:
    # The worked example from Twilio's webhook security documentation.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert validate_signature("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


@pytest.mark.parametrize("change", ["status", "url", "token", "missing", "empty"])
def test_forged_or_unsigned_requests_are_refused(change: str) -> None:
    url = "https://clinic.example.org/twilio/status?delivery=42"
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "failed"}
    signature: str | None = twilio_signature(TOKEN, url, params)
    token = TOKEN
    if change == "status":
        params = {**params, "MessageStatus": "delivered"}
    elif change == "url":
        url = "https://clinic.example.org/twilio/status?delivery=43"
    elif change == "token":
        token = "another-token"
    elif change == "missing":
        signature = None
    else:
        signature = ""
    assert not validate_signature(token, url, params, signature)


def test_signature_survives_the_default_port_being_written_or_not() -> None:
    params = {"MessageSid": "SM1"}
    signed_without = twilio_signature(TOKEN, "https://clinic.example.org/twilio/status", params)
    assert validate_signature(TOKEN, "https://clinic.example.org:443/twilio/status", params, signed_without)


@given(
    st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=12), max_size=6), st.text(max_size=20)
)
def test_sandbox_signing_matches_the_twilio_library(params: dict[str, str], path: str) -> None:
    url = "http://127.0.0.1:8080/" + path
    assert twilio_signature(TOKEN, url, params) == RequestValidator(TOKEN).compute_signature(url, params)
