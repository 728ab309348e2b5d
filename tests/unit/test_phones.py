"""Phone numbers become E.164, or carry a reason a clinic admin can act on."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from services.phones import PhoneResult, normalize_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(312) 555-0123", "US", "+13125550123"),
        ("312.555.0199", "US", "+13125550199"),
        ("+1 312 555 0100", "US", "+13125550100"),
        ("13125550100", "US", "+13125550100"),
        ("  312-555-0100  ", "us", "+13125550100"),
        ("+44 7911 123456", "US", "+447911123456"),
        ("07911 123456", "GB", "+447911123456"),
        ("(416) 555-0123", "CA", "+14165550123"),
    ],
)
def test_usable_numbers_become_e164(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == PhoneResult(expected, None)


def test_fictional_555_01xx_numbers_are_valid_and_may_be_mobile() -> None:
    """phonenumbers treats 555-0100..0199 as real numbers of type FIXED_LINE_OR_MOBILE: usable."""
    number = phonenumbers.parse("(312) 555-0123", "US")
    assert phonenumbers.is_valid_number(number)
    assert phonenumbers.number_type(number) == PhoneNumberType.FIXED_LINE_OR_MOBILE
    assert normalize_phone("(312) 555-0123").ok


@pytest.mark.parametrize("last", range(1, 10))
def test_twilio_magic_test_numbers_normalise_so_the_sandbox_can_fail_them(last: int) -> None:
    """+15005550001..9 sit in the US 500 area code, a valid PERSONAL_NUMBER range to phonenumbers."""
    raw = f"+1500555000{last}"
    assert phonenumbers.number_type(phonenumbers.parse(raw)) == PhoneNumberType.PERSONAL_NUMBER
    assert normalize_phone(raw) == PhoneResult(raw, None)
    assert normalize_phone(f"(500) 555-000{last}").e164 == raw


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (None, "No phone number given"),
        ("", "No phone number given"),
        ("   ", "No phone number given"),
        ("555-01", "'555-01' is not a valid phone number: too short"),
        ("555-0123", "'555-0123' is not a valid phone number: the area code is missing"),
        ("+44 20 7946 0000", "'+44 20 7946 0000' is a landline, not a mobile number"),
        (
            "call after 5pm",
            "'call after 5pm' is not a valid phone number: it does not look like a phone number",
        ),
        (
            "+1 555 123 4567",
            "'+1 555 123 4567' is not a valid phone number: no such number exists (check the area code)",
        ),
        ("1234567890123456789", "'1234567890123456789' is not a valid phone number: too long"),
        ("+999 1234567", "'+999 1234567' is not a valid phone number: unknown country code"),
    ],
)
def test_unusable_numbers_say_why(raw: str | None, error: str) -> None:
    assert normalize_phone(raw) == PhoneResult(None, error)


def test_landlines_are_accepted_when_a_mobile_is_not_required() -> None:
    assert normalize_phone("+44 20 7946 0000", mobile_only=False).e164 == "+442079460000"


def test_a_very_long_entry_is_shortened_in_the_message() -> None:
    result = normalize_phone("x" * 300)
    assert result.e164 is None
    assert result.error is not None and len(result.error) < 120 and "..." in result.error


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30) | st.from_regex(r"\+?[0-9 ()\-.]{0,20}", fullmatch=True))
def test_any_input_gives_either_e164_or_a_reason(raw: str) -> None:
    result = normalize_phone(raw)
    assert (result.e164 is None) != (result.error is None)
    assert result.note is None or result.e164 is not None
    if result.e164 is not None:
        assert re.fullmatch(r"\+[1-9]\d{6,14}", result.e164)
        assert normalize_phone(result.e164) == PhoneResult(result.e164, None)


@pytest.mark.parametrize(
    "raw",
    [
        "312-555-0128 mobile",
        "(312) 555-0128 (cell)",
        "312 555 0128 Cell",
        "Mobile: 312-555-0128",
        "m: (312) 555-0128",
        "c 312.555.0128",
        "312-555-0128 [M]",
        "home 312-555-0128",
        "312-555-0128 (work)",
        "CELL:312-555-0128",
    ],
)
def test_line_labels_are_not_read_as_keypad_letters(raw: str) -> None:
    """phonenumbers turns letters into keypad digits (1-800-FLOWERS); a label must not become digits."""
    assert normalize_phone(raw) == PhoneResult("+13125550128", None)


def test_vanity_numbers_still_use_the_keypad() -> None:
    assert normalize_phone("1-800-FLOWERS").e164 == "+18003569377"


@pytest.mark.parametrize(
    ("raw", "extension"),
    [
        ("312-555-0128 ext. 2", "2"),
        ("312-555-0128 ext 22", "22"),
        ("312-555-0128 x4", "4"),
        ("(312) 555-0128 X 123 mobile", "123"),
        ("312-555-0128 extension 7", "7"),
    ],
)
def test_extensions_are_recognised_and_noted(raw: str, extension: str) -> None:
    note = f"extension {extension} noted; texts go to +13125550128 itself"
    assert normalize_phone(raw) == PhoneResult("+13125550128", None, note)


@pytest.mark.parametrize(
    ("raw", "chosen", "left_out"),
    [
        ("312-555-0128 / 773-555-0199", "+13125550128", "+17735550199"),
        ("312-555-0128; 773-555-0199", "+13125550128", "+17735550199"),
        ("312-555-0128 or 773-555-0199", "+13125550128", "+17735550199"),
        ("home 312-555-0128, cell 773-555-0199", "+17735550199", "+13125550128"),
        ("312-555-0128 (work) / 773-555-0199", "+17735550199", "+13125550128"),
        ("773-555-0199 m, 312-555-0128 h", "+17735550199", "+13125550128"),
        # Number types, not labels: the UK landline is FIXED_LINE, the 07 number MOBILE.
        ("+44 20 7946 0958 / +44 7911 123456", "+447911123456", "+442079460958"),
    ],
)
def test_of_two_numbers_the_first_mobile_looking_one_is_texted(raw: str, chosen: str, left_out: str) -> None:
    note = f"2 numbers given; texting {chosen}, not {left_out}"
    assert normalize_phone(raw) == PhoneResult(chosen, None, note)


def test_three_numbers_name_both_left_out() -> None:
    result = normalize_phone("+44 20 7946 0958, +44 7911 123456, +44 7911 123457")
    assert result == PhoneResult(
        "+447911123456", None, "3 numbers given; texting +447911123456, not +442079460958, +447911123457"
    )


def test_two_landlines_in_one_cell_are_refused_with_a_reason() -> None:
    raw = "+44 20 7946 0958 / +44 20 7946 0959"
    assert normalize_phone(raw) == PhoneResult(None, f"'{raw}' holds 2 numbers and none is a mobile number")
    assert normalize_phone(raw, mobile_only=False).e164 == "+442079460958"


@pytest.mark.parametrize("raw", ["mobile", "(cell)", "home / work", "m"])
def test_a_label_alone_is_not_a_number(raw: str) -> None:
    assert normalize_phone(raw) == PhoneResult(
        None, f"'{raw}' is not a valid phone number: it does not look like a phone number"
    )
