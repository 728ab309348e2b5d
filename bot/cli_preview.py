"""`mass-alert preview`: who an alert over a range would text, and who not and why; nothing is sent."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.runtime import open_runtime
from bot.views.wording import done_around, hours_words, paused_overnight
from services import alerts, merge_fields, recipients
from services.clinics import find_clinic
from services.errors import InvalidInput
from services.sending_hours import ALL_DAY, Finish, SendingHours, alert_finish
from services.timeranges import (
    PRESETS,
    TimeRange,
    custom_range,
    format_span,
    local_iso,
    parse_local,
    preset_range,
)


@dataclass(frozen=True)
class Preview:
    """A clinic, the checked range and the recipients it gives."""

    clinic_name: str
    timezone: str
    range: TimeRange
    result: recipients.RecipientSet
    #: With --message: the first recipient's text (merge fields filled in) and the most texts any client
    #: gets (the longest rendered text); None without a message.
    example_message: str | None = None
    max_segments: int | None = None
    with_message: bool = False
    #: The clinic's sending window and, at `pace` seconds per text from `now`, when the last text should go
    #: and who waits for the window (services.sending_hours).
    hours: SendingHours = ALL_DAY
    now: datetime | None = None
    finish: Finish | None = None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    names = ", ".join(name for name, _ in PRESETS)
    parser = subparsers.add_parser(
        "preview",
        help="show who an alert over a range would text (nothing is sent)",
        description="Show who an alert over a range would text, and who would not and why. Nothing is sent.",
    )
    parser.add_argument("--clinic", required=True, help="the clinic's name or numeric id")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--preset", metavar="NAME", help=f"a preset range: {names}")
    which.add_argument(
        "--start", metavar="ISO", help="custom range start, e.g. 2026-12-02T09:00 (clinic time)"
    )
    parser.add_argument("--end", metavar="ISO", help="custom range end (exclusive); required with --start")
    parser.add_argument(
        "--message",
        help="the text to check: merge fields such as {client_first_name} are filled in for the first "
        "recipient, and the most texts any client would get is counted",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(func=_run)


def resolve_range(
    tz: str, now: datetime, preset: str | None, start: str | None, end: str | None
) -> TimeRange:
    """The checked range from either a preset name or ISO start and end."""
    if preset is not None:
        if end is not None:
            raise InvalidInput(
                "Give either --preset or --start with --end, not --preset with --end.", field="range"
            )
        return preset_range(preset, tz, now)
    if start is None or end is None:
        raise InvalidInput("A custom range needs both --start and --end.", field="range")
    return custom_range(parse_local(start, tz, "start"), parse_local(end, tz, "end"), tz, now)


def build_preview(
    session: Session,
    clinic_ref: str,
    now: datetime,
    *,
    preset: str | None = None,
    start: str | None = None,
    end: str | None = None,
    message: str | None = None,
    max_chars: int = 320,
    default_pace: float = 12.0,
) -> Preview:
    """Everything the preview prints, computed at instant `now`; `message` (InvalidInput on an unknown merge
    field) is rendered for every recipient, `max_chars` being the ALERT_MAX_CHARS limit; the finish is
    estimated at the clinic's pace (else `default_pace`, ALERT_PACE_SECONDS) counting its sending hours."""
    clinic = find_clinic(session, clinic_ref)
    rng = resolve_range(clinic.timezone, now, preset, start, end)
    result = recipients.compute(session, clinic.id, rng, now)
    pace = alerts.effective_pace(clinic, default_pace)
    phones = [r.phone_e164 for r in result.recipients]
    finish = alert_finish(now, phones, clinic.timezone, pace, clinic.sending_hours)
    preview = Preview(
        clinic.name, clinic.timezone, rng, result, hours=clinic.sending_hours, now=now, finish=finish
    )
    if message is None:
        return preview
    merge_fields.check_fields(message)
    ids = [r.client_id for r in result.recipients]
    rendered = merge_fields.render_all(session, clinic, rng, now, ids, message.strip(), max_chars)
    segments = rendered.longest.segments if rendered.longest is not None else None
    return replace(preview, example_message=rendered.example, max_segments=segments, with_message=True)


def to_json(preview: Preview) -> dict[str, Any]:
    """The --json object: times in ISO 8601 with the clinic's offset."""
    tz, result = preview.timezone, preview.result

    def iso(value: datetime | None) -> str | None:
        return None if value is None else local_iso(value, tz)

    shown: dict[str, Any] = {
        "clinic": preview.clinic_name,
        "timezone": tz,
        "recipients": result.count,
        "first_appointment": iso(result.first_appointment),
        "last_appointment": iso(result.last_appointment),
        "range": {"start": iso(preview.range.start), "end": iso(preview.range.end)},
        "sending_hours": preview.hours.label(),
        "skipped": [
            {"client": s.full_name, "phone": s.phone, "reason": str(s.reason), "detail": s.detail}
            for s in result.skipped
        ],
    }
    if preview.finish is not None and result.count:
        finish = preview.finish
        shown["estimate"] = {
            "finish": iso(finish.finish),
            "held_for_sending_hours": finish.held,
            "resumes_at": None if finish.resumes_at is None else local_iso(finish.resumes_at, tz),
        }
    if preview.with_message:
        # With --message: the first recipient's text and the most texts any client gets.
        shown["example_message"] = preview.example_message
        shown["max_segments"] = preview.max_segments
    return shown


def to_text(preview: Preview) -> str:
    """The human-readable preview."""
    tz, result = preview.timezone, preview.result
    lines = [
        f"{preview.clinic_name} ({tz})",
        f"Range: {format_span(preview.range.start, preview.range.end, tz)} (end not included)",
        f"{result.count} client{'s' if result.count != 1 else ''} will be texted",
    ]
    if result.first_appointment is not None and result.last_appointment is not None:
        lines.append(f"Appointments: {format_span(result.first_appointment, result.last_appointment, tz)}")
    else:
        lines.append("No upcoming appointments to text about in this range.")
    where = "" if preview.hours.all_day else ", each client's time zone"
    lines.append(f"Sending hours: {hours_words(preview.hours)} ({preview.hours.label()}){where}")
    finish = preview.finish
    if finish is not None and result.count and preview.now is not None:
        lines.append(f"Sent now, {done_around(finish.finish, preview.now, tz)}")
        if finish.held and finish.resumes_at is not None and finish.resumes_zone is not None:
            lines.append(
                paused_overnight(
                    finish.held, finish.resumes_at, finish.resumes_zone, preview.now, preview.hours
                )
            )
    if result.skipped:
        lines.append(f"{len(result.skipped)} will not be texted:")
        for entry in result.skipped:
            phone = f" ({entry.phone})" if entry.phone else ""
            lines.append(f"  - {entry.full_name}{phone}: {entry.detail}")
    if preview.example_message is not None:
        lines.append(f"The first client reads: {preview.example_message}")
    if preview.max_segments is not None:
        lines.append(f"Up to {preview.max_segments} text(s) per client")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    runtime = open_runtime()
    try:
        with runtime.sessions() as session:
            preview = build_preview(
                session,
                args.clinic,
                runtime.clock.now(),
                preset=args.preset,
                start=args.start,
                end=args.end,
                message=args.message,
                max_chars=runtime.settings.alert_max_chars,
                default_pace=runtime.settings.alert_pace_seconds,
            )
    finally:
        runtime.close()
    print(json.dumps(to_json(preview), indent=2) if args.json else to_text(preview))
    return 0
