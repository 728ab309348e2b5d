"""SMS arithmetic: GSM-7 or UCS-2, characters remaining and the number of texts (segments)."""

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
    """Length, characters left under `max_chars`, segments and encoding of `text`."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
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
