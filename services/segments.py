"""SMS arithmetic: GSM-7 or UCS-2, characters remaining and the number of texts (segments)."""

from __future__ import annotations

from dataclasses import dataclass

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
