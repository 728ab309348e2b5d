"""Quiet hours: a clinic's sending window, each client's time zone, and when an alert will finish.

Issue 14: alert texts are only sent inside the clinic's sending window (08:00–21:00 by default), in the
client's own time zone where the number's area tells it (phonenumbers' time-zone data), else in the
clinic's. A window is minutes after local midnight, `start` included and `end` excluded; an end before
the start spans midnight ("21:00-08:00" sends at night), and "00:00-24:00" sends at any hour. Local
times are read with zoneinfo, so a window keeps its clock hours across DST changes. Conversation texts
never wait for the window (services.delivery.pacing only defers alert texts).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers import timezone as number_zones
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.tzdata import TIMEZONE_DATA

from services.errors import InvalidInput

DAY_MINUTES = 24 * 60
_HOURS = re.compile(r"\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*")
#: What phonenumbers answers when a number's area names no zone.
_UNKNOWN_ZONE = "Etc/Unknown"


@dataclass(frozen=True)
class SendingHours:
    """A daily sending window: minutes after local midnight, `start` (0–1439) included, `end` (1–1440)
    excluded; an end before the start spans midnight."""

    start: int
    end: int

    @property
    def all_day(self) -> bool:
        """True when texts may go at any hour (00:00-24:00)."""
        return self.start == 0 and self.end == DAY_MINUTES

    def is_open(self, instant: datetime, tz: str) -> bool:
        """Whether an aware instant falls inside the window in zone `tz`."""
        if self.all_day:
            return True
        local = instant.astimezone(_zone(tz))
        minute = local.hour * 60 + local.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def next_change(self, instant: datetime, tz: str) -> datetime:
        """The first instant after `instant` at which the window opens (when closed) or closes (when open)
        in zone `tz`; aware UTC-comparable. ValueError for an all-day window (it never changes)."""
        if self.all_day:
            raise ValueError("an all-day sending window never opens or closes")
        minute = self.end if self.is_open(instant, tz) else self.start
        return _next_local(instant, tz, minute)

    def next_opening(self, instant: datetime, tz: str) -> datetime:
        """`instant` itself when the window is open then, else when it next opens in zone `tz`."""
        if self.is_open(instant, tz):
            return instant
        return _next_local(instant, tz, self.start)

    def label(self) -> str:
        """`08:00-21:00`, as `--sending-hours` takes it."""
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"

    def __str__(self) -> str:
        return self.label()


#: The issue's default: 8:00 AM to 9:00 PM.
DEFAULT_HOURS = SendingHours(8 * 60, 21 * 60)
ALL_DAY = SendingHours(0, DAY_MINUTES)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@lru_cache(maxsize=512)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def _next_local(instant: datetime, tz: str, minute: int) -> datetime:
    """The first instant (UTC) strictly after `instant` whose local clock in `tz` reads `minute` (0–1440)
    after midnight. A clock time skipped by a DST change maps to the instant zoneinfo gives it (fold 0: the
    offset before the change, so 2:30 on a spring-forward day is 3:30 daylight time)."""
    zone = _zone(tz)
    day = instant.astimezone(zone).date()
    for offset in range(-1, 3):
        moment = datetime.combine(day + timedelta(days=offset), time(0), tzinfo=zone)
        local = (moment.replace(tzinfo=None) + timedelta(minutes=minute)).replace(tzinfo=zone)
        candidate = local.astimezone(UTC)  # UTC: an aware time in a DST gap never compares equal
        if candidate > instant:
            return candidate
    raise AssertionError("a local clock time recurs within three days")  # pragma: no cover


def parse_hours(value: str | None) -> SendingHours:
    """`HH:MM-HH:MM` (24-hour clock; 24:00 only as an end) as a window; InvalidInput (field
    "sending_hours") with a one-line reason otherwise, equal start and end included."""
    text = (value or "").strip()
    found = _HOURS.fullmatch(text)
    example = "use HH:MM-HH:MM on a 24-hour clock, such as 08:00-21:00 (00:00-24:00 sends at any hour)"
    if found is None:
        raise InvalidInput(f"'{text}' is not a sending window; {example}.", "sending_hours")
    start_h, start_m, end_h, end_m = (int(part) for part in found.groups())
    if start_m > 59 or end_m > 59 or start_h > 23 or end_h > 24 or (end_h == 24 and end_m):
        raise InvalidInput(f"'{text}' names no such time of day; {example}.", "sending_hours")
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start == end:
        raise InvalidInput(
            f"'{text}' starts and ends at the same time; for any hour use 00:00-24:00.", "sending_hours"
        )
    return SendingHours(start, end)


def hours_of(start: int | None, end: int | None) -> SendingHours | None:
    """The window stored as two minute columns; None when there is none (an alert from before windows)."""
    if start is None or end is None:
        return None
    return SendingHours(start, end)


def recipient_zone(phone_e164: str | None, clinic_zone: str) -> str:
    """The IANA zone a client's texts are timed in: the one zone phonenumbers gives the number's area,
    else (no number, several zones, or none known) the clinic's."""
    return (_number_zone(phone_e164) if phone_e164 else None) or clinic_zone


def _number_zone(phone_e164: str) -> str | None:
    """The one zone phonenumbers gives the number, else None; a North American number's answer is shared
    by its whole block (see `_nanp_free_digits`), so 100,000 clients cost a few thousand look-ups."""
    free = _nanp_free_digits()
    if free and len(phone_e164) == 12 and phone_e164.startswith("+1") and phone_e164[1:].isdigit():
        return _block_zone(phone_e164[:-free], free)
    return _exact_zone(phone_e164)


@lru_cache(maxsize=65_536)
def _block_zone(block: str, free: int) -> str | None:
    """The zone of every number `block` followed by `free` digits (its first one stands for all)."""
    return _exact_zone(block + "0" * free)


@lru_cache(maxsize=20_000)  # the confirmation and the alert's creation read the same numbers (~28 µs each)
def _exact_zone(phone_e164: str) -> str | None:
    """The one zone phonenumbers gives the number (its type decides between the area's zones and the
    country's; an invalid number has none), else None."""
    try:
        parsed = phonenumbers.parse(phone_e164, None)
    except phonenumbers.NumberParseException:
        return None
    zones = number_zones.time_zones_for_number(parsed)
    return str(zones[0]) if len(zones) == 1 and zones[0] != _UNKNOWN_ZONE else None


@lru_cache(maxsize=1)
def _nanp_free_digits() -> int:
    """How many final digits of a +1 number (NANP, ten national digits) never change what phonenumbers
    answers for it, read from its own metadata: every number pattern of every NANP region ends in a bare
    `\\d{k}` (k of them at least), the regions' leading digits and the time-zone prefixes stop before
    them. Then a number's validity, type, region and zone are those of its block (the number without
    its last k digits). 0, which turns the sharing off, when the metadata stops saying so."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(1, ())
    free, leading_longest = 10, 0
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            return 0
        leading = _CLASS.sub("0", metadata.leading_digits or "")  # one digit per class: 8[024]9 reads 3
        if not _PLAIN_DIGITS.fullmatch(leading):
            return 0
        leading_longest = max(leading_longest, *map(len, leading.split("|")))
        for desc in _descs(metadata):
            for branch in _branches(desc):
                tail = _DIGITS_TAIL.search(branch)
                if tail is None:
                    return 0
                free = min(free, int(tail.group(1)))
    longest_prefix = max((len(key) for key in TIMEZONE_DATA if key.startswith("1")), default=1)
    if free < 1 or longest_prefix > 11 - free or leading_longest > 10 - free:  # reaching the shared digits
        return 0
    return free


_PLAIN_DIGITS = re.compile(r"[\d|]*")
_CLASS = re.compile(r"\[[\d-]+\]")
_DIGITS_TAIL = re.compile(r"\\d\{(\d+)\}$")


def _descs(metadata: PhoneMetadata) -> list[str]:
    """Every national number pattern a number's type or validity is read from."""
    found = []
    for desc in (metadata.general_desc, *(getattr(metadata, name) for name in _TYPE_DESCS)):
        if desc is not None and desc.national_number_pattern is not None:
            found.append(desc.national_number_pattern)
    return found


_TYPE_DESCS = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


def _branches(pattern: str) -> list[str]:
    """A regular expression split at its top-level `|` (escapes, classes and groups kept whole)."""
    branches, depth, current, index = [], 0, [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            current.append(pattern[index : index + 2])
            index += 2
            continue
        if char == "[":
            close = pattern.index("]", index + 1)
            current.append(pattern[index : close + 1])
            index = close + 1
            continue
        depth += (char == "(") - (char == ")")
        if char == "|" and depth == 0:
            branches.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    branches.append("".join(current))
    return branches


@dataclass(frozen=True)
class Finish:
    """When an alert should send its last text counting the window, and who waits for it to open.

    `held` clients are texted after a pause (their zone's window closed before their turn); `resumes_at`
    is the first reopening such a client waits for, in `resumes_zone` (None when nothing pauses).
    """

    finish: datetime
    held: int = 0
    resumes_at: datetime | None = None
    resumes_zone: str | None = None


def estimate_finish(
    start: datetime, zones: Sequence[str], pace_seconds: float, hours: SendingHours | None
) -> Finish:
    """Simulate the sender from `start` (aware): the first text at once, each next one a pace later, always
    the earliest client in `zones` (their time zones, in the alert's order) whose window is open, waiting
    for the next opening when none is (services.delivery.pacing defers the same way). `hours` None sends
    at any hour. The result's `finish` is the last text's instant (`start` when `zones` is empty).

    Between two window changes the open zones' clients go in the alert's order, so the simulation steps
    from change to change (a few per zone and day), not text by text: 100,000 clients take milliseconds.
    """
    pace = timedelta(seconds=pace_seconds)
    if hours is None or hours.all_day or not zones:
        return Finish(start + pace * max(len(zones) - 1, 0))
    positions: dict[str, list[int]] = {}
    for position, tz in enumerate(zones):
        positions.setdefault(tz, []).append(position)
    return _simulate(start, positions, pace, hours)


def _simulate(
    start: datetime, positions: dict[str, list[int]], pace: timedelta, hours: SendingHours
) -> Finish:
    """`estimate_finish` over each zone's clients' places in the alert's order (ascending)."""
    heads = dict.fromkeys(positions, 0)  # how many of each zone's clients are sent
    # Per zone: (open?, the instant that changes) — recomputed only once the clock passes it.
    states = {tz: (hours.is_open(start, tz), hours.next_change(start, tz)) for tz in positions}
    held, resumes_at, resumes_zone = 0, None, None
    paused: set[str] = set()
    now, last = start, start
    remaining = sum(map(len, positions.values()))
    while remaining:
        open_zones: list[str] = []
        until: datetime | None = None  # the first change of a zone with clients left: all > now
        for tz, (is_open, change) in states.items():
            if heads[tz] >= len(positions[tz]):
                continue
            if now >= change:
                is_open, change = hours.is_open(now, tz), hours.next_change(now, tz)
                states[tz] = (is_open, change)
            until = change if until is None or change < until else until
            if is_open:
                open_zones.append(tz)
            elif tz not in paused:
                paused.add(tz)
                held += len(positions[tz]) - heads[tz]
                if resumes_at is None or change < resumes_at:
                    resumes_at, resumes_zone = change, tz
        assert until is not None  # some zone has clients left
        if not open_zones:  # every zone with clients left is closed: wait for the first to open
            now = until
            continue
        whole, part = divmod(until - now, pace)
        ticks = whole + (1 if part else 0)  # sending instants now, now + pace, … before `until`
        sent = _send_first(positions, heads, open_zones, ticks)
        remaining -= sent
        last = now + pace * (sent - 1)
        now += pace * sent
    return Finish(last, held, resumes_at, resumes_zone)


def _send_first(positions: dict[str, list[int]], heads: dict[str, int], zones: list[str], most: int) -> int:
    """Mark sent the first `most` clients (in the alert's order) left in `zones`, all of them when fewer;
    how many that is."""
    left = sum(len(positions[tz]) - heads[tz] for tz in zones)
    if left <= most:
        for tz in zones:
            heads[tz] = len(positions[tz])
        return left
    if len(zones) == 1:
        heads[zones[0]] += most
        return most

    def before(place: int) -> int:  # clients left in `zones` whose place is before `place`
        return sum(bisect_left(positions[tz], place, heads[tz]) - heads[tz] for tz in zones)

    low, high = 0, max(positions[tz][-1] for tz in zones) + 1  # before(high) = left > most
    while low < high:  # the first place with `most` clients before it (places are distinct: exact)
        middle = (low + high) // 2
        if before(middle) >= most:
            high = middle
        else:
            low = middle + 1
    for tz in zones:
        heads[tz] = bisect_left(positions[tz], low, heads[tz])
    return most


def alert_finish(
    start: datetime,
    phones: Sequence[str],
    clinic_zone: str,
    pace_seconds: float,
    hours: SendingHours | None,
    *,
    urgent: bool = False,
) -> Finish:
    """`estimate_finish` for recipients given by number (in the alert's order), each timed in its
    `recipient_zone`; an urgent alert ignores `hours`."""
    if urgent or hours is None or hours.all_day:
        return estimate_finish(start, [clinic_zone] * len(phones), pace_seconds, None)
    zones = [recipient_zone(phone, clinic_zone) for phone in phones]
    return estimate_finish(start, zones, pace_seconds, hours)
