"""The one table of Twilio errors, a test per code: who it depends on decides what the alert does."""

from __future__ import annotations

import pytest

from services.sms import ErrorKind, SendRequest, SmsError, classify, describe
from services.twilio_errors import TWILIO_ERRORS, classify_21606, is_stop

RECIPIENT = ErrorKind.PERMANENT
RETRY = ErrorKind.RETRY
STOP = ErrorKind.CONFIG

#: Every listed code, what it depends on, and words the clinic reads (written out here, not read from the
#: table, so a change to the table has to change this list too).
EXPECTED: list[tuple[int, ErrorKind, str]] = [
    (20003, STOP, "TWILIO_AUTH_TOKEN"),
    (20005, STOP, "reactivate"),
    (20404, STOP, "Messaging Service SID"),
    (21212, STOP, "not a valid phone number"),
    (21603, STOP, "No From number"),
    (21606, STOP, "cannot send SMS"),
    (21624, STOP, "ALERT_VALIDITY_SECONDS"),
    (21659, STOP, "does not belong"),
    (30002, STOP, "suspended"),
    (30032, STOP, "toll-free verification"),
    (30034, STOP, "A2P 10DLC"),
    (20429, RETRY, "slow down"),
    (21611, RETRY, "queued"),
    (30001, RETRY, "overflowed"),
    (21211, RECIPIENT, "Not a valid phone number"),
    (21408, RECIPIENT, "region is not enabled"),
    (21602, RECIPIENT, "empty"),
    (21604, RECIPIENT, "No phone number"),
    (21610, RECIPIENT, "opted out with the carrier"),
    (21612, RECIPIENT, "cannot route"),
    (21614, RECIPIENT, "Not a mobile number"),
    (21617, RECIPIENT, "too long"),
    (30003, RECIPIENT, "unreachable"),
    (30004, RECIPIENT, "blocked"),
    (30005, RECIPIENT, "inactive"),
    (30006, RECIPIENT, "Landline"),
    (30007, RECIPIENT, "spam"),
    (30008, RECIPIENT, "Unknown error"),
    (30036, RECIPIENT, "validity period"),
]


def test_every_code_in_the_table_has_its_test() -> None:
    assert sorted(TWILIO_ERRORS) == sorted(code for code, _, _ in EXPECTED)


@pytest.mark.parametrize(("code", "kind", "words"), EXPECTED, ids=[str(c) for c, _, _ in EXPECTED])
def test_code_by_what_it_depends_on(code: int, kind: ErrorKind, words: str) -> None:
    got, reason = classify(code, 400)
    assert got is kind
    assert words in reason
    assert f"(Twilio {code})" in reason
    # Only an account or sender error stops an alert, and its message says what to fix.
    assert is_stop(code) is (kind is STOP)
    assert ("To fix:" in reason) is (kind is STOP)
    assert describe(code) == reason


@pytest.mark.parametrize("code", [12345, 30999, 21000])
def test_an_unknown_code_fails_the_row_keeping_the_raw_code(code: int) -> None:
    assert classify(code, 400) == (ErrorKind.UNKNOWN, f"Twilio error {code}")
    assert describe(code) == f"Twilio error {code}"
    assert not is_stop(code)


GENERIC_21606 = "The 'From' phone number provided is not a valid message-capable Twilio phone number."


@pytest.mark.parametrize(
    ("message", "to", "from_", "kind"),
    [
        # Twilio's message says destination, or names the To: the recipient.
        (GENERIC_21606[:-1] + " for this destination.", "+15551230000", "+15557654321", RECIPIENT),
        ("+15551230000 is not reachable from this 'From' number", "+15551230000", "+15557654321", RECIPIENT),
        # It names the From: the sender.
        ("The From phone number +15557654321 is not SMS-capable", "+447700900123", "+15557654321", STOP),
        # It names neither: a To abroad is about the destination, a To at home about the sender.
        (GENERIC_21606, "+447700900123", "+15557654321", RECIPIENT),
        (GENERIC_21606, "+15551230000", "+15557654321", STOP),
        (GENERIC_21606, "+15551230000", None, STOP),
    ],
)
def test_21606_is_decided_by_the_number_twilio_names(
    message: str, to: str, from_: str | None, kind: ErrorKind
) -> None:
    assert classify_21606(message, to, from_).kind is kind
    error = SmsError.from_code(21606, 400, message=message, request=SendRequest(to=to, body="x", from_=from_))
    assert error.kind is kind
