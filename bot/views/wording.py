"""The words every screen uses: clinic-time clocks and spans, estimates, pace, counts, skip reasons, progress.

One module so the compose modal, the confirmation, the channel entry, App Home and the terminal say
the same thing the same way. Counts use one vocabulary (issue 12, "counts that agree"): clients
*texted* were handed to the send queue, clients *not texted* were skipped with a reason, and *failed*
texts are part of the texted ones; the numbers come from `services.notify.AlertSnapshot`.
The arithmetic behind the words lives in services/ (the sending time in
`services.alerts.estimate_duration`, the clinic-time calendar in `services.timeranges`, the skip
reasons in `services.outcomes`, shared with the CSV report), since services never import bot.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from services.outcomes import skip_words
from services.sending_hours import SendingHours
from services.timeranges import format_instant, format_span

__all__ = [
    "BOT_MENTION",
    "appointments_as_of",
    "counted_when_scheduled",
    "done_around",
    "forcing_words",
    "format_estimate",
    "format_pace",
    "format_span",
    "format_time",
    "format_when",
    "hours_words",
    "not_texted",
    "outcome_counts",
    "paused_for_quiet_hours",
    "paused_overnight",
    "plural",
    "progress_bar",
    "reason_label",
    "scheduled_for",
    "skipped_summary",
    "texted",
    "texts_per_client",
    "urgent_words",
    "will_be_texted",
    "will_not_be_texted",
    "zone_abbreviation",
]

#: The bot as people type it after /invite (app.yaml: features.bot_user.display_name).
BOT_MENTION = "@Mass Text Alerts"


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


def will_be_texted(count: int) -> str:
    """Before sending: `23 clients will be texted` (the modal; the confirmation counts the same)."""
    return f"{plural(count, 'client')} will be texted"


def will_not_be_texted(count: int, by_reason: dict[str, int]) -> str:
    """Before sending: `5 will not be texted: 3 opted out, 2 have no mobile number`."""
    summary = skipped_summary(by_reason)
    return f"{count:,} will not be texted" + (f": {summary}" if summary else "")


def texted(count: int, *, finished: bool) -> str:
    """`23 clients texted` once the alert is over, `23 clients to be texted` while it runs."""
    return f"{plural(count, 'client')} {'texted' if finished else 'to be texted'}"


def not_texted(count: int, by_reason: dict[str, int]) -> str:
    """`5 not texted: 3 opted out, 2 have no mobile number` (reasons: services.models.SkipReason values)."""
    summary = skipped_summary(by_reason)
    return f"{count:,} not texted" + (f": {summary}" if summary else "")


def counted_when_scheduled(count: int) -> str:
    """A scheduled alert's count: `23 clients would be texted today (counted again when it starts)`."""
    return f"{plural(count, 'client')} would be texted today (counted again when it starts)"


def scheduled_for(when: str, by: str) -> str:
    """`scheduled for Tue 2 Dec 7:00 AM CST by Dr. Ana Lee`, after a scheduled alert's number (the entry,
    App Home); `when` and `by` come mrkdwn-safe."""
    return f"scheduled for {when} by {by}"


def reason_label(reason: str) -> str:
    """A skip reason as a heading: `Opted out`, `No mobile number`."""
    return skip_words(reason).heading


def progress_bar(done: int, total: int, width: int = 14, marks: tuple[str, str] = ("▓", "░")) -> str:
    """A text bar `width` characters wide: `▓▓▓▓▓░░░░░░░░░` (marks are (done, to do)).

    Rounds down, so the bar is full only when everything is done.
    """
    filled = 0 if total <= 0 else min(width, math.floor(width * done / total))
    return marks[0] * filled + marks[1] * (width - filled)


#: Zero-width joiner and the emoji / text variation selectors.
_SILENT = frozenset("\u200d\ufe0e\ufe0f")


def texts_per_client(segments: int) -> str:
    """What the message's SMS segments mean for the clinic: `fits in one text`, or `long message: each
    client receives it as 2 texts and the clinic is billed for 2` (Twilio bills each segment as a text).
    """
    if segments <= 1:
        return "fits in one text"
    return (
        f"long message: each client receives it as {segments:,} texts "
        f"and the clinic is billed for {segments:,}"
    )


def forcing_words(character: str) -> str:
    """Why texts hold 70 characters, naming the character that forces it:
    `🐾 (paw prints) needs the UCS-2 encoding: 70 characters per text instead of 160`.

    The limits are those of a single SMS segment (3GPP TS 23.038: 160 GSM-7, 70 UCS-2 characters).
    """
    # A cluster's joiners, variation selectors and skin tones add no meaning to its name.
    names = [
        unicodedata.name(ch, f"U+{ord(ch):04X}")
        for ch in character
        if ch not in _SILENT and not 0x1F3FB <= ord(ch) <= 0x1F3FF
    ]
    name = " + ".join(names or [f"U+{ord(character[0]):04X}"]).lower()
    return f"{character} ({name}) needs the UCS-2 encoding: 70 characters per text instead of 160"


def outcome_counts(texted: int, failed: int, not_texted: int) -> str:
    """`42 texted · 3 failed · 2 not texted`, as the activity entry counts (failed are among the texted)."""
    return f"{texted:,} texted · {failed:,} failed · {not_texted:,} not texted"


def hours_words(hours: SendingHours) -> str:
    """A sending window as people read it: `8:00 AM to 9:00 PM`, or `any hour`."""
    if hours.all_day:
        return "any hour"

    def clock(minutes: int) -> str:
        hour, minute = divmod(minutes % (24 * 60), 60)
        return f"{hour % 12 or 12}:{minute:02d} {'AM' if hour < 12 else 'PM'}"

    return f"{clock(hours.start)} to {clock(hours.end)}"


def _day_word(instant: datetime, now: datetime, tz: str) -> str:
    """`today`, `tomorrow` or `on Wed 3 Dec`: the local day of `instant` seen from `now` in zone `tz`."""
    zone = ZoneInfo(tz)
    days = (instant.astimezone(zone).date() - now.astimezone(zone).date()).days
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    return f"on {format_instant(instant, tz, year=False, abbreviation=False).rsplit(' ', 2)[0]}"


def done_around(finish: datetime, now: datetime | None, tz: str) -> str:
    """`done around 10:42 AM CST` on the day of `now` in clinic time (or without `now`), else `done around
    Wed 3 Dec 8:39 AM CST` (an alert the sending window carries into another day)."""
    zone = ZoneInfo(tz)
    same_day = now is None or finish.astimezone(zone).date() == now.astimezone(zone).date()
    return f"done around {format_time(finish, tz) if same_day else format_when(finish, tz)}"


def paused_overnight(
    held: int, resumes_at: datetime, resumes_zone: str, now: datetime, hours: SendingHours
) -> str:
    """The warning when the sending window pauses an alert: `About 40 clients will be texted after 8:00 AM
    tomorrow (their time): alert texts wait for the sending hours, 8:00 AM to 9:00 PM.`"""
    when = f"{format_time(resumes_at, resumes_zone, zone=False)} {_day_word(resumes_at, now, resumes_zone)}"
    return (
        f"About {plural(held, 'client')} will be texted after {when} (their time): alert texts wait for the "
        f"sending hours, {hours_words(hours)}."
    )


def paused_for_quiet_hours(until: datetime, zone: str, now: datetime, waiting: int | None = None) -> str:
    """An alert the sending window holds: `Paused for quiet hours until 8:00 AM tomorrow (clients' time)`,
    with `· 40 texts waiting` when `waiting` is given; `until` is the first held text's opening, read in
    its client's `zone`."""
    when = f"{format_time(until, zone, zone=False)} {_day_word(until, now, zone)}"
    count = f" · {plural(waiting, 'text')} waiting" if waiting is not None else ""
    return f"Paused for quiet hours until {when} (clients' time){count}"


def urgent_words(hours: SendingHours) -> str:
    """What marking an alert urgent does, with the window it ignores."""
    return f"Urgent: texts go out at any hour, outside the sending hours ({hours_words(hours)}) too."
