"""Phone numbers to E.164 with `phonenumbers`, and a plain-language reason when one is unusable.

A cell is read the way people type it into practice software: a label such as `mobile` or `(cell)` is
dropped (otherwise phonenumbers reads its letters as keypad digits), an extension (`ext. 2`, `x4`) is
recognised by phonenumbers and noted, and a cell holding two numbers gives the first that may be a
mobile (a number labelled mobile or cell first), with a note naming the ones left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import Leniency, NumberParseException, PhoneNumber, PhoneNumberType, ValidationResult

_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong number of digits",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "the area code is missing",
}

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "it does not look like a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}

#: Words that say what kind of line a number is; matched as whole words, optionally in brackets or
#: followed by a colon ("m: 312...", "(cell)", "[home]").
_LABEL = re.compile(
    r"[(\[]?\s*\b(?:mobile|cell|home|work|m|c)\b\.?\s*[)\]]?\s*:?",
    re.IGNORECASE,
)
_LABEL_WORD = re.compile(r"\b(?:mobile|cell|home|work|m|c)\b", re.IGNORECASE)
_MOBILE_WORDS = frozenset({"mobile", "cell", "m", "c"})
_LANDLINE_WORDS = frozenset({"home", "work"})
_SEPARATOR = re.compile(r"[,;/|&\n]|\bor\b|\band\b", re.IGNORECASE)
#: E.164 allows at most 15 digits; more digits than that in a cell means more than one number.
_ONE_NUMBER_DIGITS = 15
#: Types that may be a mobile. All of North America is FIXED_LINE_OR_MOBILE, as are the fictional
#: 555-01XX numbers; PERSONAL_NUMBER covers the US 500 area code (Twilio's magic test numbers).
_MAYBE_MOBILE = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.PERSONAL_NUMBER}
)


@dataclass(frozen=True)
class PhoneResult:
    """A usable number in E.164 (`e164`), or why the number cannot be texted (`error`).

    `note` says what was read beyond the number itself (an extension, a second number left out); it
    is set only for usable numbers.
    """

    e164: str | None
    error: str | None
    note: str | None = None

    @property
    def ok(self) -> bool:
        """True when the number can be texted."""
        return self.e164 is not None


def _shown(raw: str) -> str:
    return raw if len(raw) <= 40 else raw[:37] + "..."


def _invalid(raw: str, reason: str) -> PhoneResult:
    return PhoneResult(None, f"'{_shown(raw)}' is not a valid phone number: {reason}")


def _e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _extension_note(number: PhoneNumber) -> str | None:
    if not number.extension:
        return None
    return f"extension {number.extension} noted; texts go to {_e164(number)} itself"


def _labels_near(text: str, start: int, end: int, before: int, after: int) -> set[str]:
    """Label words beside `text[start:end]`, up to the nearest separator (`,`, `;`, `/`, `or`, ...)."""
    lead = _SEPARATOR.split(text[before:start])[-1]
    trail = _SEPARATOR.split(text[end:after])[0]
    return {word.lower() for word in _LABEL_WORD.findall(lead + " " + trail)}


def _one_of_several(raw: str, region: str, mobile_only: bool) -> PhoneResult | None:
    """The number to text when `raw` holds two or more valid numbers, else None.

    A number labelled mobile/cell/m/c comes first, then any phonenumbers does not type as FIXED_LINE
    (or any at all when not `mobile_only`); numbers labelled home or work come last.
    """
    matches = list(phonenumbers.PhoneNumberMatcher(raw, region, Leniency.VALID))
    if len(matches) < 2:
        return None
    ranked: list[tuple[int, int, PhoneNumber]] = []
    for index, match in enumerate(matches):
        before = matches[index - 1].end if index else 0
        after = matches[index + 1].start if index + 1 < len(matches) else len(raw)
        labels = _labels_near(raw, match.start, match.end, before, after)
        number = match.number
        if mobile_only and phonenumbers.number_type(number) not in _MAYBE_MOBILE:
            continue
        rank = 0 if labels & _MOBILE_WORDS else 2 if labels & _LANDLINE_WORDS else 1
        ranked.append((rank, index, number))
    if not ranked:
        return PhoneResult(None, f"'{_shown(raw)}' holds {len(matches)} numbers and none is a mobile number")
    chosen = min(ranked, key=lambda entry: entry[:2])[2]
    left_out = ", ".join(_e164(match.number) for match in matches if match.number is not chosen)
    note = f"{len(matches)} numbers given; texting {_e164(chosen)}, not {left_out}"
    if extension := _extension_note(chosen):
        note += f"; {extension}"
    return PhoneResult(_e164(chosen), None, note)


def normalize_phone(raw: str | None, region: str = "US", *, mobile_only: bool = True) -> PhoneResult:
    """Parse a phone cell (national numbers read in `region`) to E.164.

    Labels (mobile, cell, home, work, m, c) are ignored; an extension is kept out of the number and
    noted; of two or more numbers the first labelled mobile or cell is taken, else the first one
    phonenumbers does not type as FIXED_LINE, and the others are named in the note. Landlines are
    refused when `mobile_only`. Never raises.
    """
    # Only numbers phonenumbers is certain are FIXED_LINE count as landlines. FIXED_LINE_OR_MOBILE
    # (all of North America, including the fictional 555-01XX range) and PERSONAL_NUMBER (the US 500
    # area code: Twilio's magic test numbers) are valid, so they normalise and can be sent to.
    given = (raw or "").strip()
    if not given:
        return PhoneResult(None, "No phone number given")
    text = _LABEL.sub(" ", given).strip() if any(ch.isalpha() for ch in given) else given
    if not text:
        return _invalid(given, "it does not look like a phone number")
    if sum(ch.isdigit() for ch in text) > _ONE_NUMBER_DIGITS:
        several = _one_of_several(given, region.upper(), mobile_only)
        if several is not None:
            return several
    try:
        number = phonenumbers.parse(text, region.upper())
    except NumberParseException as error:
        return _invalid(given, _PARSE_REASONS.get(error.error_type, "it could not be read"))
    # number_type is UNKNOWN exactly when the number is invalid (its documented contract), so one call
    # answers both questions; why an invalid number fails is worked out only for those.
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        possible = phonenumbers.is_possible_number_with_reason(number)
        if possible != ValidationResult.IS_POSSIBLE:
            return _invalid(given, _POSSIBLE_REASONS.get(possible, "wrong number of digits"))
        return _invalid(given, "no such number exists (check the area code)")
    if mobile_only and kind == PhoneNumberType.FIXED_LINE:
        return PhoneResult(None, f"'{_shown(given)}' is a landline, not a mobile number")
    return PhoneResult(_e164(number), None, _extension_note(number))
