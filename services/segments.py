"""SMS arithmetic: GSM-7 or UCS-2, characters remaining and the number of texts (segments).

Texts are sent with Twilio's smart encoding on (SmartEncoded=true), so the count is of the text after its
substitutions (`smart_encode`): an iPhone apostrophe is billed as ', not as a UCS-2 character that would
turn a one-text message into two.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

GSM7 = "GSM-7"
UCS2 = "UCS-2"

#: The GSM 03.38 default alphabet (one septet each), row by row of the standard table.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The extension table: each is sent as escape + character, so it counts two.
_GSM_EXTENDED = frozenset("\f^{}\\[~]|€")

#: Twilio's smart-encoding substitutions, by replacement (source: "Smart Encoding character list",
#: https://www.twilio.com/docs/messaging/services/smart-encoding-char-list). Emoji, accented letters outside
#: GSM-7 and other characters not listed are left alone (the text stays UCS-2).
_LOOKALIKES: dict[str, str] = {
    '"': "\u00ab\u00bb\u201c\u201d\u201f\u02ba\u02ee\u275d\u275e\u301d\u301e\uff02",
    "'": (
        "\u2018\u2019\u201b\u02bb\u02bc\u02bd\u02b9\u02c8\u02ca\u02cb\u00b4\u0060\u275b\u275c"
        "\uff07\u0313\u0314\ufe10\ufe11"
    ),
    "-": ("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u00ad\ufe58\ufe63\uff0d\u2043\u02d7\u2022\u2219\u00b7"),
    "/": "\u00f7\u2044\u2215\u29f8\u0337\u0338\uff0f",
    "\\": "\u29f5\u29f9\u20e5\ufe68\uff3c",
    "_": "\u0332\u20e8\ufe4d\ufe4e\ufe4f\uff3f",
    "<": "\u2039\u02c2\u276e\uff1c",
    ">": "\u203a\u02c3\u276f\uff1e",
    "~": "\u02dc\u02f7\u0303\u0330\u0334\u223c\uff5e",
    "^": "\u02c4\u02c6\u0302",
    ":": "\u02d0\u02f8\u0589\u05c3\u2236\ua789\ufe13\uff1a",
    ",": "\u02cf\u201a\u0326\u0327\u0328\ufe50\ufe51\uff0c",
    ";": "\u037e\ufe14\ufe54\uff1b",
    ".": "\u2024\ufe52\uff0e",
    " ": (
        "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b"
        "\u202f\u205f\u3000\ufeff"
    ),
}
#: One character -> its smart-encoding replacement (some become several characters: an ellipsis is "...").
SMART_ENCODING: dict[str, str] = {
    **{char: plain for plain, chars in _LOOKALIKES.items() for char in chars},
    "\u2026": "...",
    "\u2025": "..",
    "\u00bc": "1/4",
    "\u00bd": "1/2",
    "\u00be": "3/4",
}

_TRANSLATION = {ord(char): plain for char, plain in SMART_ENCODING.items()}


def smart_encode(text: str) -> str:
    """`text` as Twilio sends it with SmartEncoded=true: each listed look-alike replaced, the rest kept."""
    return text.translate(_TRANSLATION)


#: Capacity of a single text and of each part of a multi-part text, per encoding.
_SINGLE = {GSM7: 160, UCS2: 70}
_PART = {GSM7: 153, UCS2: 67}


@dataclass(frozen=True)
class SegmentInfo:
    """How long a message is in its encoding's units and how many texts it takes."""

    length: int
    remaining: int
    segments: int
    encoding: str
    too_long: bool


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 alphabet or its extension table."""
    return all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text)


def _units(text: str, encoding: str) -> list[int]:
    """The cost of each character: septets for GSM-7, UTF-16 code units for UCS-2."""
    if encoding == GSM7:
        return [2 if ch in _GSM_EXTENDED else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _count_parts(units: list[int], part: int) -> int:
    """Parts needed when a character (escape pair or surrogate pair) is never split across parts."""
    parts, used = 1, 0
    for cost in units:
        if used + cost > part:
            parts += 1
            used = 0
        used += cost
    return parts


def measure(text: str, max_chars: int = 320) -> SegmentInfo:
    """Length, characters left under `max_chars`, segments and encoding of `text` as sent (smart-encoded).

    Raises ValueError when `max_chars` < 1.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    text = smart_encode(text)
    encoding = GSM7 if is_gsm7(text) else UCS2
    units = _units(text, encoding)
    length = sum(units)
    if length == 0:
        segments = 0
    elif length <= _SINGLE[encoding]:
        segments = 1
    else:
        segments = _count_parts(units, _PART[encoding])
    remaining = max_chars - length
    return SegmentInfo(length, remaining, segments, encoding, remaining < 0)


#: One extended grapheme cluster (Unicode UAX #29): what a person sees as one character.
_GRAPHEME = regex.compile(r"\X")


@dataclass(frozen=True)
class MessageCount:
    """The message as a person counts it, and as the clinic is billed for it.

    `characters` and `remaining` count what a person sees (grapheme clusters: one emoji, even a
    family or a flag, is one); `segments` and `encoding` follow the SMS rules of `measure`.
    `forcing` is the first character that needs UCS-2 (the 70-per-text encoding), None under GSM-7.
    """

    characters: int
    remaining: int
    segments: int
    encoding: str
    forcing: str | None

    @property
    def too_long(self) -> bool:
        """True when the message is over the clinic's limit."""
        return self.remaining < 0


def characters(text: str) -> int:
    """How many characters a person sees in `text`: extended grapheme clusters (Unicode UAX #29).

    `regex`'s `\\X` follows the current Unicode segmentation rules (emoji ZWJ sequences, flags,
    combining marks); Python's own `re` has no grapheme support.
    """
    return len(_GRAPHEME.findall(text))


def forcing_character(text: str) -> str | None:
    """The first character (grapheme cluster) of `text` that makes it UCS-2, or None when it is GSM-7."""
    return _first_ucs2(text) if measure(text).encoding == UCS2 else None


def _first_ucs2(text: str) -> str | None:
    return next((g for g in _GRAPHEME.findall(text) if measure(g).encoding == UCS2), None)


def count_message(text: str, max_chars: int = 320) -> MessageCount:
    """Characters (as seen) left under `max_chars`, and the texts (segments) each client receives.

    Raises ValueError when `max_chars` < 1. The limit counts what a person sees, so the compose
    modal's "characters left" and the refusal at Review agree; the segments still count septets or
    UTF-16 units (3GPP TS 23.038), which is what Twilio bills.
    """
    info = measure(text, max_chars)
    seen = characters(text)
    forcing = _first_ucs2(text) if info.encoding == UCS2 else None
    return MessageCount(seen, max_chars - seen, info.segments, info.encoding, forcing)
