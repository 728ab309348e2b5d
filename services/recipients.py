"""Who receives: one entry per client with an upcoming appointment in a range, and who is skipped why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, select, text
from sqlalchemy.orm import Session

from services.errors import NotFound
from services.models import (
    Appointment,
    AppointmentStatus,
    Client,
    Clinic,
    OptOutSource,
    Patient,
    SkipReason,
)
from services.timeranges import TimeRange, zone

#: Appointment statuses that are not upcoming visits.
NOT_UPCOMING = (AppointmentStatus.CANCELLED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW)


@dataclass(frozen=True)
class Recipient:
    """A client who will be texted."""

    client_id: int
    full_name: str
    phone: str | None
    phone_e164: str


@dataclass(frozen=True)
class Skipped:
    """A client with an appointment in the range who will not be texted, and why in plain words."""

    client_id: int
    full_name: str
    phone: str | None
    reason: SkipReason
    detail: str


@dataclass(frozen=True)
class RecipientSummary:
    """What the compose modal shows: the count, the appointments' span and the skipped counts."""

    count: int
    first_appointment: datetime | None
    last_appointment: datetime | None
    skipped_by_reason: dict[SkipReason, int] = field(default_factory=dict)

    @property
    def skipped_total(self) -> int:
        """Clients who will not be texted."""
        return sum(self.skipped_by_reason.values())


@dataclass(frozen=True)
class RecipientSet:
    """Everyone an alert over the range concerns, in a stable order (earliest appointment, then name)."""

    recipients: list[Recipient]
    skipped: list[Skipped]
    first_appointment: datetime | None
    last_appointment: datetime | None

    @property
    def count(self) -> int:
        """Clients who will be texted."""
        return len(self.recipients)

    def summary(self) -> RecipientSummary:
        """The same numbers `summarize` gives."""
        by_reason: dict[SkipReason, int] = {}
        for entry in self.skipped:
            by_reason[entry.reason] = by_reason.get(entry.reason, 0) + 1
        return RecipientSummary(self.count, self.first_appointment, self.last_appointment, by_reason)


def _clinic_zone(session: Session, clinic_id: int) -> str:
    tz = session.scalar(select(Clinic.timezone).where(Clinic.id == clinic_id))
    if tz is None:
        raise NotFound(f"There is no clinic with id {clinic_id}.")
    return tz


def _plan_for_a_small_read(session: Session) -> None:
    """On PostgreSQL, plan the rest of this transaction without parallel workers or JIT."""
    # Both cost more to start (tens of ms) than these index range reads of a few thousand rows take.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "SELECT set_config('max_parallel_workers_per_gather', '0', true), "
                "set_config('jit', 'off', true)"
            )
        )


def _upcoming(clinic_id: int, rng: TimeRange, now: datetime) -> list[ColumnElement[bool]]:
    """The clinic's upcoming appointments starting in the range (not yet started, not cancelled etc.)."""
    # One lower bound, so the index on (clinic_id, start_at, ...) is read as a single range.
    lower: ColumnElement[bool] = (
        Appointment.start_at > now if now >= rng.start else Appointment.start_at >= rng.start
    )
    return [
        Appointment.clinic_id == clinic_id,
        lower,
        Appointment.start_at < rng.end,
        Appointment.status.not_in([str(s) for s in NOT_UPCOMING]),
    ]


def _per_client(clinic_id: int, rng: TimeRange, now: datetime) -> Any:
    """Clients with an upcoming appointment in the range, with their first and last such start."""
    return (
        select(
            Appointment.client_id.label("client_id"),
            func.min(Appointment.start_at).label("first_at"),
            func.max(Appointment.start_at).label("last_at"),
        )
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(*_upcoming(clinic_id, rng, now), Patient.deceased.is_not(True))
        .group_by(Appointment.client_id)
        .subquery("per_client")
    )


def _deceased_only(clinic_id: int, rng: TimeRange, now: datetime) -> Any:
    """Clients whose every upcoming appointment in the range is for a patient marked deceased."""
    return (
        select(
            Appointment.client_id.label("client_id"),
            func.min(Appointment.start_at).label("first_at"),
            func.min(Patient.name).label("pet"),
            func.count(func.distinct(Patient.id)).label("pets"),
        )
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(*_upcoming(clinic_id, rng, now))
        .group_by(Appointment.client_id)
        .having(func.min(case((Patient.deceased.is_(True), 1), else_=0)) == 1)
        .subquery("deceased_only")
    )


def _deceased_detail(pet: str, pets: int) -> str:
    if pets == 1:
        return f"Only appointments in the range are for {pet}, marked deceased"
    return f"Only appointments in the range are for {pet} and {pets - 1} other pet(s), all marked deceased"


def _no_mobile_detail(raw: str | None, error: str | None) -> str:
    if raw is None or not raw.strip():
        return "No mobile number on file"
    if error:
        return (
            f"No usable mobile number: {error}"
            if raw in error
            else f"No usable mobile number: {raw!r} ({error})"
        )
    return f"No usable mobile number: {raw!r} could not be read as a phone number"


def compute(session: Session, clinic_id: int, rng: TimeRange, now: datetime) -> RecipientSet:
    """Every client the alert concerns: who is texted (one per phone number) and who is skipped why."""
    tz = _clinic_zone(session, clinic_id)
    _plan_for_a_small_read(session)
    per_client = _per_client(clinic_id, rng, now)
    statement = select(
        Client.id,
        Client.full_name,
        Client.phone_raw,
        Client.phone_e164,
        Client.phone_error,
        Client.opted_out_at,
        per_client.c.first_at,
        per_client.c.last_at,
        Client.opted_out_source,
    ).join(per_client, and_(per_client.c.client_id == Client.id, Client.clinic_id == clinic_id))
    # Plain tuples through the session's connection: a thousand rows without ORM row handling.
    rows = list(session.connection().execute(statement).tuples())
    rows.sort(key=lambda r: (r[6], r[1], r[0]))  # earliest appointment, then name, then id

    # Whoever has the earliest appointment (then the lowest id) gets the text for a shared number.
    holders: dict[str, tuple[datetime, int, str]] = {}
    for client_id, name, _raw, e164, _error, opted_out, first_at, _last_at, _source in rows:
        if opted_out is None and e164 is not None:
            best = holders.get(e164)
            if best is None or (first_at, client_id) < (best[0], best[1]):
                holders[e164] = (first_at, client_id, name)

    clinic_zone = zone(tz)
    recipients: list[Recipient] = []
    skipped: list[Skipped] = []
    first: datetime | None = None
    last: datetime | None = None
    for client_id, name, raw, e164, error, opted_out, first_at, last_at, source in rows:
        phone = raw if raw is not None else e164
        if opted_out is not None:
            when = opted_out.astimezone(clinic_zone).date().isoformat()
            how = " with the carrier (Twilio 21610)" if source == OptOutSource.CARRIER else ""
            skipped.append(
                Skipped(client_id, name, phone, SkipReason.OPTED_OUT, f"Opted out of texts{how} on {when}")
            )
        elif e164 is None:
            skipped.append(
                Skipped(client_id, name, phone, SkipReason.NO_MOBILE, _no_mobile_detail(raw, error))
            )
        else:
            # The number receives the text either way, so this client's appointments are in the span.
            if first is None or first_at < first:
                first = first_at
            if last is None or last_at > last:
                last = last_at
            _, holder_id, holder_name = holders[e164]
            if holder_id == client_id:
                recipients.append(Recipient(client_id, name, raw, e164))
            else:
                detail = f"Shares {e164} with {holder_name}, who gets the text"
                skipped.append(Skipped(client_id, name, phone, SkipReason.SHARED_PHONE, detail))
    dead = _deceased_only(clinic_id, rng, now)
    statement = (
        select(Client.id, Client.full_name, Client.phone_raw, Client.phone_e164, dead.c.pet, dead.c.pets)
        .join(dead, and_(dead.c.client_id == Client.id, Client.clinic_id == clinic_id))
        .order_by(dead.c.first_at, Client.full_name, Client.id)
    )
    for client_id, name, raw, e164, pet, pets in session.connection().execute(statement).tuples():
        phone = raw if raw is not None else e164
        detail = _deceased_detail(pet, pets)
        skipped.append(Skipped(client_id, name, phone, SkipReason.PET_DECEASED, detail))
    return RecipientSet(recipients, skipped, first, last)


def _summary_query(clinic_id: int, rng: TimeRange, now: datetime) -> Select[Any]:
    per_client = _per_client(clinic_id, rng, now)
    reachable = and_(Client.opted_out_at.is_(None), Client.phone_e164.is_not(None))
    return (
        select(
            func.count(func.distinct(case((reachable, Client.phone_e164)))).label("phones"),
            func.count(case((reachable, 1))).label("reachable"),
            func.count(case((Client.opted_out_at.is_not(None), 1))).label("opted_out"),
            func.count(case((and_(Client.opted_out_at.is_(None), Client.phone_e164.is_(None)), 1))).label(
                "no_mobile"
            ),
            func.min(case((reachable, per_client.c.first_at))).label("first_at"),
            func.max(case((reachable, per_client.c.last_at))).label("last_at"),
            select(func.count())
            .select_from(_deceased_only(clinic_id, rng, now))
            .scalar_subquery()
            .label("deceased_only"),
        )
        .select_from(per_client)
        # The clinic on the join lets the planner read only this clinic's clients.
        .join(Client, and_(Client.id == per_client.c.client_id, Client.clinic_id == clinic_id))
    )


def summarize(session: Session, clinic_id: int, rng: TimeRange, now: datetime) -> RecipientSummary:
    """The count, span and skipped counts, aggregated in one SQL statement (the modal's fast path)."""
    _plan_for_a_small_read(session)
    row = session.execute(_summary_query(clinic_id, rng, now)).one()
    if row.reachable == 0 and row.opted_out == 0 and row.no_mobile == 0 and row.deceased_only == 0:
        _clinic_zone(session, clinic_id)  # an empty answer for an unknown clinic is an error
    counts = {
        SkipReason.OPTED_OUT: row.opted_out,
        SkipReason.NO_MOBILE: row.no_mobile,
        SkipReason.SHARED_PHONE: row.reachable - row.phones,
        SkipReason.PET_DECEASED: row.deceased_only,
    }
    return RecipientSummary(
        count=row.phones,
        first_appointment=row.first_at,
        last_appointment=row.last_at,
        skipped_by_reason={reason: n for reason, n in counts.items() if n},
    )


def visits(
    session: Session, clinic_id: int, rng: TimeRange, now: datetime
) -> list[tuple[int, datetime, str]]:
    """(client id, start, pet name) of every upcoming appointment in the range for a living pet, earliest
    first: the appointments `compute` counts a client's recipient status by (the merge fields read them)."""
    statement = (
        select(Appointment.client_id, Appointment.start_at, Patient.name)
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(*_upcoming(clinic_id, rng, now), Patient.deceased.is_not(True))
        .order_by(Appointment.start_at, Patient.name, Appointment.id)
    )
    return list(session.connection().execute(statement).tuples())
