"""Merge fields: `{client_first_name}` and the rest, filled in per client when an alert is created.

A message names a field in braces; every field a clinic can use is in `FIELDS`. Anything else in braces is
refused (`check_fields`), so a typo never reaches a client as "{client_frist_name}". The rendered text is what
each client receives, what the report's Message Text shows, and what the segment count is taken from (the
longest rendered text: Twilio bills every segment of every text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from services import recipients
from services.errors import InvalidInput
from services.models import Client, Clinic
from services.segments import SegmentInfo, measure
from services.timeranges import TimeRange, zone

#: Every merge field, with what it becomes (shown by the modal and the CLI's help).
FIELDS: dict[str, str] = {
    "client_first_name": "the client's first name",
    "pet_names": "the pets with appointments in the range (Rex and Mia)",
    "appointment_time": "the client's first appointment in the range (Tue Dec 1, 9:30 AM)",
    "clinic_name": "the clinic's name",
    "clinic_phone": "the clinic's phone number",
}
_FIELD = re.compile(r"\{([^{}\n]*)\}")


def used_fields(message: str) -> list[str]:
    """The names in braces in `message`, in order, each once (known or not)."""
    seen: dict[str, None] = {}
    for match in _FIELD.finditer(message):
        seen.setdefault(match.group(1).strip(), None)
    return list(seen)


def unknown_fields(message: str) -> list[str]:
    """The names in braces that are not merge fields."""
    return [name for name in used_fields(message) if name not in FIELDS]


def check_fields(message: str) -> None:
    """InvalidInput (field "message") naming every unknown field and listing the known ones."""
    unknown = unknown_fields(message)
    if unknown:
        names = ", ".join("{" + name + "}" for name in unknown)
        known = ", ".join("{" + name + "}" for name in FIELDS)
        noun = "is not a merge field" if len(unknown) == 1 else "are not merge fields"
        raise InvalidInput(f"{names} {noun}. Use {known}.", field="message")


def join_names(names: Sequence[str]) -> str:
    """'Rex', 'Rex and Mia', 'Rex, Mia and Bo' (no serial comma, as clinics write it)."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def format_appointment(instant: datetime, tz: str) -> str:
    """An appointment in clinic time as a client reads it: 'Tue Dec 1, 9:30 AM'."""
    local = instant.astimezone(zone(tz))
    hour = local.hour % 12 or 12
    return f"{local:%a} {local:%b} {local.day}, {hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def first_name_of(full_name: str, first_name: str | None) -> str:
    """The imported first name, else the first word of the full name."""
    if first_name and first_name.strip():
        return first_name.strip()
    words = full_name.split()
    return words[0] if words else ""


@dataclass(frozen=True)
class ClientFields:
    """One client's values for the per-client fields."""

    first_name: str
    pets: list[str] = field(default_factory=list)
    first_appointment: datetime | None = None


@dataclass(frozen=True)
class ClinicFields:
    """The clinic's values: name, phone as a client would dial it, IANA zone for appointment times."""

    name: str
    phone: str
    tz: str

    @classmethod
    def of(cls, clinic: Clinic) -> ClinicFields:
        """From the clinic row: its contact phone, else the number it texts from."""
        if clinic.contact_phone:
            return cls(clinic.name, clinic.contact_phone, clinic.timezone)
        phone = ""
        if clinic.sms_from:
            number = phonenumbers.parse(clinic.sms_from, "US")
            phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        return cls(clinic.name, phone, clinic.timezone)


def render(message: str, client: ClientFields, clinic: ClinicFields) -> str:
    """`message` with every merge field replaced by this client's value (unknown names are left as typed;
    `check_fields` refuses them first)."""
    values = {
        "client_first_name": client.first_name,
        "pet_names": join_names(client.pets),
        "appointment_time": (
            format_appointment(client.first_appointment, clinic.tz) if client.first_appointment else ""
        ),
        "clinic_name": clinic.name,
        "clinic_phone": clinic.phone,
    }

    def fill(match: re.Match[str]) -> str:
        return values.get(match.group(1).strip(), match.group(0))

    return _FIELD.sub(fill, message)


def client_fields(
    session: Session, clinic_id: int, rng: TimeRange, now: datetime, client_ids: Iterable[int]
) -> dict[int, ClientFields]:
    """The per-client values of these clients for an alert over `rng` (their living pets' upcoming
    appointments in the range, in order; each pet named once)."""
    wanted = set(client_ids)
    pets: dict[int, list[str]] = {cid: [] for cid in wanted}
    first: dict[int, datetime] = {}
    for client_id, start, pet in recipients.visits(session, clinic_id, rng, now):
        if client_id not in wanted:
            continue
        first.setdefault(client_id, start)
        if pet not in pets[client_id]:
            pets[client_id].append(pet)
    names = session.execute(
        select(Client.id, Client.full_name, Client.first_name).where(Client.clinic_id == clinic_id)
    ).tuples()
    return {
        cid: ClientFields(first_name_of(full, given), pets[cid], first.get(cid))
        for cid, full, given in names
        if cid in wanted
    }


@dataclass(frozen=True)
class Rendered:
    """Every recipient's text; the first recipient's (the modal's example) and the longest one's measure."""

    bodies: dict[int, str]
    example: str | None
    longest: SegmentInfo | None
    #: The longest text itself (as `longest` measures it), for counting what a person sees.
    longest_text: str | None = None


def render_all(
    session: Session,
    clinic: Clinic,
    rng: TimeRange,
    now: datetime,
    client_ids: Sequence[int],
    message: str,
    max_chars: int,
) -> Rendered:
    """Each client's text (in `client_ids` order), the first one, and the measure of the one taking the most
    texts (then the most characters): the one the limits apply to."""
    if not used_fields(message):
        info = measure(message, max_chars)
        return Rendered(dict.fromkeys(client_ids, message), message if client_ids else None, info, message)
    per_client = client_fields(session, clinic.id, rng, now, client_ids)
    facts = ClinicFields.of(clinic)
    bodies = {cid: render(message, per_client[cid], facts) for cid in client_ids if cid in per_client}
    example = bodies[client_ids[0]] if client_ids and client_ids[0] in bodies else None
    text = longest_body(bodies.values(), max_chars)
    return Rendered(bodies, example, None if text is None else measure(text, max_chars), text)


def longest_body(bodies: Iterable[str], max_chars: int) -> str | None:
    """The text taking the most segments, then the most characters (None when empty)."""
    best: tuple[int, int] | None = None
    found: str | None = None
    for body in set(bodies):
        info = measure(body, max_chars)
        if best is None or (info.segments, info.length) > best:
            best, found = (info.segments, info.length), body
    return found


def longest(bodies: Iterable[str], max_chars: int) -> SegmentInfo | None:
    """The measure of the text taking the most segments, then the most characters (None when empty)."""
    text = longest_body(bodies, max_chars)
    return None if text is None else measure(text, max_chars)
