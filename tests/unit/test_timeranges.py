"""Presets, custom ranges and their refusals in clinic time, across zones and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.errors import InvalidInput
from services.timeranges import (
    MAX_RANGE,
    PRESETS,
    TimeRange,
    custom_range,
    format_duration,
    format_span,
    localize,
    parse_local,
    preset_range,
    wall_clock_span,
)

CHICAGO = "America/Chicago"
ZONES = [
    "America/Chicago",
    "Europe/London",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Asia/Kolkata",
    "UTC",
    "America/Santiago",
    "America/St_Johns",
]
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tue 1 Dec 2026, 9:00 AM in Chicago

instants = st.datetimes(
    min_value=datetime(2005, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from(ZONES)


def local(tz: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware instant from a wall-clock reading in `tz`."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz))


def test_presets_are_rest_of_today_then_whole_days_up_to_six_more() -> None:
    assert PRESETS[0] == ("rest-of-today", "Rest of today")
    assert PRESETS[1] == ("today+1", "Rest of today and tomorrow")
    assert PRESETS[-1] == ("today+6", "Rest of today and the next 6 days")
    assert [name for name, _ in PRESETS] == ["rest-of-today"] + [f"today+{n}" for n in range(1, 7)]


def test_rest_of_today_runs_from_now_to_the_clinics_midnight() -> None:
    rng = preset_range("rest-of-today", CHICAGO, NOW)
    assert rng == TimeRange(NOW, local(CHICAGO, 2026, 12, 2).astimezone(UTC))


def test_today_plus_six_ends_at_midnight_after_the_seventh_calendar_day() -> None:
    rng = preset_range("today+6", CHICAGO, NOW)
    assert rng.end == local(CHICAGO, 2026, 12, 8).astimezone(UTC)


def test_presets_use_the_clinics_date_not_utcs() -> None:
    # 03:00 UTC on 2 Dec is still 1 Dec, 9 PM in Chicago: "rest of today" is three hours.
    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert preset_range("rest-of-today", CHICAGO, now).duration == timedelta(hours=3)


def test_rest_of_today_on_the_fall_back_day_lasts_25_hours() -> None:
    now = local(CHICAGO, 2026, 11, 1, 0, 0)
    assert preset_range("rest-of-today", CHICAGO, now).duration == timedelta(hours=25)
    assert preset_range("rest-of-today", "Europe/London", local("Europe/London", 2026, 10, 25)).duration == (
        timedelta(hours=25)
    )


def test_a_full_week_preset_across_fall_back_is_allowed_though_it_lasts_169_hours() -> None:
    now = local(CHICAGO, 2026, 11, 1, 0, 0)
    rng = preset_range("today+6", CHICAGO, now)
    assert rng.duration == timedelta(days=7, hours=1)
    assert wall_clock_span(rng.start, rng.end, CHICAGO) == MAX_RANGE


def test_lord_howe_half_hour_shift_makes_a_23_and_a_half_hour_day() -> None:
    tz = "Australia/Lord_Howe"
    rng = preset_range("rest-of-today", tz, local(tz, 2026, 10, 4, 0, 0))
    assert rng.duration == timedelta(hours=23, minutes=30)


def test_apia_skipped_30_december_2011_so_tomorrow_ends_at_the_start_of_the_31st() -> None:
    tz = "Pacific/Apia"
    rng = preset_range("today+1", tz, local(tz, 2011, 12, 29, 12, 0))
    assert rng.end.astimezone(ZoneInfo(tz)).replace(tzinfo=None) == datetime(2011, 12, 31, 0, 0)
    assert rng.duration == timedelta(hours=12)


def test_a_skipped_midnight_ends_the_day_at_its_first_real_instant() -> None:
    # Santiago springs forward at midnight: 2026-09-06 starts at 01:00.
    tz = "America/Santiago"
    rng = preset_range("rest-of-today", tz, local(tz, 2026, 9, 5, 22, 0))
    assert rng.end.astimezone(ZoneInfo(tz)).replace(tzinfo=None) == datetime(2026, 9, 6, 1, 0)
    assert rng.duration == timedelta(hours=2)


@given(tz=zones, now=instants, days=st.integers(0, 6))
@example(tz="Pacific/Apia", now=datetime(2011, 12, 29, 22, 0, tzinfo=UTC), days=1)
@example(tz="Australia/Lord_Howe", now=datetime(2026, 10, 3, 13, 0, tzinfo=UTC), days=6)
@example(tz="America/Chicago", now=datetime(2026, 11, 1, 5, 0, tzinfo=UTC), days=6)
@settings(max_examples=300, deadline=None)
def test_every_preset_runs_from_now_to_the_start_of_a_later_clinic_day(
    tz: str, now: datetime, days: int
) -> None:
    name = PRESETS[days][0]
    rng = preset_range(name, tz, now)
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    assert rng.start == now
    assert rng.end > now
    # The last instant inside the range is still on the last chosen day (or earlier if days were skipped) ...
    assert (rng.end - timedelta(microseconds=1)).astimezone(zone).date() <= today + timedelta(days=days)
    # ... and the end is the first instant of a later day.
    assert rng.end.astimezone(zone).date() >= today + timedelta(days=days + 1)
    assert wall_clock_span(rng.start, rng.end, tz) <= MAX_RANGE


def test_unknown_preset_is_refused_with_the_names_to_use() -> None:
    with pytest.raises(InvalidInput) as caught:
        preset_range("today+7", CHICAGO, NOW)
    assert str(caught.value) == (
        "There is no range called 'today+7'; choose one of: rest-of-today, today+1, today+2, today+3, "
        "today+4, today+5, today+6."
    )
    assert caught.value.field == "range"


def test_unknown_time_zone_is_refused_in_plain_words() -> None:
    with pytest.raises(InvalidInput) as caught:
        preset_range("rest-of-today", "Mars/Olympus", NOW)
    assert str(caught.value) == (
        "The clinic's time zone 'Mars/Olympus' is not a known IANA time zone; "
        "set one such as America/Chicago."
    )


def test_custom_range_takes_naive_times_as_clinic_time() -> None:
    rng = custom_range(datetime(2026, 12, 2, 9, 0), datetime(2026, 12, 5, 17, 0), CHICAGO, NOW)
    assert rng == TimeRange(
        datetime(2026, 12, 2, 15, 0, tzinfo=UTC), datetime(2026, 12, 5, 23, 0, tzinfo=UTC)
    )


def test_custom_range_converts_aware_times() -> None:
    start = datetime(2026, 12, 2, 9, 0, tzinfo=ZoneInfo("Europe/London"))
    rng = custom_range(start, start + timedelta(hours=2), CHICAGO, NOW)
    assert rng.start == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert rng.end == datetime(2026, 12, 2, 11, 0, tzinfo=UTC)


def test_exactly_seven_days_is_allowed() -> None:
    rng = custom_range(datetime(2026, 12, 2, 9, 0), datetime(2026, 12, 9, 9, 0), CHICAGO, NOW)
    assert rng.duration == MAX_RANGE


def test_one_minute_over_seven_days_is_refused_naming_the_limit() -> None:
    with pytest.raises(InvalidInput) as caught:
        custom_range(datetime(2026, 12, 2, 9, 0), datetime(2026, 12, 9, 9, 1), CHICAGO, NOW)
    assert str(caught.value) == "A range can be at most 7 days (this one is 7 days 1 minute)."
    assert caught.value.field == "range"


def test_eight_days_two_hours_is_refused_with_its_length() -> None:
    with pytest.raises(InvalidInput) as caught:
        custom_range(datetime(2026, 12, 2, 9, 0), datetime(2026, 12, 10, 11, 0), CHICAGO, NOW)
    assert str(caught.value) == "A range can be at most 7 days (this one is 8 days 2 hours)."


def test_seven_days_and_a_few_seconds_is_refused_as_just_over() -> None:
    with pytest.raises(InvalidInput) as caught:
        custom_range(datetime(2026, 12, 2, 9, 0), datetime(2026, 12, 9, 9, 0, 30), CHICAGO, NOW)
    assert str(caught.value) == "A range can be at most 7 days (this one is just over 7 days)."


def test_end_before_start_is_refused_on_the_end_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        custom_range(datetime(2026, 12, 2, 10, 0), datetime(2026, 12, 2, 9, 0), CHICAGO, NOW)
    assert str(caught.value) == (
        "The end (Wed 2 Dec 2026 9:00 AM CST) must be after the start (Wed 2 Dec 2026 10:00 AM CST)."
    )
    assert caught.value.field == "end"


def test_end_equal_to_start_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        custom_range(datetime(2026, 12, 2, 10, 0), datetime(2026, 12, 2, 10, 0), CHICAGO, NOW)
    assert caught.value.field == "end"


def test_a_range_wholly_in_the_past_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        custom_range(datetime(2026, 11, 30, 8, 0), datetime(2026, 11, 30, 9, 0), CHICAGO, NOW)
    assert str(caught.value) == (
        "This range is over: it ended Mon 30 Nov 2026 9:00 AM CST. Choose a range that ends in the future."
    )
    assert caught.value.field == "range"


def test_a_range_ending_exactly_now_is_over() -> None:
    with pytest.raises(InvalidInput, match="This range is over"):
        custom_range(datetime(2026, 12, 1, 8, 0), datetime(2026, 12, 1, 9, 0), CHICAGO, NOW)


def test_a_start_in_the_past_is_moved_to_now() -> None:
    rng = custom_range(datetime(2026, 11, 30, 8, 0), datetime(2026, 12, 3, 9, 0), CHICAGO, NOW)
    assert rng.start == NOW
    assert rng.end == datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


def test_the_seven_day_rule_applies_to_what_is_left_after_moving_the_start() -> None:
    # Chosen from yesterday to 6.5 days ahead (7.5 days), but only 6.5 days of it are still to come.
    rng = custom_range(datetime(2026, 11, 30, 9, 0), datetime(2026, 12, 7, 21, 0), CHICAGO, NOW)
    assert rng.duration == timedelta(days=6, hours=12)


def test_there_is_no_limit_on_how_far_ahead() -> None:
    rng = custom_range(datetime(2031, 6, 1, 9, 0), datetime(2031, 6, 8, 9, 0), CHICAGO, NOW)
    assert rng.start == local(CHICAGO, 2031, 6, 1, 9, 0)


def test_a_week_across_fall_back_counts_as_seven_calendar_days() -> None:
    rng = custom_range(
        datetime(2026, 10, 29, 0, 0), datetime(2026, 11, 5, 0, 0), CHICAGO, datetime(2026, 10, 1, tzinfo=UTC)
    )
    assert rng.duration == timedelta(days=7, hours=1)


def test_a_week_and_an_hour_across_spring_forward_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        custom_range(datetime(2027, 3, 10, 0, 0), datetime(2027, 3, 17, 1, 0), CHICAGO, NOW)
    assert str(caught.value) == "A range can be at most 7 days (this one is 7 days 1 hour)."


@given(
    tz=zones,
    now=instants,
    lead=st.integers(-10 * 24 * 60, 3 * 365 * 24 * 60),
    length=st.integers(-2 * 24 * 60, 9 * 24 * 60),
)
@example(tz="Australia/Lord_Howe", now=datetime(2026, 10, 1, tzinfo=UTC), lead=0, length=7 * 24 * 60)
@example(tz="Pacific/Apia", now=datetime(2011, 12, 25, tzinfo=UTC), lead=3 * 24 * 60, length=7 * 24 * 60)
@settings(max_examples=400, deadline=None)
def test_custom_ranges_obey_every_rule_in_every_zone(tz: str, now: datetime, lead: int, length: int) -> None:
    wall_now = now.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    start = wall_now + timedelta(minutes=lead)
    end = start + timedelta(minutes=length)
    start_utc, end_utc = localize(start, tz), localize(end, tz)
    try:
        rng = custom_range(start, end, tz, now)
    except InvalidInput as refusal:
        message = str(refusal)
        if refusal.field == "end":
            assert end_utc <= start_utc and message.startswith("The end (")
        elif message.startswith("This range is over"):
            assert start_utc < end_utc <= now
        else:
            assert message.startswith("A range can be at most 7 days (this one is ")
            assert wall_clock_span(max(start_utc, now), end_utc, tz) > MAX_RANGE
        return
    assert rng.start == max(start_utc, now)
    assert rng.end == end_utc
    assert rng.start < rng.end
    assert wall_clock_span(rng.start, rng.end, tz) <= MAX_RANGE


def test_parse_local_reads_clinic_time_offsets_and_z() -> None:
    assert parse_local("2026-12-02T09:00", CHICAGO) == datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    assert parse_local("2026-12-02T09:00-05:00", CHICAGO) == datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
    assert parse_local("2026-12-02T09:00Z", CHICAGO) == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert parse_local(" 2026-12-02 ", CHICAGO) == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


def test_parse_local_moves_a_time_in_the_spring_gap_forward() -> None:
    # 2:30 AM does not exist on 14 March 2027 in Chicago; it is read as 3:30 AM CDT.
    assert parse_local("2027-03-14T02:30", CHICAGO) == local(CHICAGO, 2027, 3, 14, 3, 30)


def test_parse_local_takes_the_first_of_a_repeated_hour() -> None:
    assert parse_local("2026-11-01T01:30", CHICAGO) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # CDT


def test_parse_local_refuses_other_text_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_local("tomorrow", CHICAGO, field="start")
    assert str(caught.value) == (
        "'tomorrow' is not a date and time; "
        "write it like 2026-12-02T09:00 (clinic time) or 2026-12-02T09:00-06:00."
    )
    assert caught.value.field == "start"


@pytest.mark.parametrize(
    ("span", "words"),
    [
        (timedelta(days=8, hours=2), "8 days 2 hours"),
        (timedelta(days=1, minutes=1), "1 day 1 minute"),
        (timedelta(days=7, seconds=5), "just over 7 days"),
        (timedelta(seconds=5), "less than a minute"),
    ],
)
def test_durations_in_words(span: timedelta, words: str) -> None:
    assert format_duration(span) == words


@pytest.mark.parametrize(
    ("first", "last", "text"),
    [
        ((2026, 12, 1, 9, 0), (2026, 12, 2, 16, 30), "Tue 1 Dec 9:00 AM – Wed 2 Dec 4:30 PM CST"),
        ((2026, 12, 1, 9, 0), (2026, 12, 1, 12, 5), "Tue 1 Dec 9:00 AM – 12:05 PM CST"),
        ((2026, 12, 1, 0, 0), (2026, 12, 1, 0, 0), "Tue 1 Dec 12:00 AM CST"),
        ((2026, 10, 31, 9, 0), (2026, 11, 2, 16, 30), "Sat 31 Oct 9:00 AM CDT – Mon 2 Nov 4:30 PM CST"),
        ((2026, 12, 31, 23, 0), (2027, 1, 1, 8, 0), "Thu 31 Dec 2026 11:00 PM – Fri 1 Jan 2027 8:00 AM CST"),
    ],
)
def test_spans_are_shown_in_clinic_time_with_the_zone_abbreviation(
    first: tuple[int, int, int, int, int], last: tuple[int, int, int, int, int], text: str
) -> None:
    assert format_span(local(CHICAGO, *first), local(CHICAGO, *last), CHICAGO) == text
