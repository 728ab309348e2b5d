"""The words every screen uses: clinic-time clocks and spans, estimates, pace, counts, skip reasons, progress.

One module so the compose modal, the confirmation, the channel entry, App Home and the terminal say
the same thing the same way. The arithmetic behind the words lives in services/ (the sending time in
`services.alerts.estimate_duration`, the clinic-time calendar in `services.timeranges`, the skip
reasons in `services.outcomes`, shared with the CSV report), since services never import bot.
"""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from services.outcomes import skip_words
from services.timeranges import format_instant, format_span

__all__ = [
    "appointments_as_of",
    "format_estimate",
    "format_pace",
    "format_span",
    "format_time",
    "format_when",
    "plural",
    "progress_bar",
    "reason_label",
    "skipped_summary",
    "zone_abbreviation",
]


def plural(count: int, one: str, many: str | None = None) -> str:
    """`1 client`, `2 clients`, `1,234 clients`."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def zone_abbreviation(instant: datetime, tz: str) -> str:
    """The clinic zone's abbreviation at that aware instant (CST, CDT, ...)."""
    return format_instant(instant, tz, date=False).rsplit(" ", 1)[-1]


def format_time(instant: datetime, tz: str, *, zone: bool = True) -> str:
    """`10:42 AM CST`: an aware instant's clock time in the clinic's zone."""
    return format_instant(instant, tz, date=False, abbreviation=zone)


def appointments_as_of(imported: datetime, now: datetime | None, tz: str) -> str:
    """`appointments as of 7:02 AM` when imported today in the clinic's zone (as of `now`), else
    `appointments as of Mon 1 Dec 7:02 AM`."""
    zone = ZoneInfo(tz)
    same_day = now is not None and imported.astimezone(zone).date() == now.astimezone(zone).date()
    when = format_time(imported, tz, zone=False) if same_day else format_when(imported, tz, zone=False)
    return f"appointments as of {when}"


def format_when(instant: datetime, tz: str, *, zone: bool = True) -> str:
    """`Tue 2 Dec 9:00 AM CST`: an aware instant in the clinic's zone, without the year."""
    return format_instant(instant, tz, year=False, abbreviation=zone)


def format_estimate(seconds: float) -> str:
    """An estimated length of time: `about 8 min`, `about 1 h 40 min`, `less than a minute`.

    Minutes round up under 10 minutes (a short wait is never understated) and to the nearest above.
    """
    if seconds < 60:
        return "less than a minute"
    minutes = math.ceil(seconds / 60) if seconds < 600 else round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"about {hours} h {rest} min" if rest else f"about {hours} h"


def format_pace(pace_seconds: float) -> str:
    """`1 text every 12 s`; `1 text every 2 min` from two minutes up."""
    if pace_seconds >= 120:
        return f"1 text every {pace_seconds / 60:g} min"
    return f"1 text every {pace_seconds:g} s"


def skipped_summary(by_reason: dict[str, int]) -> str:
    """`2 opted out, 1 has no mobile number`: counts by skip reason, largest group first."""
    parts: list[str] = []
    for reason, count in sorted(by_reason.items(), key=lambda item: (-item[1], item[0])):
        if count > 0:
            words = skip_words(reason)
            parts.append(f"{count:,} {words.one if count == 1 else words.many}")
    return ", ".join(parts)


def reason_label(reason: str) -> str:
    """A skip reason as a heading: `Opted out`, `No mobile number`."""
    return skip_words(reason).heading


def progress_bar(done: int, total: int, width: int = 14, marks: tuple[str, str] = ("▓", "░")) -> str:
    """A text bar `width` characters wide: `▓▓▓▓▓░░░░░░░░░` (marks are (done, to do)).

    Rounds down, so the bar is full only when everything is done.
    """
    filled = 0 if total <= 0 else min(width, math.floor(width * done / total))
    return marks[0] * filled + marks[1] * (width - filled)
