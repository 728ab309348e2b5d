"""Characters remaining and SMS segments for GSM-7 and UCS-2 messages."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.views import ComposeState, MessageStats, compose_view
from services.segments import GSM7, UCS2, SegmentInfo, count_message, is_gsm7, measure
from services.settings import load_settings
from tests.blockkit import all_text

GSM_BASIC_SAMPLE = "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡AZÄÖÑÜ§¿azäöñüà\n\r"
EXTENDED = "\f^{}\\[~]|€"


def test_empty_message_is_zero_texts_with_everything_left() -> None:
    assert measure("") == SegmentInfo(length=0, remaining=320, segments=0, encoding=GSM7, too_long=False)


@pytest.mark.parametrize(("length", "segments"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3)])
def test_gsm7_fits_160_in_one_text_then_153_per_part(length: int, segments: int) -> None:
    info = measure("a" * length, max_chars=1000)
    assert (info.encoding, info.length, info.segments) == (GSM7, length, segments)


@pytest.mark.parametrize("char", list(EXTENDED))
def test_each_extended_character_counts_two(char: str) -> None:
    info = measure(f"Call {char}")
    assert info.encoding == GSM7
    assert info.length == 7
    assert info.remaining == 313


def test_the_whole_basic_alphabet_stays_gsm7_and_counts_one_each() -> None:
    assert is_gsm7(GSM_BASIC_SAMPLE)
    assert measure(GSM_BASIC_SAMPLE).length == len(GSM_BASIC_SAMPLE)


def test_eighty_euro_signs_fill_one_text_and_eighty_one_need_two() -> None:
    assert measure("€" * 80).segments == 1
    assert measure("€" * 81).segments == 2


def test_an_escape_pair_is_never_split_across_parts() -> None:
    # 152 + 2 + 152 = 306 septets: two parts by arithmetic, but the euro sign cannot straddle them.
    assert measure("a" * 152 + "€" + "a" * 152, max_chars=1000).segments == 3


@pytest.mark.parametrize(("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_one_non_gsm_character_switches_to_ucs2_70_then_67(length: int, segments: int) -> None:
    info = measure("ł" + "a" * (length - 1), max_chars=1000)
    assert (info.encoding, info.length, info.segments) == (UCS2, length, segments)


def test_curly_apostrophe_is_smart_encoded_so_it_stays_one_gsm7_text() -> None:
    # Sent with SmartEncoded=true, Twilio bills the apostrophe as ' (issue 11): 1 text, not 2.
    info = measure("We’re closed" + "a" * 140)
    assert (info.encoding, info.segments) == (GSM7, 1)


def test_emoji_count_two_utf16_units() -> None:
    info = measure("Closed today 🐾")
    assert info.encoding == UCS2
    assert info.length == 15
    assert measure("🐾" * 35).segments == 1
    assert measure("🐾" * 36).segments == 2


def test_in_ucs2_the_extended_characters_count_one() -> None:
    assert measure("€ł").length == 2


def test_a_surrogate_pair_is_never_split_across_parts() -> None:
    assert measure("ł" * 66 + "🐾" + "ł" * 66, max_chars=1000).segments == 3


def test_over_the_maximum_goes_negative_and_is_too_long() -> None:
    info = measure("a" * 325)
    assert info.remaining == -5
    assert info.too_long


def test_exactly_the_maximum_is_allowed() -> None:
    info = measure("a" * 320)
    assert info.remaining == 0
    assert not info.too_long


def test_the_maximum_comes_from_alert_max_chars() -> None:
    settings = load_settings({"ALERT_MAX_CHARS": "200"})
    assert measure("a" * 201, settings.alert_max_chars).too_long
    assert measure("a" * 201).remaining == 119


def test_a_maximum_below_one_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        measure("hi", max_chars=0)


def _modal_words(text: str) -> str:
    """The compose modal's text when `text` is typed (320 characters allowed)."""
    state = ComposeState(
        tz="America/Chicago", message=text, stats=MessageStats.of(count_message(text, 320), 320)
    )
    return all_text(compose_view(state))


def test_the_modal_says_what_the_length_means_for_the_clinic() -> None:
    assert "233 characters left · fits in one text" in _modal_words("a" * 87)
    assert (
        "1 character left · long message: each client receives it as 3 texts and the clinic is billed for 3"
    ) in _modal_words("a" * 319)
    assert "2 characters too many*: the limit is 320 · long message: each client receives it as 3 texts" in (
        _modal_words("a" * 322)
    )
    assert "GSM-7" not in _modal_words("a" * 200) and "UCS-2" not in _modal_words("a" * 200)
    assert (
        "319 characters left · fits in one text · 🐾 (paw prints) needs the UCS-2 encoding: "
        "70 characters per text instead of 160"
    ) in _modal_words("🐾")


@given(st.text(max_size=500))
def test_segments_always_hold_the_message(text: str) -> None:
    info = measure(text, max_chars=10_000)
    single, part = (160, 153) if info.encoding == GSM7 else (70, 67)
    assert info.length >= len(text) or info.encoding == UCS2
    assert info.remaining == 10_000 - info.length
    if info.length == 0:
        assert info.segments == 0
    elif info.length <= single:
        assert info.segments == 1
    else:
        # Never fewer than the arithmetic minimum, at most one extra for each unsplittable pair.
        assert math.ceil(info.length / part) <= info.segments <= math.ceil(info.length / (part - 1))


@given(st.text(alphabet=st.sampled_from(list("abc €[]")), max_size=400))
def test_gsm7_length_is_one_per_basic_and_two_per_extended(text: str) -> None:
    info = measure(text)
    assert info.encoding == GSM7
    assert info.length == len(text) + sum(text.count(ch) for ch in "€[]")
