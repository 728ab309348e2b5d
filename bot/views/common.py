"""Formatting shared by the builders: clinic-time dates, durations, counts and Slack text safety."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, PlainTextObject, SectionBlock

#: Slack's limits used by the builders (https://docs.slack.dev/reference/block-kit).
SECTION_TEXT_MAX = 3000
MODAL_BLOCKS_MAX = 100
MESSAGE_BLOCKS_MAX = 50
CONTEXT_ELEMENTS_MAX = 10
OPTION_TEXT_MAX = 75
PLAIN_INPUT_MAX = 3000

#: How each skip reason reads after a count: (one, several).
SKIP_PHRASES: dict[str, tuple[str, str]] = {
    "opted_out": ("opted out", "opted out"),
    "no_mobile": ("has no mobile number", "have no mobile number"),
    "shared_phone": ("shares a phone number already texted", "share a phone number already texted"),
    "cancelled": ("was cancelled", "were cancelled"),
    "alert_stopped": ("was not sent: the alert stopped", "were not sent: the alert stopped"),
    "pet_deceased": ("has appointments only for a deceased pet", "have appointments only for deceased pets"),
}


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int, ellipsis: str = "…") -> str:
    """`text` cut to at most `limit` characters, marked with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ellipsis))] + ellipsis


def plural(count: int, one: str, many: str | None = None) -> str:
    """`1 client`, `2 clients`."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def local(instant: datetime, tz: str) -> datetime:
    """An aware instant in the clinic's zone."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime given to a view builder; attach a time zone first")
    return instant.astimezone(ZoneInfo(tz))


def zone_abbreviation(instant: datetime, tz: str) -> str:
    """The zone's abbreviation at that instant (CST, CDT, ...)."""
    return local(instant, tz).tzname() or tz


def _clock(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def _day(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b}"


def format_time(instant: datetime, tz: str, *, zone: bool = True) -> str:
    """`10:42 AM CST` in the clinic's zone."""
    moment = local(instant, tz)
    return f"{_clock(moment)} {moment.tzname()}" if zone else _clock(moment)


def format_when(instant: datetime, tz: str, *, zone: bool = True) -> str:
    """`Tue 2 Dec 9:00 AM CST` in the clinic's zone."""
    moment = local(instant, tz)
    text = f"{_day(moment)} {_clock(moment)}"
    return f"{text} {moment.tzname()}" if zone else text


def format_span(start: datetime, end: datetime, tz: str) -> str:
    """`Tue 2 Dec 9:00 AM – Wed 3 Dec 4:30 PM CST`; the zone is named once unless it changes."""
    first, last = local(start, tz), local(end, tz)
    if first == last:
        return format_when(start, tz)
    same_zone = first.tzname() == last.tzname()
    head = format_when(start, tz, zone=not same_zone)
    if same_zone and first.date() == last.date():
        return f"{head} – {_clock(last)} {last.tzname()}"
    return f"{head} – {format_when(end, tz)}"


def format_duration(seconds: float) -> str:
    """`about 8 min`, `about 1 h 40 min`, `less than a minute`."""
    if seconds < 60:
        return "less than a minute"
    minutes = math.ceil(seconds / 60) if seconds < 600 else round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"about {hours} h {rest} min" if rest else f"about {hours} h"


def format_pace(pace_seconds: float) -> str:
    """`1 text every 12 s`."""
    if pace_seconds >= 120:
        return f"1 text every {pace_seconds / 60:g} min"
    return f"1 text every {pace_seconds:g} s"


def sending_time(clients: int, pace_seconds: float) -> float:
    """Seconds it takes to send `clients` texts at the pace."""
    return max(0, clients) * pace_seconds


def skipped_summary(by_reason: dict[str, int]) -> str:
    """`2 opted out, 1 has no mobile number` (largest group first)."""
    parts: list[str] = []
    for reason, count in sorted(by_reason.items(), key=lambda item: (-item[1], item[0])):
        if count <= 0:
            continue
        one, many = SKIP_PHRASES.get(reason, (reason.replace("_", " "), reason.replace("_", " ")))
        parts.append(f"{count:,} {one if count == 1 else many}")
    return ", ".join(parts)


def reason_label(reason: str) -> str:
    """A skip reason as a heading: `Opted out`, `No mobile number`."""
    labels = {
        "opted_out": "Opted out",
        "no_mobile": "No mobile number",
        "shared_phone": "Phone number shared with a client already texted",
        "cancelled": "Cancelled",
        "alert_stopped": "Alert stopped",
        "pet_deceased": "Pet deceased",
    }
    return labels.get(reason, reason.replace("_", " ").capitalize())


def progress_bar(done: int, total: int, width: int = 14) -> str:
    """A text progress bar: `▓▓▓▓▓░░░░░░░░░`."""
    filled = 0 if total <= 0 else min(width, math.floor(width * done / total))
    return "▓" * filled + "░" * (width - filled)


def quote(text: str, limit: int = SECTION_TEXT_MAX) -> str:
    """The message as a mrkdwn block quote, escaped and clipped to fit a section."""
    lines = escape(text).splitlines() or [""]
    quoted = "\n".join(f">{line}" for line in lines)
    return clip(quoted, limit)


def mrkdwn_section(text: str, block_id: str | None = None, **kwargs: object) -> SectionBlock:
    """A section with clipped mrkdwn text."""
    text_object = MarkdownTextObject(text=clip(text, SECTION_TEXT_MAX))
    return SectionBlock(text=text_object, block_id=block_id, **kwargs)


def context(*texts: str, block_id: str | None = None) -> ContextBlock:
    """A context block of up to ten mrkdwn texts."""
    elements = [MarkdownTextObject(text=clip(t, SECTION_TEXT_MAX)) for t in texts if t][:CONTEXT_ELEMENTS_MAX]
    return ContextBlock(elements=elements, block_id=block_id)


def plain(text: str, limit: int) -> PlainTextObject:
    """A plain_text object clipped to `limit`."""
    return PlainTextObject(text=clip(text, limit), emoji=True)


def eta_from(start: datetime, clients: int, pace_seconds: float) -> datetime:
    """When sending `clients` texts from `start` at the pace is done."""
    return start + timedelta(seconds=sending_time(clients, pace_seconds))
