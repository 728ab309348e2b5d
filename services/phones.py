"""Phone numbers to E.164 with `phonenumbers`, and a plain-language reason when one is unusable."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

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


@dataclass(frozen=True)
class PhoneResult:
    """A usable number in E.164 (`e164`), or why the number cannot be texted (`error`)."""

    e164: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        """True when the number can be texted."""
        return self.e164 is not None


def _shown(raw: str) -> str:
    return raw if len(raw) <= 40 else raw[:37] + "..."


def _invalid(raw: str, reason: str) -> PhoneResult:
    return PhoneResult(None, f"'{_shown(raw)}' is not a valid phone number: {reason}")


def normalize_phone(raw: str | None, region: str = "US", *, mobile_only: bool = True) -> PhoneResult:
    """Parse `raw` (national numbers read in `region`) to E.164; landlines are refused when `mobile_only`."""
    # Only numbers phonenumbers is certain are FIXED_LINE count as landlines. FIXED_LINE_OR_MOBILE
    # (all of North America, including the fictional 555-01XX range) and PERSONAL_NUMBER (the US 500
    # area code: Twilio's magic test numbers) are valid, so they normalise and can be sent to.
    text = (raw or "").strip()
    if not text:
        return PhoneResult(None, "No phone number given")
    try:
        number = phonenumbers.parse(text, region.upper())
    except NumberParseException as error:
        return _invalid(text, _PARSE_REASONS.get(error.error_type, "it could not be read"))
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != ValidationResult.IS_POSSIBLE:
        return _invalid(text, _POSSIBLE_REASONS.get(possible, "wrong number of digits"))
    if not phonenumbers.is_valid_number(number):
        return _invalid(text, "no such number exists (check the area code)")
    if mobile_only and phonenumbers.number_type(number) == PhoneNumberType.FIXED_LINE:
        return PhoneResult(None, f"'{_shown(text)}' is a landline, not a mobile number")
    return PhoneResult(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None)
