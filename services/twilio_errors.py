"""Twilio's error codes by what they depend on: the recipient, the moment, or the account and sender.

One table, `TWILIO_ERRORS`, decides what a failed send does (sources: Twilio's error dictionary,
https://www.twilio.com/docs/api/errors/NNNNN):

- recipient (`PERMANENT`): that client fails with a plain reason; the alert goes on to everyone else
  (21211, 21408 region not enabled, 21610, 21612, 21614, 21617, 30003-30008, 30036, ...).
- retry (`RETRY`): nothing was sent; back off and try again (20429/HTTP 429, 21611, 30001).
- account or sender (`CONFIG`): no other client could be texted either; the alert stops and its entry says
  what to fix (20003, 20005, 21659, 30002, 30032, 30034, ...).
- a code not in the table (`UNKNOWN`): that client fails and the raw code is kept.

21606 is ambiguous: Twilio uses it both for a From that cannot send SMS at all and for a From that cannot
reach this destination. `classify_21606` decides by the number Twilio's message names and, when it names
none, by whether the To is in another country than the From (see there).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import phonenumbers


class ErrorKind(StrEnum):
    """What the dispatcher should do about a failed send."""

    CONFIG = "config"  # the clinic's Twilio setup is wrong: stop the alert and say what to fix
    RETRY = "retry"  # nothing was sent; try again later (rate limit, queue full, no connection)
    PERMANENT = "permanent"  # this recipient cannot be texted: fail that row with the reason
    UNKNOWN = "unknown"  # an unlisted Twilio code: fail the row, keep the raw code
    IN_DOUBT = "in_doubt"  # Twilio may have the message: reconcile, never resend blindly


@dataclass(frozen=True)
class TwilioError:
    """One row of the table: the kind, the plain reason and, for account/sender errors, what to fix."""

    kind: ErrorKind
    reason: str
    fix: str = ""

    def text(self, code: int) -> str:
        """'reason (Twilio code)', followed by what to fix when there is something to fix."""
        words = f"{self.reason} (Twilio {code})"
        return f"{words}. To fix: {self.fix}" if self.fix else words


_R, _T, _C = ErrorKind.PERMANENT, ErrorKind.RETRY, ErrorKind.CONFIG
_SENDER_FIX = "set the clinic's SMS number or Messaging Service to one the Twilio account owns, then Resume"

#: Every Twilio code the app knows, by what it depends on.
TWILIO_ERRORS: dict[int, TwilioError] = {
    # The account or the sender: nobody else can be texted either.
    20003: TwilioError(
        _C,
        "Twilio refused the account SID or auth token",
        "put the account's current SID and auth token in TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, "
        "restart, then Resume",
    ),
    20005: TwilioError(
        _C,
        "The Twilio account is not active",
        "reactivate the account (or upgrade it from trial) in the Twilio Console, then Resume",
    ),
    20404: TwilioError(
        _C,
        "Twilio does not know this account, number or Messaging Service",
        "check the account SID and the clinic's SMS number or Messaging Service SID, then Resume",
    ),
    21212: TwilioError(_C, "The clinic's From number is not a valid phone number", _SENDER_FIX),
    21603: TwilioError(_C, "No From number or Messaging Service is set for the clinic", _SENDER_FIX),
    21606: TwilioError(_C, "The clinic's From number cannot send SMS", _SENDER_FIX),
    21624: TwilioError(
        _C,
        "Twilio refused the validity period",
        "set ALERT_VALIDITY_SECONDS between 1 and 36000, restart, then Resume",
    ),
    21659: TwilioError(_C, "The From number does not belong to the clinic's Twilio account", _SENDER_FIX),
    30002: TwilioError(
        _C,
        "The Twilio account is suspended",
        "contact Twilio support to lift the suspension, then Resume",
    ),
    30032: TwilioError(
        _C,
        "The clinic's toll-free number is not verified for texting",
        "complete toll-free verification for the number in the Twilio Console, then Resume",
    ),
    30034: TwilioError(
        _C,
        "The clinic's number is not registered for US A2P 10DLC texting",
        "register the brand and campaign (A2P 10DLC) and add the number to it in the Twilio Console, "
        "then Resume",
    ),
    # The moment: nothing was sent, try again later.
    20429: TwilioError(_T, "Twilio asked to slow down (too many requests)"),
    21611: TwilioError(_T, "Too many texts are queued on the clinic's number"),
    30001: TwilioError(_T, "Twilio's queue for the clinic's number overflowed"),
    # The recipient: this client fails, the alert goes on.
    21211: TwilioError(_R, "Not a valid phone number"),
    21408: TwilioError(_R, "Texting this country or region is not enabled on the Twilio account"),
    21602: TwilioError(_R, "The message text is empty"),
    21604: TwilioError(_R, "No phone number to text"),
    21610: TwilioError(_R, "The client opted out with the carrier: they replied STOP to the clinic's number"),
    21612: TwilioError(_R, "Twilio cannot route texts to this number"),
    21614: TwilioError(_R, "Not a mobile number, it cannot receive texts"),
    21617: TwilioError(_R, "The message is too long"),
    30003: TwilioError(_R, "Phone unreachable or switched off"),
    30004: TwilioError(_R, "The number blocked the message"),
    30005: TwilioError(_R, "Unknown or inactive phone number"),
    30006: TwilioError(_R, "Landline or unreachable carrier"),
    30007: TwilioError(_R, "The carrier filtered the message as spam"),
    30008: TwilioError(_R, "Unknown error at the carrier"),
    30036: TwilioError(_R, "Expired: not delivered within the validity period, so it was dropped"),
}

#: 21606 when it is about the destination, not the sender (see classify_21606).
DESTINATION_21606 = TwilioError(_R, "The clinic's number cannot text this destination")

#: Twilio 21610: the recipient replied STOP to this sender and Twilio blocks it (the carrier opt-out).
CARRIER_OPT_OUT = 21610
#: Twilio 30036: the message waited longer than its ValidityPeriod and was dropped.
VALIDITY_EXPIRED = 30036


def _country(number: str | None) -> int | None:
    """The country calling code of an E.164 number (1 for +1 555..., 44 for +44 ...), None if unreadable."""
    if not number:
        return None
    try:
        code = phonenumbers.parse(number, None).country_code
    except phonenumbers.NumberParseException:
        return None
    return int(code) if code else None


def classify_21606(message: str | None, to: str | None, from_: str | None) -> TwilioError:
    """Whether a 21606 is about the destination (the recipient) or the From (the sender).

    Twilio's text for 21606 reads "The 'From' phone number provided is not a valid message-capable Twilio
    phone number [for this destination]". The decision, in order: a message naming the To number or saying
    "destination" is about the recipient; one naming the From number is about the sender; otherwise a To
    in another country than the From is about the recipient (the number can text at home, not there), and
    a To in the From's own country is about the sender (the number cannot text at all).
    """
    text = message or ""
    if (to and to in text) or "destination" in text.lower():
        return DESTINATION_21606
    if from_ and from_ in text:
        return TWILIO_ERRORS[21606]
    home, there = _country(from_), _country(to)
    if home is not None and there is not None and home != there:
        return DESTINATION_21606
    return TWILIO_ERRORS[21606]


def lookup(
    code: int, message: str | None = None, to: str | None = None, from_: str | None = None
) -> TwilioError | None:
    """The table's row for `code` (21606 decided by `classify_21606`); None for a code not listed."""
    if code == 21606:
        return classify_21606(message, to, from_)
    return TWILIO_ERRORS.get(code)


def is_stop(code: str | int | None) -> bool:
    """True when a code (as stored, text or int) is an account or sender error that stops an alert."""
    if code is None or not str(code).isdigit():
        return False
    row = TWILIO_ERRORS.get(int(code))
    return row is not None and row.kind is ErrorKind.CONFIG
