"""Load a clinic's clients, patients and appointments from a CSV file: an idempotent, batched upsert."""

# The file is streamed and written in batches inside one transaction, so a file that turns out to be
# unreadable part-way (not UTF-8, not CSV) leaves the database exactly as it was. Rows that break a
# rule are reported with their line number while the good rows are imported.
#
# Times are read as practice-management exports write them: ISO 8601 with or without an offset
# (2026-12-01T09:00, 2026-12-01 09:00-06:00) or month/day/year with a 12- or 24-hour clock
# (12/01/2026 9:00 AM, 12/1/2026 14:15), day/month/year when the caller says the file puts the day
# first. Every date of one column must be in one of these forms: a column mixing them is a sign of a
# hand-edited file whose day and month may be swapped, so the whole file is refused, naming the lines.
# A time without an offset is read in the clinic's time zone. A local time that does not exist (the
# hour skipped when clocks spring forward) is moved forward by the gap, so 02:30 becomes 03:30, and a
# clinic-local end moves with it (the appointment keeps its length); a local time that happens twice
# (the hour repeated in autumn) means its first occurrence.

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import IO, Any, NamedTuple, cast
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import ARRAY, ColumnElement, String, Table, any_, bindparam, insert, select, text, update
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from services.clinics import record_import
from services.errors import InvalidInput, NotFound
from services.models import Appointment, AppointmentStatus, Base, Client, Clinic, Patient
from services.phones import PhoneResult, normalize_phone

COLUMNS = (
    "client_external_id",
    "client_full_name",
    "client_phone",
    "patient_external_id",
    "patient_name",
    "appointment_external_id",
    "appointment_start",
    "appointment_end",
    "appointment_status",
)
_LIMITS = {
    "client_external_id": 100,
    "client_full_name": 200,
    "client_first_name": 100,
    "client_phone": 64,
    "patient_external_id": 100,
    "patient_name": 200,
    "appointment_external_id": 100,
}
_REQUIRED = (
    "client_external_id",
    "client_full_name",
    "patient_external_id",
    "patient_name",
    "appointment_external_id",
    "appointment_start",
)
#: Columns a file may add; a missing one leaves the stored value as it is.
OPTIONAL_COLUMNS = ("patient_deceased", "client_first_name")
_STATUSES = {s.value for s in AppointmentStatus}
_YES = frozenset({"true", "yes", "1"})
_NO = frozenset({"false", "no", "0"})
_DATE_ONLY = re.compile(r"\d{4}-?\d{2}-?\d{2}|\d{1,2}([/.-])\d{1,2}\1\d{4}")
_YEAR_FIRST = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:([AaPp])\.?\s*[Mm]\.?)?"
)
_YEAR_LAST = re.compile(
    r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:([AaPp])\.?\s*[Mm]\.?)?"
)
#: Appointment years outside this range are typing or export errors; beyond it, converting between
#: time zones can overflow Python's datetime (year 1..9999).
_YEARS = (1900, 2199)
_LINES_SHOWN = 10
_TIME_HINT = (
    "use a form such as 2026-12-01T09:30, 2026-12-01 09:30-06:00, 12/01/2026 9:30 AM or 12/1/2026 14:15"
)

PathOrStream = str | os.PathLike[str] | IO[str] | IO[bytes]


@dataclass(frozen=True)
class BadRow:
    """A row that was not imported, and why."""

    line: int
    reason: str


class PhoneNote(NamedTuple):
    """Something read in a usable phone cell beyond the number: an extension, other numbers left out."""

    line: int
    client_external_id: str
    raw: str
    note: str


class FlaggedPhone(NamedTuple):
    """A client whose number cannot be texted; the number is kept as given."""

    line: int
    client_external_id: str
    raw: str
    reason: str


@dataclass
class EntityCounts:
    """How many records of one kind the import created, changed or found already up to date."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        """Records of this kind named in the file."""
        return self.created + self.updated + self.unchanged


@dataclass
class ImportReport:
    """What one import did: counts per kind, rows refused, numbers that cannot be texted, phone notes.

    Each row imported is one appointment, so `appointments` counts the rows created, updated and
    unchanged; `bad_rows` are the rows refused.
    """

    clients: EntityCounts = field(default_factory=EntityCounts)
    patients: EntityCounts = field(default_factory=EntityCounts)
    appointments: EntityCounts = field(default_factory=EntityCounts)
    bad_rows: list[BadRow] = field(default_factory=list)
    flagged_phones: list[FlaggedPhone] = field(default_factory=list)
    phone_notes: list[PhoneNote] = field(default_factory=list)
    rows_read: int = 0
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rows_refused(self) -> int:
        """Rows of the file that were not imported."""
        return len(self.bad_rows)

    @property
    def changed_anything(self) -> bool:
        """True when the import created or updated at least one record."""
        return any(c.created or c.updated for c in (self.clients, self.patients, self.appointments))


@dataclass(slots=True)
class _Row:
    line: int
    client_ext: str
    client_name: str
    phone_raw: str | None
    phone: PhoneResult
    patient_ext: str
    #: The client_first_name cell; None when the column is absent or the cell blank (stored value kept).
    first_name: str | None
    patient_name: str
    deceased: bool | None
    appt_ext: str
    start: datetime
    end: datetime | None
    status: str


@dataclass(slots=True)
class _SeenClient:
    line: int
    name: str
    phone_key: str | None
    id: int = 0


@dataclass(slots=True)
class _SeenPatient:
    line: int
    client_ext: str
    name: str
    deceased: bool | None
    id: int = 0
    client_id: int = 0


class _RowError(Exception):
    """One row breaks a rule; the message is the reason shown to the user."""


def _clean(value: str) -> str:
    return " ".join(value.split())


@dataclass(frozen=True, slots=True)
class _Moment:
    """A cell's instant in UTC; `wall` is the clinic-local time read when the cell had no offset."""

    utc: datetime
    wall: datetime | None
    skipped: bool  # `wall` fell in the hour clocks skip in spring and was moved forward by the gap


class _Format(NamedTuple):
    """How a date cell is written: the order of its date parts and its clock."""

    order: str  # "year-month-day", "month/day/year" or "day/month/year"
    clock: str  # "24-hour clock" or "12-hour clock"


_ISO = _Format("year-month-day", "24-hour clock")


@dataclass(slots=True)
class _FormSeen:
    """How often one date form occurs in a column: an example cell and its first lines."""

    example: str
    lines: list[int]
    count: int = 1


def _hour(hour: int, meridiem: str | None) -> int:
    """A 12-hour clock's hour (1-12 with AM or PM) as 0-23; a 24-hour one as it is."""
    if meridiem is None:
        return hour
    if not 1 <= hour <= 12:
        raise ValueError("hour out of range")
    return hour % 12 + (12 if meridiem in "Pp" else 0)


def _clock(meridiem: str | None) -> str:
    return "24-hour clock" if meridiem is None else "12-hour clock"


def _read_time(given: str, column: str, day_first: bool) -> tuple[datetime, _Format]:
    """The date and time written in `given` (aware when it has an offset) and the form it is in."""
    if _DATE_ONLY.fullmatch(given):
        raise _RowError(f"{column} '{given}' has no time of day; {_TIME_HINT}")
    if given[:4].isdigit():  # year first, as ISO 8601 writes it (a slashed date has a separator sooner)
        try:
            return datetime.fromisoformat(given), _ISO
        except ValueError:
            pass
    if (match := _YEAR_LAST.fullmatch(given)) is not None:
        first, _, second, year, hour, minute, seconds, meridiem = match.groups()
        day, month = (first, second) if day_first else (second, first)
        form = _Format("day/month/year" if day_first else "month/day/year", _clock(meridiem))
    elif (match := _YEAR_FIRST.fullmatch(given)) is not None:
        year, month, day, hour, minute, seconds, meridiem = match.groups()
        form = _Format("year-month-day", _clock(meridiem))
    else:
        raise _RowError(f"{column} '{given[:40]}' is not a date and time; {_TIME_HINT}")
    try:
        moment = datetime(
            int(year), int(month), int(day), _hour(int(hour), meridiem), int(minute), int(seconds or 0)
        )
    except ValueError:
        hint = ""
        if form.order == "month/day/year" and int(month) > 12 and int(day) <= 12:
            hint = "; if the file puts the day first, import it with --day-first"
        raise _RowError(f"{column} '{given[:40]}' is not a valid {form.order} date and time{hint}") from None
    return moment, form


def _to_utc(moment: datetime, column: str, given: str, zone: tzinfo) -> _Moment:
    """`moment` in UTC, a naive one read as clinic-local wall time."""
    if not _YEARS[0] <= moment.year <= _YEARS[1]:
        raise _RowError(
            f"{column} '{given[:40]}' is not a plausible appointment date "
            f"(the year must be between {_YEARS[0]} and {_YEARS[1]})"
        )
    try:
        if moment.tzinfo is not None:
            return _Moment(moment.astimezone(UTC), None, False)
        # fold=0: a skipped local time uses the offset before the change, a repeated one its first occurrence.
        utc = moment.replace(tzinfo=zone).astimezone(UTC)
        skipped = utc.astimezone(zone).replace(tzinfo=None) != moment
    except (OverflowError, ValueError):
        raise _RowError(f"{column} '{given[:40]}' is outside the dates this app can store") from None
    return _Moment(utc, moment, skipped)


def _parse_flag(value: str, column: str) -> bool | None:
    """true/false, yes/no or 1/0 in any case; None for an empty cell (the stored value stays)."""
    word = value.strip().lower()
    if not word:
        return None
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise _RowError(f"{column} '{value.strip()[:40]}' is not one of: true, false, yes, no, 1, 0")


def _parse_status(value: str) -> str:
    status = re.sub(r"[\s-]+", "_", value.strip().lower())
    if not status:
        return AppointmentStatus.SCHEDULED.value
    if status == "canceled":
        status = AppointmentStatus.CANCELLED.value
    if status not in _STATUSES:
        allowed = ", ".join(sorted(_STATUSES))
        raise _RowError(f"appointment_status '{value.strip()[:40]}' is not one of: {allowed}")
    return status


class _Parser:
    """Turns CSV records into checked rows (no database work) and notes how each date column is written."""

    def __init__(
        self, positions: dict[str, int], width: int, zone: tzinfo, region: str, day_first: bool
    ) -> None:
        self.positions = positions
        self.width = width
        self.zone = zone
        self.region = region
        self.day_first = day_first
        self.phones: dict[str, PhoneResult] = {}
        #: per date column, per form: an example cell and the lines written that way (the first few)
        self.formats: dict[str, dict[_Format, _FormSeen]] = {
            "appointment_start": {},
            "appointment_end": {},
        }

    def phone(self, raw: str | None) -> PhoneResult:
        key = raw or ""
        result = self.phones.get(key)
        if result is None:
            result = normalize_phone(raw, self.region)
            if len(self.phones) < 200_000:
                self.phones[key] = result
        return result

    def time(self, line: int, given: str, column: str) -> _Moment:
        moment, form = _read_time(given, column, self.day_first)
        seen = self.formats[column].get(form)
        if seen is None:
            self.formats[column][form] = _FormSeen(given, [line])
        else:
            seen.count += 1
            if len(seen.lines) < _LINES_SHOWN:
                seen.lines.append(line)
        return _to_utc(moment, column, given, self.zone)

    def mixed_formats(self) -> str | None:
        """Why the file is refused when a date column mixes forms, naming the lines; else None."""
        problems: list[str] = []
        for column, forms in self.formats.items():
            if len(forms) < 2:
                continue
            parts = []
            for form, seen in sorted(forms.items(), key=lambda item: item[1].lines[0]):
                shown = ", ".join(str(n) for n in seen.lines)
                more = f" and {seen.count - len(seen.lines)} more" if seen.count > len(seen.lines) else ""
                parts.append(f"'{seen.example[:40]}' ({form.order}, {form.clock}) on line(s) {shown}{more}")
            problems.append(f"{column} mixes date formats: " + "; ".join(parts))
        if not problems:
            return None
        return (
            "The file cannot be imported: "
            + ". ".join(problems)
            + ". Nothing was imported: export the file again, or write every date of a column the same way."
        )

    def parse(self, line: int, last_line: int, record: list[str]) -> _Row:
        if len(record) != self.width:
            extra = record[self.width :]
            if len(record) < self.width or any(cell.strip() for cell in extra):
                if last_line > line:
                    raise _RowError(
                        f"lines {line}-{last_line} were read as one row of {len(record)} values; "
                        'check for a quote (") that is never closed'
                    )
                raise _RowError(f"has {len(record)} values, expected {self.width} (one per header column)")
        if any("\x00" in cell for cell in record):
            raise _RowError("contains a NUL character; is this really a text file?")
        values = {name: record[pos].strip() for name, pos in self.positions.items()}
        for name in _REQUIRED:
            if not values[name]:
                raise _RowError(f"{name} is empty")
        for name, limit in _LIMITS.items():
            if len(values.get(name, "")) > limit:
                raise _RowError(f"{name} is longer than {limit} characters")
        start = self.time(line, values["appointment_start"], "appointment_start")
        end = None
        if values["appointment_end"]:
            finish = self.time(line, values["appointment_end"], "appointment_end")
            end = finish.utc
            if start.skipped and start.wall is not None and finish.wall is not None:
                # The start moved forward by the spring-forward gap: the end moves the same way.
                try:
                    end = start.utc + (finish.wall - start.wall)
                except OverflowError:
                    raise _RowError("appointment_end is outside the dates this app can store") from None
            if end < start.utc:
                raise _RowError("appointment_end is before appointment_start")
        status = _parse_status(values["appointment_status"])
        deceased = _parse_flag(values.get("patient_deceased", ""), "patient_deceased")
        raw_phone = values["client_phone"] or None
        return _Row(
            line=line,
            client_ext=values["client_external_id"],
            client_name=_clean(values["client_full_name"]),
            phone_raw=raw_phone,
            phone=self.phone(raw_phone),
            patient_ext=values["patient_external_id"],
            first_name=_clean(values.get("client_first_name", "")) or None,
            patient_name=_clean(values["patient_name"]),
            deceased=deceased,
            appt_ext=values["appointment_external_id"],
            start=start.utc,
            end=end,
            status=status,
        )


def _read_header(reader: Iterator[list[str]], report: ImportReport) -> tuple[dict[str, int], int]:
    """Column positions by name; refuses a file without every expected column."""
    header: list[str] | None = None
    for record in reader:
        if any(cell.strip() for cell in record):
            header = record
            break
    if header is None:
        raise InvalidInput("The file is empty: expected a header line with " + ", ".join(COLUMNS) + ".")
    names = [cell.replace("\ufeff", "").strip().lower() for cell in header]
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in positions and (name in COLUMNS or name in OPTIONAL_COLUMNS):
            raise InvalidInput(f"The header names the column {name} twice.")
        positions.setdefault(name, index)
    missing = [name for name in COLUMNS if name not in positions]
    if missing:
        hint = ""
        if len(names) == 1 and ("\t" in names[0] or ";" in names[0]):
            hint = " The file looks tab- or semicolon-separated; save it as comma-separated CSV."
        problem = (
            "its first line is not the expected header"
            if len(missing) == len(COLUMNS)
            else "the header is missing the column(s) " + ", ".join(missing)
        )
        raise InvalidInput(
            f"The file cannot be imported: {problem}. The first line must be: "
            + ",".join(COLUMNS)
            + "."
            + hint
        )
    known = (*COLUMNS, *OPTIONAL_COLUMNS)
    report.ignored_columns = [name for name in names if name and name not in known]
    while names and not names[-1]:
        names.pop()
    used = {name: positions[name] for name in known if name in positions}
    width = max(len(names), max(used.values()) + 1)
    return used, width


def _table(model: type[Base]) -> Table:
    """The Core table of a mapped class, for executemany inserts and updates without ORM overhead."""
    table = model.__table__
    if not isinstance(table, Table):  # every model here is mapped to one plain table
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


class _Writer:
    """Per-file state and the batched database writes for one clinic."""

    def __init__(self, session: Session, clinic_id: int, report: ImportReport) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.added: dict[str, int] = {}
        self.analyzed_at: dict[str, int] = {}
        self.clinic_id = clinic_id
        self.report = report
        self.clients: dict[str, _SeenClient] = {}
        self.patients: dict[str, _SeenPatient] = {}
        self.appointments: dict[str, int] = {}

    def accept(self, rows: list[_Row]) -> None:
        """Check rows against earlier rows of the file, then write the new records of this batch."""
        new_clients: list[_Row] = []
        new_patients: list[_Row] = []
        new_appointments: list[_Row] = []
        for row in rows:
            phone_key = row.phone.e164 or row.phone_raw
            client = self.clients.get(row.client_ext)
            if client is not None and (client.name, client.phone_key) != (row.client_name, phone_key):
                self._bad(
                    row.line,
                    f"client {row.client_ext} is on line {client.line} with a different name or phone number",
                )
                continue
            patient = self.patients.get(row.patient_ext)
            owner_and_name = (row.client_ext, row.patient_name)
            if patient is not None and (patient.client_ext, patient.name) != owner_and_name:
                self._bad(
                    row.line,
                    f"patient {row.patient_ext} is on line {patient.line} with a different name or client",
                )
                continue
            if (
                patient is not None
                and None not in (patient.deceased, row.deceased)
                and (patient.deceased != row.deceased)
            ):
                self._bad(
                    row.line,
                    f"patient {row.patient_ext} is on line {patient.line} with a different patient_deceased",
                )
                continue
            if (first := self.appointments.get(row.appt_ext)) is not None:
                self._bad(row.line, f"appointment {row.appt_ext} is already on line {first}")
                continue
            if client is None:
                self.clients[row.client_ext] = _SeenClient(row.line, row.client_name, phone_key)
                new_clients.append(row)
                if row.phone.error is not None:
                    self.report.flagged_phones.append(
                        FlaggedPhone(row.line, row.client_ext, row.phone_raw or "", row.phone.error)
                    )
                elif row.phone.note is not None:
                    self.report.phone_notes.append(
                        PhoneNote(row.line, row.client_ext, row.phone_raw or "", row.phone.note)
                    )
            if patient is None:
                self.patients[row.patient_ext] = _SeenPatient(
                    row.line, row.client_ext, row.patient_name, row.deceased
                )
                new_patients.append(row)
            self.appointments[row.appt_ext] = row.line
            new_appointments.append(row)
        if new_clients:
            self._write_clients(new_clients)
        if new_patients:
            self._write_patients(new_patients)
        if new_appointments:
            self._write_appointments(new_appointments)

    def _among(self, column: InstrumentedAttribute[str], values: list[str]) -> ColumnElement[bool]:
        """`column IN values`; on PostgreSQL one array parameter (= ANY), which parses much faster."""
        if self.postgres:
            return column == any_(bindparam("wanted", values, type_=ARRAY(String)))
        return column.in_(values)

    def _grew(self, table: str, rows: int) -> None:
        """On PostgreSQL, refresh the planner's statistics each time this import doubles a table."""
        # A table freshly filled inside this transaction still looks empty to the planner, which then
        # reads the whole clinic for every batch's lookup instead of using the external-id index.
        if not self.postgres:
            return
        self.added[table] = added = self.added.get(table, 0) + rows
        if added - self.analyzed_at.get(table, 0) >= max(1000, self.analyzed_at.get(table, 0)):
            self.session.execute(text(f"ANALYZE {table}"))
            self.analyzed_at[table] = added

    def _bad(self, line: int, reason: str) -> None:
        self.report.bad_rows.append(BadRow(line, reason))

    def _write_clients(self, rows: list[_Row]) -> None:
        counts = self.report.clients
        existing = self.session.execute(
            select(
                Client.id,
                Client.external_id,
                Client.full_name,
                Client.phone_raw,
                Client.phone_e164,
                Client.phone_error,
                Client.first_name,
            ).where(
                Client.clinic_id == self.clinic_id,
                self._among(Client.external_id, [r.client_ext for r in rows]),
            )
        ).all()
        found = {rec.external_id: rec for rec in existing}
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for row in rows:
            values = {
                "full_name": row.client_name,
                "phone_raw": row.phone_raw,
                "phone_e164": row.phone.e164,
                "phone_error": row.phone.error,
            }
            rec = found.get(row.client_ext)
            if rec is None:
                inserts.append(
                    {
                        "clinic_id": self.clinic_id,
                        "external_id": row.client_ext,
                        "first_name": row.first_name,
                        **values,
                    }
                )
                continue
            self.clients[row.client_ext].id = rec.id
            # A blank or absent client_first_name keeps the stored one.
            values["first_name"] = rec.first_name if row.first_name is None else row.first_name
            if (rec.full_name, rec.phone_raw, rec.phone_e164, rec.phone_error, rec.first_name) == tuple(
                values.values()
            ):
                counts.unchanged += 1
            else:
                updates.append({"id": rec.id, **values})
        if updates:
            self.session.execute(update(Client), updates)
            counts.updated += len(updates)
        if inserts:
            table = _table(Client)
            created = self.session.execute(insert(table).returning(table.c.id, table.c.external_id), inserts)
            for ident, ext in created:
                self.clients[ext].id = ident
            counts.created += len(inserts)
            self._grew("clients", len(inserts))

    def _write_patients(self, rows: list[_Row]) -> None:
        counts = self.report.patients
        existing = self.session.execute(
            select(Patient.id, Patient.external_id, Patient.client_id, Patient.name, Patient.deceased).where(
                Patient.clinic_id == self.clinic_id,
                self._among(Patient.external_id, [r.patient_ext for r in rows]),
            )
        ).all()
        found = {rec.external_id: rec for rec in existing}
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        moved: list[dict[str, Any]] = []
        for row in rows:
            client_id = self.clients[row.client_ext].id
            seen = self.patients[row.patient_ext]
            seen.client_id = client_id
            rec = found.get(row.patient_ext)
            if rec is None:
                inserts.append(
                    {
                        "clinic_id": self.clinic_id,
                        "client_id": client_id,
                        "external_id": row.patient_ext,
                        "name": row.patient_name,
                        "deceased": bool(row.deceased),
                    }
                )
                continue
            seen.id = rec.id
            deceased = rec.deceased if row.deceased is None else row.deceased
            if (rec.client_id, rec.name, rec.deceased) == (client_id, row.patient_name, deceased):
                counts.unchanged += 1
                continue
            updates.append(
                {"id": rec.id, "client_id": client_id, "name": row.patient_name, "deceased": deceased}
            )
            if rec.client_id != client_id:
                moved.append({"pid": rec.id, "cid": client_id})
        if updates:
            self.session.execute(update(Patient), updates)
            counts.updated += len(updates)
        if moved:
            # Appointment.client_id is denormalised from the patient: follow the patient to its new client.
            table = _table(Appointment)
            self.session.execute(
                update(table)
                .where(table.c.patient_id == bindparam("pid"))
                .values(client_id=bindparam("cid")),
                moved,
            )
        if inserts:
            table = _table(Patient)
            created = self.session.execute(insert(table).returning(table.c.id, table.c.external_id), inserts)
            for ident, ext in created:
                self.patients[ext].id = ident
            counts.created += len(inserts)
            self._grew("patients", len(inserts))

    def _write_appointments(self, rows: list[_Row]) -> None:
        counts = self.report.appointments
        existing = self.session.execute(
            select(
                Appointment.id,
                Appointment.external_id,
                Appointment.patient_id,
                Appointment.client_id,
                Appointment.start_at,
                Appointment.end_at,
                Appointment.status,
            ).where(
                Appointment.clinic_id == self.clinic_id,
                self._among(Appointment.external_id, [r.appt_ext for r in rows]),
            )
        ).all()
        found = {rec.external_id: rec for rec in existing}
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for row in rows:
            patient = self.patients[row.patient_ext]
            values = {
                "patient_id": patient.id,
                "client_id": patient.client_id,
                "start_at": row.start,
                "end_at": row.end,
                "status": row.status,
            }
            rec = found.get(row.appt_ext)
            if rec is None:
                inserts.append({"clinic_id": self.clinic_id, "external_id": row.appt_ext, **values})
            elif (rec.patient_id, rec.client_id, rec.start_at, rec.end_at, rec.status) == tuple(
                values.values()
            ):
                counts.unchanged += 1
            else:
                updates.append({"id": rec.id, **values})
        if updates:
            self.session.execute(update(Appointment), updates)
            counts.updated += len(updates)
        if inserts:
            self.session.execute(insert(_table(Appointment)), inserts)
            counts.created += len(inserts)
            self._grew("appointments", len(inserts))


def _open_text(source: PathOrStream) -> tuple[IO[str], bool]:
    """A text stream over `source` and whether this module must close it."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            binary = open(path, "rb")  # noqa: SIM115 - closed by the caller
        except FileNotFoundError:
            raise InvalidInput(f"Cannot open '{path}': there is no such file.") from None
        except IsADirectoryError:
            raise InvalidInput(f"Cannot open '{path}': it is a folder, not a file.") from None
        except PermissionError:
            raise InvalidInput(f"Cannot open '{path}': permission denied.") from None
        return io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""), True
    if isinstance(source, io.TextIOBase):
        return source, False
    # What is left is a binary stream: IO[str] streams are TextIOBase, handled above.
    return io.TextIOWrapper(cast("IO[bytes]", source), encoding="utf-8-sig", newline=""), False


def import_csv(
    session_factory: sessionmaker[Session],
    clinic_id: int,
    path_or_stream: PathOrStream,
    *,
    region: str = "US",
    day_first: bool = False,
    batch_size: int = 2000,
) -> ImportReport:
    """Upsert the clinic's clients, patients and appointments from a CSV file.

    Rows that break a rule are left out and listed in the report (`bad_rows`) while the others are
    imported. The whole file is refused, changing nothing, with `InvalidInput` when it cannot be read
    (not UTF-8, not CSV), its header lacks a column, or a date column mixes forms (see the module
    comment); `NotFound` when the clinic does not exist. `day_first` reads 01/12/2026 as 1 December.
    """
    if batch_size < 1:
        raise InvalidInput("batch_size must be at least 1.")
    region = region.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput(f"'{region}' is not a phone region; use a two-letter code such as US or CA.")
    report = ImportReport()
    stream, owned = _open_text(path_or_stream)
    reader = csv.reader(stream)
    try:
        with session_factory() as session, session.begin():
            clinic = session.get(Clinic, clinic_id)
            if clinic is None:
                raise NotFound(f"There is no clinic with id {clinic_id}.")
            zone = ZoneInfo(clinic.timezone)
            writer = _Writer(session, clinic_id, report)
            try:
                positions, width = _read_header(reader, report)
                parser = _Parser(positions, width, zone, region, day_first)
                batch: list[_Row] = []
                last_line = reader.line_num
                for record in reader:
                    line, last_line = last_line + 1, reader.line_num
                    if not any(cell.strip() for cell in record):
                        continue
                    report.rows_read += 1
                    try:
                        batch.append(parser.parse(line, last_line, record))
                    except _RowError as error:
                        report.bad_rows.append(BadRow(line, str(error)))
                    if len(batch) >= batch_size:
                        writer.accept(batch)
                        batch = []
                if batch:
                    writer.accept(batch)
                mixed = parser.mixed_formats()
                if mixed is not None:
                    raise InvalidInput(mixed)
                record_import(clinic)
            except UnicodeDecodeError:
                raise InvalidInput(
                    f"The file is not UTF-8 text (near line {reader.line_num + 1}); nothing was imported. "
                    "Save it as 'CSV UTF-8' and import it again."
                ) from None
            except csv.Error as error:
                raise InvalidInput(
                    f"The file is not a readable CSV file (line {reader.line_num}: {error}); "
                    "nothing was imported."
                ) from None
    finally:
        if owned:
            stream.close()
        elif isinstance(stream, io.TextIOWrapper) and stream is not path_or_stream:
            stream.detach()
    report.bad_rows.sort(key=lambda bad: bad.line)
    return report
