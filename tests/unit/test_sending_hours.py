"""The sending window (issue 14, quiet hours): parsing, opening and closing across midnight and DST, each
client's time zone from the number's area, and the finish estimate the confirmation shows."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from services.errors import InvalidInput
from services.sending_hours import (
    ALL_DAY,
    DEFAULT_HOURS,
    Finish,
    SendingHours,
    _exact_zone,
    _nanp_free_digits,
    _number_zone,
    estimate_finish,
    parse_hours,
    recipient_zone,
)

CHI, LA = "America/Chicago", "America/Los_Angeles"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("08:00-21:00", SendingHours(480, 1260)),
        (" 7:30 - 19:45 ", SendingHours(450, 1185)),
        ("21:00-08:00", SendingHours(1260, 480)),
        ("00:00-24:00", ALL_DAY),
        ("09:00–17:00", SendingHours(540, 1020)),
    ],
)
def test_windows_are_read_as_hh_mm_ranges(text: str, window: SendingHours) -> None:
    assert parse_hours(text) == window
    assert parse_hours(window.label()) == window


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("08:00-08:00", "starts and ends at the same time; for any hour use 00:00-24:00"),
        ("00:00-00:00", "starts and ends at the same time"),
        ("8-21", "is not a sending window; use HH:MM-HH:MM"),
        ("", "is not a sending window"),
        ("25:00-08:00", "names no such time of day"),
        ("08:60-21:00", "names no such time of day"),
        ("24:00-08:00", "names no such time of day"),
        ("08:00-24:30", "names no such time of day"),
    ],
)
def test_bad_windows_are_refused_in_one_line(text: str, words: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_hours(text)
    assert words in str(refused.value) and "\n" not in str(refused.value)
    assert refused.value.field == "sending_hours"


def test_the_default_is_eight_to_nine_and_the_end_is_excluded() -> None:
    assert DEFAULT_HOURS.label() == "08:00-21:00"
    assert DEFAULT_HOURS.is_open(at("2026-12-01T08:00:00-06:00"), CHI)
    assert DEFAULT_HOURS.is_open(at("2026-12-01T20:59:59-06:00"), CHI)
    assert not DEFAULT_HOURS.is_open(at("2026-12-01T21:00:00-06:00"), CHI)
    assert not DEFAULT_HOURS.is_open(at("2026-12-01T07:59:59-06:00"), CHI)
    # The same instant is 7:00 PM in Los Angeles: open there.
    assert DEFAULT_HOURS.is_open(at("2026-12-01T21:00:00-06:00"), LA)


def test_next_opening_is_tomorrow_morning_after_the_window_closes() -> None:
    evening = at("2026-12-01T22:15:00-06:00")
    assert DEFAULT_HOURS.next_opening(evening, CHI) == at("2026-12-02T08:00:00-06:00")
    early = at("2026-12-02T03:00:00-06:00")
    assert DEFAULT_HOURS.next_opening(early, CHI) == at("2026-12-02T08:00:00-06:00")
    inside = at("2026-12-02T12:00:00-06:00")
    assert DEFAULT_HOURS.next_opening(inside, CHI) == inside
    assert DEFAULT_HOURS.next_change(inside, CHI) == at("2026-12-02T21:00:00-06:00")


def test_a_window_spanning_midnight() -> None:
    night = parse_hours("21:00-08:00")
    assert night.is_open(at("2026-12-01T23:30:00-06:00"), CHI)
    assert night.is_open(at("2026-12-02T07:59:00-06:00"), CHI)
    assert not night.is_open(at("2026-12-02T12:00:00-06:00"), CHI)
    assert night.next_opening(at("2026-12-02T12:00:00-06:00"), CHI) == at("2026-12-02T21:00:00-06:00")
    assert night.next_change(at("2026-12-01T23:30:00-06:00"), CHI) == at("2026-12-02T08:00:00-06:00")


def test_all_day_never_closes() -> None:
    assert ALL_DAY.all_day and ALL_DAY.is_open(at("2026-12-01T03:00:00-06:00"), CHI)
    with pytest.raises(ValueError):
        ALL_DAY.next_change(at("2026-12-01T03:00:00-06:00"), CHI)


def test_openings_keep_their_clock_time_across_dst() -> None:
    # US clocks go forward on 8 March 2026 and back on 1 November 2026.
    before_spring = at("2026-03-07T22:00:00-06:00")  # CST
    assert DEFAULT_HOURS.next_opening(before_spring, CHI) == at("2026-03-08T08:00:00-05:00")  # CDT
    before_fall = at("2026-10-31T22:00:00-05:00")  # CDT
    assert DEFAULT_HOURS.next_opening(before_fall, CHI) == at("2026-11-01T08:00:00-06:00")  # CST
    # A window opening at 2:30 AM, a time skipped on the spring-forward day, opens at 3:30 AM CDT.
    small_hours = parse_hours("02:30-05:00")
    assert small_hours.next_opening(at("2026-03-08T01:00:00-06:00"), CHI) == at("2026-03-08T03:30:00-05:00")


def test_a_client_is_timed_in_the_zone_of_the_number_area_else_the_clinic() -> None:
    assert recipient_zone("+13125550101", LA) == CHI  # 312: Chicago
    assert recipient_zone("+14155550101", CHI) == LA  # 415: San Francisco
    assert recipient_zone("+33612345678", CHI) == "Europe/Paris"  # a French mobile: its country
    assert recipient_zone("+447911123456", CHI) == CHI  # four zones share UK mobiles: the clinic's
    assert recipient_zone("+15005550006", CHI) == CHI  # no single zone for the number
    assert recipient_zone("+15555550100", LA) == LA  # Etc/Unknown
    assert recipient_zone(None, CHI) == CHI
    assert recipient_zone("not a number", CHI) == CHI


def test_an_estimate_inside_the_window_is_the_plain_pace() -> None:
    start = at("2026-12-01T10:00:00-06:00")
    done = estimate_finish(start, [CHI] * 11, 12.0, DEFAULT_HOURS)
    assert done.finish == start + timedelta(seconds=120) and done.held == 0 and done.resumes_at is None
    assert estimate_finish(start, [], 12.0, DEFAULT_HOURS).finish == start
    assert estimate_finish(start, [CHI] * 3, 12.0, None).finish == start + timedelta(seconds=24)


def test_an_estimate_pauses_overnight_and_counts_who_waits() -> None:
    start = at("2026-12-01T20:50:00-06:00")
    zones = [CHI] * 50  # one text a minute: 10 go before 9:00 PM, 40 wait for 8:00 AM
    done = estimate_finish(start, zones, 60.0, DEFAULT_HOURS)
    opens = at("2026-12-02T08:00:00-06:00")
    assert done.held == 40 and done.resumes_at == opens and done.resumes_zone == CHI
    assert done.finish == opens + timedelta(minutes=39)


def test_an_estimate_sends_other_zones_while_one_is_shut() -> None:
    start = at("2026-12-01T20:58:00-06:00")  # 6:58 PM in Los Angeles
    zones = [CHI, CHI, CHI, CHI, LA, LA]
    done = estimate_finish(start, zones, 60.0, DEFAULT_HOURS)
    # 8:58 and 8:59 PM Chicago; then LA at 9:00 and 9:01 PM (Chicago time); Chicago's two wait for morning.
    assert done.held == 2 and done.resumes_at == at("2026-12-02T08:00:00-06:00")
    assert done.finish == at("2026-12-02T08:01:00-06:00")


def test_an_estimate_starting_at_night_waits_for_the_first_opening() -> None:
    start = at("2026-12-02T02:00:00-06:00")  # midnight in Los Angeles
    done = estimate_finish(start, [LA, CHI], 12.0, DEFAULT_HOURS)
    assert done.held == 2 and done.resumes_at == at("2026-12-02T08:00:00-06:00") and done.resumes_zone == CHI
    assert done.finish == at("2026-12-02T08:00:00-08:00")  # LA opens two hours after Chicago


def text_by_text(start: datetime, zones: Sequence[str], pace_seconds: float, hours: SendingHours) -> Finish:
    """The estimate as first written (issue 14): one step per text, each choosing the earliest client
    whose zone is open. The oracle the change-to-change simulation must agree with."""
    pace = timedelta(seconds=pace_seconds)
    queues: dict[str, list[int]] = {}
    for position, tz in enumerate(zones):
        queues.setdefault(tz, []).append(position)
    heads = dict.fromkeys(queues, 0)
    states = {tz: (hours.is_open(start, tz), hours.next_change(start, tz)) for tz in queues}
    held, resumes_at, resumes_zone = 0, None, None
    paused: set[str] = set()
    now, last, remaining = start, start, len(zones)
    while remaining:
        best: str | None = None
        for tz, (is_open, change) in states.items():
            if heads[tz] >= len(queues[tz]):
                continue
            if now >= change:
                is_open, change = hours.is_open(now, tz), hours.next_change(now, tz)
                states[tz] = (is_open, change)
            if not is_open:
                if tz not in paused:
                    paused.add(tz)
                    held += len(queues[tz]) - heads[tz]
                    if resumes_at is None or change < resumes_at:
                        resumes_at, resumes_zone = change, tz
                continue
            if best is None or queues[tz][heads[tz]] < queues[best][heads[best]]:
                best = tz
        if best is None:
            now = min(change for tz, (_, change) in states.items() if heads[tz] < len(queues[tz]))
            continue
        heads[best] += 1
        remaining -= 1
        last = now
        now += pace
    return Finish(last, held, resumes_at, resumes_zone)


ZONES = [CHI, LA, "America/New_York", "America/Phoenix", "Pacific/Honolulu", "Australia/Sydney"]
WINDOWS = [DEFAULT_HOURS, SendingHours(21 * 60, 8 * 60), SendingHours(540, 1020), SendingHours(23 * 60, 60)]
STARTS = ["2026-03-07T19:00:00-06:00", "2026-10-31T20:30:00-05:00", "2026-12-01T20:58:30-06:00"]


@pytest.mark.parametrize("seed", range(12))
def test_the_estimate_steps_change_to_change_and_agrees_with_text_by_text(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(8):
        # Runs of one zone and single clients mixed; 1 to 600 clients; paces from 7.5 s to 20 minutes.
        zones: list[str] = []
        while len(zones) < rnd.randint(1, 600):
            zones += [rnd.choice(ZONES[: rnd.randint(1, len(ZONES))])] * rnd.choice([1, 1, 3, 40])
        start = at(rnd.choice(STARTS)) + timedelta(seconds=rnd.randrange(0, 86_400 * 2, 17))
        pace, hours = rnd.choice([7.5, 12.0, 60.0, 1200.0]), rnd.choice(WINDOWS)
        assert estimate_finish(start, zones, pace, hours) == text_by_text(start, zones, pace, hours)


def test_a_hundred_thousand_clients_in_six_zones_agree_with_text_by_text() -> None:
    rnd = random.Random(14)
    zones = [rnd.choice(ZONES) for _ in range(100_000)]
    start = at("2026-12-01T20:58:00-06:00")
    done = estimate_finish(start, zones, 12.0, DEFAULT_HOURS)
    assert done == text_by_text(start, zones, 12.0, DEFAULT_HOURS)
    assert done.held > 0 and done.finish > start + timedelta(days=14)


def test_a_north_american_number_shares_its_zone_with_its_block() -> None:
    # The shortcut is on (phonenumbers' own metadata allows it) and answers exactly as a per-number look-up,
    # for ordinary numbers, numbers of regions whose patterns end in three free digits (Barbados 246,
    # Jamaica 876), toll-free, personal (500) and invalid ones, and split areas (Alaska 907, Idaho 208).
    assert _nanp_free_digits() >= 3
    rnd = random.Random(7)
    areas = ["312", "415", "907", "208", "246", "876", "800", "500", "555", "809", "868", "011", "199"]
    numbers = [f"+1{rnd.choice(areas)}{rnd.randrange(10_000_000):07d}" for _ in range(3_000)]
    numbers += ["+12465210000", "+12465213999", "+18766060000", "+18766060999", "+12082011234"]
    for number in numbers:
        assert _number_zone(number) == _exact_zone(number), number
