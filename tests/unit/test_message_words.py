"""What the compose modal says about a message's length: characters as a person counts them, and
what the SMS segments mean for the clinic (texts received and billed), naming the character that
forces the 70-character encoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.views import ComposeState, MessageStats, compose_view
from bot.views.wording import forcing_words, outcome_counts, texts_per_client
from services.alerts import check_message
from services.errors import InvalidInput
from services.segments import GSM7, UCS2, characters, count_message, forcing_character, measure
from tests.blockkit import all_text

FAMILY = "👨‍👩‍👧"  # man, ZWJ, woman, ZWJ, girl: five code points, eight UTF-16 units
FLAG = "🇺🇸"
THUMB = "👍🏽"
ACCENTED = "é"  # e + combining acute accent


@pytest.mark.parametrize("seen", [FAMILY, FLAG, THUMB, ACCENTED, "🐾", "a"])
def test_what_a_person_sees_as_one_character_counts_as_one(seen: str) -> None:
    assert characters(seen) == 1
    assert count_message(f"Hi {seen}", 320).remaining == 320 - 4


def test_segments_still_follow_the_sms_rules() -> None:
    # 40 families are 40 characters to the admin but 320 UTF-16 units: five UCS-2 parts of 67.
    count = count_message(FAMILY * 40, 320)
    assert (count.characters, count.remaining, count.encoding) == (40, 280, UCS2)
    assert count.segments == measure(FAMILY * 40).segments == 5
    # The GSM-7 extension table still costs two septets: 80 € signs are 160 septets, one text.
    assert count_message("€" * 80).segments == 1 and count_message("€" * 81).segments == 2


def test_the_refusal_at_review_counts_like_the_modal() -> None:
    assert check_message("🐾" * 320, 320).segments == 10  # allowed: 320 characters as seen
    with pytest.raises(InvalidInput) as refused:
        check_message("🐾" * 321, 320)
    assert str(refused.value) == "The message is 321 characters; the limit is 320. Shorten it by 1."


@pytest.mark.parametrize(
    ("text", "forcing"),
    [
        ("We’re closed today", None),  # smart encoding sends ’ as ' (issue 11): still GSM-7
        ("Zamknięte dziś", "ę"),
        ("Closed today 🌩️ call us", "🌩️"),
        (f"See you {FAMILY} soon 🐾", FAMILY),
        ("Ça va", None),  # Ç is in the GSM-7 alphabet
        ("Price: 10 € [cash] {card}", None),  # extension table characters stay GSM-7
        ("plain words", None),
    ],
)
def test_the_character_forcing_the_shorter_limit_is_the_first_one_outside_gsm7(
    text: str, forcing: str | None
) -> None:
    assert forcing_character(text) == forcing
    assert count_message(text).forcing == forcing
    assert (count_message(text).encoding == UCS2) == (forcing is not None)


def test_the_forcing_character_is_named_in_words() -> None:
    assert forcing_words("ę") == (
        "ę (latin small letter e with ogonek) needs the UCS-2 encoding: 70 characters per text instead of 160"
    )
    assert forcing_words("🌩️").startswith("🌩️ (cloud with lightning) needs")
    assert forcing_words(FAMILY).startswith(f"{FAMILY} (man + woman + girl) needs")
    assert forcing_words(THUMB).startswith(f"{THUMB} (thumbs up sign) needs")
    assert forcing_words("\u200b").startswith("\u200b (zero width space) needs")  # invisible: named


def test_texts_say_what_the_clinic_is_billed() -> None:
    assert texts_per_client(1) == "fits in one text"
    assert texts_per_client(2) == (
        "long message: each client receives it as 2 texts and the clinic is billed for 2"
    )


def test_the_outcome_counts_use_the_three_words() -> None:
    assert outcome_counts(1_039, 3, 2) == "1,039 texted · 3 failed · 2 not texted"


def _stats_line(text: str) -> str:
    stats = MessageStats.of(count_message(text, 320), 320)
    return all_text(compose_view(ComposeState(tz="America/Chicago", message=text, stats=stats)))


def test_the_encoding_is_named_only_when_a_character_forces_it() -> None:
    gsm = _stats_line("We're closed today, call 555-0100 to rebook. Ça va? 10 € [cash]")
    assert "GSM-7" not in gsm and "UCS-2" not in gsm and "fits in one text" in gsm
    curly = _stats_line("We’re closed today")  # smart encoding sends ’ as ' (issue 11): still GSM-7
    assert "UCS-2" not in curly and "fits in one text" in curly
    polish = _stats_line("Zamknięte dziś")
    assert "ę (latin small letter e with ogonek) needs the UCS-2 encoding" in polish
    assert "306 characters left" in polish


def test_a_long_emoji_message_says_texts_received_and_billed() -> None:
    line = _stats_line("Storm closure 🌩️ " * 6)  # 96 characters as seen, UCS-2: two parts
    assert "224 characters left · long message: each client receives it as 2 texts" in line
    assert "the clinic is billed for 2 · 🌩️ (cloud with lightning) needs the UCS-2 encoding" in line


@given(st.text(max_size=400))
def test_characters_never_exceed_code_points_and_remaining_is_the_rest(text: str) -> None:
    count = count_message(text, 10_000)
    assert count.characters <= len(text)
    assert count.remaining == 10_000 - count.characters
    assert count.segments == measure(text, 10_000).segments
    assert (count.forcing is None) == (count.encoding == GSM7)
    if count.forcing is not None:
        assert count.forcing in text and measure(count.forcing).encoding == UCS2
