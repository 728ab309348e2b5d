"""`mass-alert preview`: who an alert over a range would text, and who not and why; nothing is sent."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.runtime import open_runtime
from services import recipients
from services.clinics import find_clinic
from services.errors import InvalidInput
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
) -> Preview:
    """Everything the preview prints, computed at instant `now`."""
    clinic = find_clinic(session, clinic_ref)
    rng = resolve_range(clinic.timezone, now, preset, start, end)
    return Preview(clinic.name, clinic.timezone, rng, recipients.compute(session, clinic.id, rng, now))


def to_json(preview: Preview) -> dict[str, Any]:
    """The --json object: times in ISO 8601 with the clinic's offset."""
    tz, result = preview.timezone, preview.result

    def iso(value: datetime | None) -> str | None:
        return None if value is None else local_iso(value, tz)

    return {
        "clinic": preview.clinic_name,
        "timezone": tz,
        "recipients": result.count,
        "first_appointment": iso(result.first_appointment),
        "last_appointment": iso(result.last_appointment),
        "range": {"start": iso(preview.range.start), "end": iso(preview.range.end)},
        "skipped": [
            {"client": s.full_name, "phone": s.phone, "reason": str(s.reason), "detail": s.detail}
            for s in result.skipped
        ],
    }


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
    if result.skipped:
        lines.append(f"{len(result.skipped)} will not be texted:")
        for entry in result.skipped:
            phone = f" ({entry.phone})" if entry.phone else ""
            lines.append(f"  - {entry.full_name}{phone}: {entry.detail}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    runtime = open_runtime()
    try:
        with runtime.sessions() as session:
            preview = build_preview(
                session, args.clinic, runtime.clock.now(), preset=args.preset, start=args.start, end=args.end
            )
    finally:
        runtime.close()
    print(json.dumps(to_json(preview), indent=2) if args.json else to_text(preview))
    return 0
