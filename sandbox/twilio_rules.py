"""Twilio's rules the sandbox applies: error codes, GSM-7 segments, smart encoding, opt-out keywords.

Sources: Twilio's error dictionary (https://www.twilio.com/docs/api/errors/NNNNN), the segment table
(https://www.twilio.com/docs/glossary/what-sms-character-limit: GSM-7 160/153, UCS-2 70/67), the
smart-encoding list (https://www.twilio.com/docs/messaging/services/smart-encoding-char-list) and
Advanced Opt-Out's default keywords (https://help.twilio.com/articles/223134027).
"""

from __future__ import annotations

#: Twilio's test numbers: a message to one of these fails at create with this code.
MAGIC_TO: dict[str, int] = {
    "+15005550001": 21211,
    "+15005550002": 21612,
    "+15005550003": 21408,
    "+15005550004": 21610,
    "+15005550009": 21614,
}
#: Twilio's test From numbers that fail at create.
MAGIC_FROM: dict[str, int] = {"+15005550001": 21212, "+15005550007": 21606, "+15005550008": 21611}

ERROR_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20005: "Account not active",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "The 'To' number is not a valid phone number.",
    21212: "The 'From' number is not a valid phone number, shortcode, or alphanumeric sender ID.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21611: "This 'From' number has exceeded the maximum number of queued messages",
    21612: "The 'To' phone number is not currently reachable via SMS.",
    21614: "The 'To' number is not a valid mobile number.",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21624: "Invalid validity period value",
    21659: "The 'From' number is not a Twilio phone number or Short Code country mismatch.",
    30001: "Queue overflow",
    30002: "Account suspended",
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
    30032: "Toll-Free Number Has Not Been Verified",
    30034: "Message from an Unregistered Number",
    30036: "Validity Period Expired",
}

#: Codes Twilio answers at create with this HTTP status (anything else in the 2xxxx range is 400).
HTTP_STATUS: dict[int, int] = {20003: 401, 20005: 401, 20404: 404, 20429: 429}
#: Codes that are not refused at create: the message is accepted, then fails with this code.
ASYNC_CODES = frozenset({30001, 30002, 30003, 30004, 30005, 30006, 30007, 30008, 30032, 30034, 30036})

#: ValidityPeriod bounds in seconds (Twilio: integers 1 to 36,000; outside them the create is refused).
VALIDITY_MIN, VALIDITY_MAX = 1, 36_000
VALIDITY_EXPIRED = 30036

# ----- GSM-7 and segments ---------------------------------------------------------------------

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: Characters of the GSM-7 extension table: each takes two septets (escape + character).
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM 03.38 basic or extension table."""
    return all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text)


def segments(body: str) -> int:
    """The number of SMS segments Twilio bills for `body`.

    GSM-7: 160 septets in one segment, 153 per segment when concatenated (extension characters count
    two). UCS-2: 70 UTF-16 code units in one segment, 67 when concatenated (an emoji outside the BMP
    counts two).
    """
    if is_gsm7(body):
        units = sum(2 if c in _GSM_EXTENDED else 1 for c in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    return 1 if units <= single else -(-units // multi)


# ----- smart encoding ------------------------------------------------------------------------

_SMART: dict[str, str] = {}
for _chars, _replacement in (
    ("\u00ab\u00bb\u201c\u201d\u02ba\u02ee\u201f\u275d\u275e\u301d\u301e\uff02", '"'),
    (
        "\u2018\u2019\u02bb\u02c8\u02bc\u02bd\u02b9\u201b\uff07\u00b4\u02ca\u0060\u02cb\u275b\u275c"
        "\u0313\u0314\ufe10\ufe11",
        "'",
    ),
    ("\u00f7\u29f8\u0337\u0338\u2044\u2215\uff0f", "/"),
    ("\u29f9\u29f5\u20e5\ufe68\uff3c", "\\"),
    ("\u0332\uff3f\u20e8\ufe4d\ufe4e\ufe4f", "_"),
    ("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u00ad\ufe58\ufe63\uff0d\u2043\u02d7", "-"),
    ("\u2039\uff1c\u02c2\u276e", "<"),
    ("\u203a\uff1e\u02c3\u276f", ">"),
    ("\u02dc\u02f7\u0303\u0330\u0334\u223c\uff5e", "~"),
    (
        "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b\u202f\u205f\u3000\ufeff",
        " ",
    ),
    ("\u02c4\u02c6\u0302", "^"),
    ("\u2022\u2219\u00b7", "-"),
    ("\u02d0\u02f8\u0589\u05c3\u2236\ua789\ufe13\uff1a", ":"),
    ("\u02cf\u201a\u0326\u0327\u0328\ufe50\ufe51\uff0c", ","),
    ("\u037e\ufe14\ufe54\uff1b", ";"),
    ("\u2024\ufe52\uff0e", "."),
):
    for _char in _chars:
        _SMART[_char] = _replacement
_SMART.update({"\u2026": "...", "\u00bc": "1/4", "\u00bd": "1/2", "\u00be": "3/4", "\u2025": ".."})
#: Unicode look-alike -> its GSM-7 replacement, as Twilio's smart encoding substitutes them.
SMART_ENCODING: dict[str, str] = dict(_SMART)


def smart_encode(body: str) -> str:
    """`body` with each look-alike in SMART_ENCODING replaced; other characters (emoji, accents) stay."""
    return "".join(SMART_ENCODING.get(c, c) for c in body)


# ----- opt-out keywords ----------------------------------------------------------------------

#: Twilio's default keywords on long codes and toll-free numbers, by OptOutType.
DEFAULT_KEYWORDS: dict[str, str] = {
    **{k: "STOP" for k in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE")},
    **{k: "START" for k in ("START", "YES", "UNSTOP")},
    **{k: "HELP" for k in ("HELP", "INFO")},
}
#: Twilio's default confirmation texts (Advanced Opt-Out lets an account change them).
DEFAULT_REPLIES: dict[str, str] = {
    "STOP": "You have successfully been unsubscribed. You will not receive any more messages from this "
    "number. Reply START to resubscribe.",
    "START": "You have successfully been re-subscribed to messages from this number. Reply HELP for help. "
    "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
    "HELP": "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
}


def keyword_of(body: str, keywords: dict[str, str]) -> str | None:
    """The OptOutType (STOP, START, HELP) of `body` when it is exactly one keyword, any case; else None."""
    return keywords.get(body.strip().upper())
