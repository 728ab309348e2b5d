"""Appointment ranges in the clinic's time zone: presets, custom ranges and the 7-day rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.errors import InvalidInput

#: The longest range an alert may cover, measured on the clinic's wall clock.
MAX_RANGE = timedelta(days=7)

#: (name, label) of every preset, in the order the modal offers them.
PRESETS: list[tuple[str, str]] = [
    ("rest-of-today", "Rest of today"),
    ("today+1", "Rest of today and tomorrow"),
    *[(f"today+{n}", f"Rest of today and the next {n} days") for n in range(2, 7)],
]
_PRESET_DAYS = {name: index for index, (name, _label) in enumerate(PRESETS)}


@dataclass(frozen=True)
class TimeRange:
    """A span of instants, aware UTC: start inclusive, end exclusive."""

    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        """Elapsed time between start and end."""
        return self.end - self.start

    def contains(self, instant: datetime) -> bool:
        """True when `instant` is inside the range (start inclusive, end exclusive)."""
        return self.start <= instant < self.end


def zone(tz: str) -> ZoneInfo:
    """The IANA zone named `tz`; an unknown name is refused in plain words."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"The clinic's time zone {tz!r} is not a known IANA time zone; set one such as America/Chicago.",
            field="timezone",
        ) from None


def start_of_day(day: date, tz: str) -> datetime:
    """The first instant of the calendar day `day` in `tz`, aware UTC (midnight may not exist)."""
    # fold=0 on a skipped midnight uses the offset before the gap: the day's first real instant.
    return datetime.combine(day, time(0), tzinfo=zone(tz)).astimezone(UTC)


def localize(value: datetime, tz: str) -> datetime:
    """Aware UTC from `value`: a naive value is clinic wall-clock time, an aware one is converted."""
    if value.tzinfo is None:
        # A wall-clock time in a DST gap moves forward by the gap; an ambiguous one is the first.
        return value.replace(tzinfo=zone(tz), fold=0).astimezone(UTC)
    return value.astimezone(UTC)


def parse_local(text: str, tz: str, field: str | None = None) -> datetime:
    """Parse ISO 8601 `text` (offset optional, clinic time when absent) into aware UTC."""
    raw = text.strip()
    try:
        parsed = datetime.fromisoformat(raw)  # a bare date means its midnight
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a date and time; write it like 2026-12-02T09:00 (clinic time) "
            "or 2026-12-02T09:00-06:00.",
            field=field,
        ) from None
    return localize(parsed, tz)


def preset_range(name: str, tz: str, now: datetime) -> TimeRange:
    """The range of preset `name` at instant `now`: from now to the end of the last calendar day."""
    if name not in _PRESET_DAYS:
        choices = ", ".join(n for n, _ in PRESETS)
        raise InvalidInput(f"There is no range called {name!r}; choose one of: {choices}.", field="range")
    today = now.astimezone(zone(tz)).date()
    end = start_of_day(today + timedelta(days=_PRESET_DAYS[name] + 1), tz)
    return TimeRange(now.astimezone(UTC), end)


def custom_range(start: datetime, end: datetime, tz: str, now: datetime) -> TimeRange:
    """A checked custom range: end after start, not over, at most 7 days; a past start becomes now."""
    start_utc, end_utc = localize(start, tz), localize(end, tz)
    if end_utc <= start_utc:
        raise InvalidInput(
            f"The end ({format_instant(end_utc, tz)}) must be after "
            f"the start ({format_instant(start_utc, tz)}).",
            field="end",
        )
    now_utc = now.astimezone(UTC)
    if end_utc <= now_utc:
        raise InvalidInput(
            f"This range is over: it ended {format_instant(end_utc, tz)}. "
            "Choose a range that ends in the future.",
            field="range",
        )
    effective = max(start_utc, now_utc)
    span = wall_clock_span(effective, end_utc, tz)
    if span > MAX_RANGE:
        raise InvalidInput(
            f"A range can be at most 7 days (this one is {format_duration(span)}).",
            field="range",
        )
    return TimeRange(effective, end_utc)


def wall_clock_span(start: datetime, end: datetime, tz: str) -> timedelta:
    """The difference of the clinic's wall-clock readings at `start` and `end` (calendar length)."""
    zone_info = zone(tz)
    local_start = start.astimezone(zone_info).replace(tzinfo=None)
    local_end = end.astimezone(zone_info).replace(tzinfo=None)
    return local_end - local_start


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def format_duration(span: timedelta) -> str:
    """A length in words: '8 days 2 hours', '7 days 1 minute', 'just over 7 days'."""
    whole_minutes = int(span.total_seconds() // 60)
    days, rest = divmod(whole_minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [_plural(n, unit) for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n]
    text = " ".join(parts) or "less than a minute"
    if span > timedelta(minutes=whole_minutes):
        return f"just over {text}" if parts else text
    return text


# The clinic-time clock, date and span words: the one implementation. They live here, not in
# bot.views.wording (which re-exports them for every screen), because this module's refusals quote
# instants and lengths and services never import bot.


def _clock(local: datetime) -> str:
    hour = local.hour % 12 or 12
    return f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def _day(local: datetime, with_year: bool) -> str:
    text = f"{local:%a} {local.day} {local:%b}"
    return f"{text} {local.year}" if with_year else text


def format_instant(
    instant: datetime, tz: str, *, year: bool = True, date: bool = True, abbreviation: bool = True
) -> str:
    """One aware instant in clinic time: 'Tue 2 Dec 2026 9:00 AM CST'.

    `year=False` gives 'Tue 2 Dec 9:00 AM CST', `date=False` '9:00 AM CST', `abbreviation=False`
    drops the zone's abbreviation. Raises ValueError on a naive datetime (its zone is unknown).
    """
    if instant.tzinfo is None:
        raise ValueError("naive datetime given to be shown in clinic time; attach a time zone first")
    local = instant.astimezone(zone(tz))
    parts = [_day(local, year)] if date else []
    parts.append(_clock(local))
    if abbreviation:
        parts.append(local.tzname() or tz)
    return " ".join(parts)


def format_span(first: datetime, last: datetime, tz: str) -> str:
    """A span in clinic time: 'Tue 2 Dec 9:00 AM – Wed 3 Dec 4:30 PM CST'.

    The abbreviation is named once when both ends share it (each end has its own across a DST change),
    the second date is left out on the same day, and years are shown only when the ends' years differ.
    """
    zone_info = zone(tz)
    a, b = first.astimezone(zone_info), last.astimezone(zone_info)
    years = a.year != b.year
    if a == b:
        return f"{_day(a, years)} {_clock(a)} {a.tzname()}"
    left = f"{_day(a, years)} {_clock(a)}"
    if a.tzname() != b.tzname():
        left = f"{left} {a.tzname()}"
    right = _clock(b) if a.date() == b.date() and not years else f"{_day(b, years)} {_clock(b)}"
    return f"{left} – {right} {b.tzname()}"


def local_iso(instant: datetime, tz: str) -> str:
    """ISO 8601 with the clinic's offset at that instant."""
    return instant.astimezone(zone(tz)).isoformat()
