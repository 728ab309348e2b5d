"""Who receives: range edges, statuses, one entry per client, skip reasons, and the fast summary."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from services import recipients
from services.errors import NotFound
from services.models import AppointmentStatus, Clinic, SkipReason
from services.recipients import Recipient, RecipientSummary, Skipped
from services.timeranges import TimeRange
from tests.integration.recipient_builders import Builder

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
RANGE = TimeRange(NOW + HOUR, NOW + 3 * 24 * HOUR)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as s:
        yield s


@pytest.fixture
def b(session: Session) -> Builder:
    return Builder(session)


@pytest.fixture
def clinic(b: Builder) -> Clinic:
    return b.clinic()


def names(result: recipients.RecipientSet) -> list[str]:
    return [r.full_name for r in result.recipients]


def both(
    session: Session, clinic: Clinic, rng: TimeRange = RANGE, now: datetime = NOW
) -> recipients.RecipientSet:
    """compute(), after checking that summarize() agrees with it."""
    full = recipients.compute(session, clinic.id, rng, now)
    assert recipients.summarize(session, clinic.id, rng, now) == full.summary()
    return full


def test_appointments_exactly_on_the_edges(session: Session, b: Builder, clinic: Clinic) -> None:
    b.visit(b.pet(b.client(clinic, "At Start", "+15550000001")), RANGE.start)
    b.visit(b.pet(b.client(clinic, "Just Before End", "+15550000002")), RANGE.end - timedelta(microseconds=1))
    b.visit(b.pet(b.client(clinic, "At End", "+15550000003")), RANGE.end)
    b.visit(
        b.pet(b.client(clinic, "Just Before Start", "+15550000004")), RANGE.start - timedelta(microseconds=1)
    )
    result = both(session, clinic)
    assert names(result) == ["At Start", "Just Before End"]
    assert result.first_appointment == RANGE.start
    assert result.last_appointment == RANGE.end - timedelta(microseconds=1)


def test_when_the_range_started_already_only_appointments_after_now_count(
    session: Session, b: Builder, clinic: Clinic
) -> None:
    rng = TimeRange(NOW - HOUR, NOW + HOUR)
    b.visit(b.pet(b.client(clinic, "Earlier Today", "+15550000001")), NOW - timedelta(minutes=30))
    b.visit(b.pet(b.client(clinic, "Right Now", "+15550000002")), NOW)
    b.visit(b.pet(b.client(clinic, "A Moment Later", "+15550000003")), NOW + timedelta(microseconds=1))
    assert names(both(session, clinic, rng)) == ["A Moment Later"]


@pytest.mark.parametrize(
    ("status", "texted"),
    [
        (AppointmentStatus.SCHEDULED, True),
        (AppointmentStatus.CONFIRMED, True),
        (AppointmentStatus.CANCELLED, False),
        (AppointmentStatus.COMPLETED, False),
        (AppointmentStatus.NO_SHOW, False),
    ],
)
def test_only_appointments_still_to_come_count(
    session: Session, b: Builder, clinic: Clinic, status: str, texted: bool
) -> None:
    b.visit(b.pet(b.client(clinic, "Jane Doe")), NOW + 2 * HOUR, status=status)
    assert both(session, clinic).count == (1 if texted else 0)


def test_a_cancelled_visit_does_not_hide_another_live_one(
    session: Session, b: Builder, clinic: Clinic
) -> None:
    pet = b.pet(b.client(clinic, "Jane Doe"))
    b.visit(pet, NOW + 2 * HOUR, status=AppointmentStatus.CANCELLED)
    b.visit(pet, NOW + 5 * HOUR)
    result = both(session, clinic)
    assert result.count == 1
    assert result.first_appointment == NOW + 5 * HOUR


def test_one_entry_per_client_however_many_pets_and_visits(
    session: Session, b: Builder, clinic: Clinic
) -> None:
    jane = b.client(clinic, "Jane Doe")
    for pet_name, hours in (("Max", 2), ("Bella", 30), ("Max II", 50)):
        pet = b.pet(jane, pet_name)
        b.visit(pet, NOW + hours * HOUR)
        b.visit(pet, NOW + (hours + 1) * HOUR)
    result = both(session, clinic)
    assert result.recipients == [Recipient(jane.id, "Jane Doe", "+15555550100", "+15555550100")]
    assert result.skipped == []
    assert (result.first_appointment, result.last_appointment) == (NOW + 2 * HOUR, NOW + 51 * HOUR)


def test_deceased_pets_appointments_do_not_count(session: Session, b: Builder, clinic: Clinic) -> None:
    only_deceased = b.client(clinic, "Only Deceased", "+15550000001")
    b.visit(b.pet(only_deceased, "Old Rex", deceased=True), NOW + 2 * HOUR)
    mixed = b.client(clinic, "Mixed", "+15550000002")
    b.visit(b.pet(mixed, "Gone", deceased=True), NOW + 2 * HOUR)
    b.visit(b.pet(mixed, "Alive"), NOW + 9 * HOUR)
    result = both(session, clinic)
    assert names(result) == ["Mixed"]
    assert result.first_appointment == NOW + 9 * HOUR
    assert [(s.full_name, s.reason, s.detail) for s in result.skipped] == [
        (
            "Only Deceased",
            SkipReason.PET_DECEASED,
            "Only appointments in the range are for Old Rex, marked deceased",
        )
    ]


def test_other_clinics_appointments_do_not_count(session: Session, b: Builder, clinic: Clinic) -> None:
    other = b.clinic("Other Clinic")
    b.visit(b.pet(b.client(other, "Elsewhere")), NOW + 2 * HOUR)
    result = both(session, clinic)
    assert result.count == 0
    assert (result.first_appointment, result.last_appointment) == (None, None)


def test_recipients_are_ordered_by_earliest_appointment_then_name(
    session: Session, b: Builder, clinic: Clinic
) -> None:
    for i, (name, hours) in enumerate((("Zoe", 3), ("Adam", 5), ("Bea", 3), ("Carl", 2))):
        b.visit(b.pet(b.client(clinic, name, f"+1555000000{i}")), NOW + hours * HOUR)
    assert names(both(session, clinic)) == ["Carl", "Bea", "Zoe", "Adam"]


def test_opted_out_clients_are_skipped_with_the_date_in_clinic_time(
    session: Session, b: Builder, clinic: Clinic
) -> None:
    # 2 Nov 2026, 3 AM UTC is still 1 Nov in Chicago.
    client = b.client(
        clinic, "Olive Out", "+15550000001", opted_out_at=datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
    )
    b.visit(b.pet(client), NOW + 2 * HOUR)
    result = both(session, clinic)
    assert result.count == 0
    assert result.skipped == [
        Skipped(
            client.id, "Olive Out", "+15550000001", SkipReason.OPTED_OUT, "Opted out of texts on 2026-11-01"
        )
    ]
    assert result.first_appointment is None  # nobody is texted about it


@pytest.mark.parametrize(
    ("raw", "error", "detail"),
    [
        ("555-01", "'555-01' is too short", "No usable mobile number: '555-01' is too short"),
        (
            "555-01",
            "too short for a phone number",
            "No usable mobile number: '555-01' (too short for a phone number)",
        ),
        (
            "(555) 010-0000",
            None,
            "No usable mobile number: '(555) 010-0000' could not be read as a phone number",
        ),
        (None, None, "No mobile number on file"),
        ("  ", None, "No mobile number on file"),
    ],
)
def test_clients_without_a_usable_mobile_are_skipped_saying_why(
    session: Session, b: Builder, clinic: Clinic, raw: str | None, error: str | None, detail: str
) -> None:
    client = b.client(clinic, "Ned Nophone", None, raw=raw, error=error)
    b.visit(b.pet(client), NOW + 2 * HOUR)
    result = both(session, clinic)
    assert result.skipped == [Skipped(client.id, "Ned Nophone", raw, SkipReason.NO_MOBILE, detail)]


def test_a_shared_number_is_texted_once_for_the_earliest_appointment(
    session: Session, b: Builder, clinic: Clinic
) -> None:
    later = b.client(clinic, "Anna Early-Name", "+15551230000", raw="(555) 123-0000")
    first = b.client(clinic, "Jane Doe", "+15551230000")
    b.visit(b.pet(later), NOW + 10 * HOUR)
    b.visit(b.pet(first), NOW + 2 * HOUR)
    result = both(session, clinic)
    assert names(result) == ["Jane Doe"]
    assert result.skipped == [
        Skipped(
            later.id,
            "Anna Early-Name",
            "(555) 123-0000",
            SkipReason.SHARED_PHONE,
            "Shares +15551230000 with Jane Doe, who gets the text",
        )
    ]
    # The shared number receives the text, so the skipped client's visit is in the span.
    assert result.last_appointment == NOW + 10 * HOUR


def test_a_shared_number_at_the_same_time_goes_to_the_lower_client_id(
    session: Session, b: Builder, clinic: Clinic
) -> None:
    first = b.client(clinic, "Zed First", "+15551230000")
    second = b.client(clinic, "Amy Second", "+15551230000")
    b.visit(b.pet(first), NOW + 2 * HOUR)
    b.visit(b.pet(second), NOW + 2 * HOUR)
    result = both(session, clinic)
    assert names(result) == ["Zed First"]
    assert [s.client_id for s in result.skipped] == [second.id]


def test_an_opted_out_client_does_not_take_a_shared_number_from_another(
    session: Session, b: Builder, clinic: Clinic
) -> None:
    b.visit(b.pet(b.client(clinic, "Out", "+15551230000", opted_out_at=NOW - HOUR)), NOW + 2 * HOUR)
    b.visit(b.pet(b.client(clinic, "In", "+15551230000")), NOW + 3 * HOUR)
    result = both(session, clinic)
    assert names(result) == ["In"]
    assert [s.reason for s in result.skipped] == [SkipReason.OPTED_OUT]


def test_summary_counts_each_reason(session: Session, b: Builder, clinic: Clinic) -> None:
    b.visit(b.pet(b.client(clinic, "A", "+15550000001")), NOW + 2 * HOUR)
    b.visit(b.pet(b.client(clinic, "B", "+15550000001")), NOW + 3 * HOUR)
    b.visit(b.pet(b.client(clinic, "C", "+15550000002", opted_out_at=NOW)), NOW + 4 * HOUR)
    b.visit(b.pet(b.client(clinic, "D", None, raw="12")), NOW + 5 * HOUR)
    b.visit(b.pet(b.client(clinic, "E", None, raw="13")), NOW + 6 * HOUR)
    summary = recipients.summarize(session, clinic.id, RANGE, NOW)
    assert summary == RecipientSummary(
        count=1,
        first_appointment=NOW + 2 * HOUR,
        last_appointment=NOW + 3 * HOUR,
        skipped_by_reason={SkipReason.OPTED_OUT: 1, SkipReason.NO_MOBILE: 2, SkipReason.SHARED_PHONE: 1},
    )
    assert summary.skipped_total == 4


def test_an_unknown_clinic_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound, match=r"There is no clinic with id 999\."):
        recipients.compute(session, 999, RANGE, NOW)
    with pytest.raises(NotFound):
        recipients.summarize(session, 999, RANGE, NOW)


def _oracle(rows: list[dict], rng: TimeRange, now: datetime) -> tuple[list[int], dict[int, SkipReason]]:
    """Who is texted and who is skipped, by the rules written out plainly in Python."""
    firsts: dict[int, datetime] = {}
    only_deceased: set[int] = set()
    for r in rows:
        if (
            rng.start <= r["start"] < rng.end
            and r["start"] > now
            and r["status"] not in ("cancelled", "completed", "no_show")
        ):
            if r["deceased"]:
                only_deceased.add(r["client"])
            else:
                firsts[r["client"]] = min(firsts.get(r["client"], r["start"]), r["start"])
    info = {r["client"]: r for r in rows}
    texted: list[int] = []
    skipped: dict[int, SkipReason] = {}
    taken: set[str] = set()
    for cid in sorted(firsts, key=lambda c: (firsts[c], c)):
        c = info[cid]
        if c["opted_out"]:
            skipped[cid] = SkipReason.OPTED_OUT
        elif c["phone"] is None:
            skipped[cid] = SkipReason.NO_MOBILE
        elif c["phone"] in taken:
            skipped[cid] = SkipReason.SHARED_PHONE
        else:
            taken.add(c["phone"])
            texted.append(cid)
    # A client whose every upcoming appointment in the range is for a deceased pet is listed as skipped.
    skipped.update({cid: SkipReason.PET_DECEASED for cid in only_deceased - firsts.keys()})
    return texted, skipped


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_clinics_match_the_rules_written_plainly(
    session: Session, b: Builder, clinic: Clinic, seed: int
) -> None:
    rnd = random.Random(seed)
    rows: list[dict] = []
    statuses = [str(s) for s in AppointmentStatus]
    for i in range(40):
        phone = rnd.choice([None, *[f"+1555000{n:04d}" for n in range(12)]])
        opted_out = rnd.random() < 0.15
        client = b.client(
            clinic,
            f"Client {i:02d}",
            phone,
            raw=phone or "bad",
            opted_out_at=NOW - HOUR if opted_out else None,
        )
        for _ in range(rnd.randint(1, 2)):
            pet = b.pet(client, deceased=rnd.random() < 0.1)
            for _ in range(rnd.randint(1, 3)):
                start = NOW + timedelta(minutes=rnd.randint(-24 * 60, 4 * 24 * 60))
                status = rnd.choice(statuses)
                b.visit(pet, start, status=status)
                rows.append(
                    {
                        "client": client.id,
                        "phone": phone,
                        "opted_out": opted_out,
                        "start": start,
                        "status": status,
                        "deceased": pet.deceased,
                    }
                )
    rng = TimeRange(NOW - 2 * HOUR, NOW + 2 * 24 * HOUR)
    result = both(session, clinic, rng)
    texted, skipped = _oracle(rows, rng, NOW)
    assert sorted(r.client_id for r in result.recipients) == sorted(texted)
    assert {s.client_id: s.reason for s in result.skipped} == skipped
    assert len({r.phone_e164 for r in result.recipients}) == result.count
    # Deterministic: the same question gives the same answer, order included.
    assert recipients.compute(session, clinic.id, rng, NOW) == result


def test_postgresql_plans_the_modal_query_without_parallel_workers(session: Session, clinic: Clinic) -> None:
    # Starting parallel workers or JIT costs more than the whole index range read (see the benchmark).
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("a PostgreSQL planner setting")
    recipients.summarize(session, clinic.id, RANGE, NOW)
    assert session.scalar(text("SHOW max_parallel_workers_per_gather")) == "0"
    assert session.scalar(text("SHOW jit")) == "off"
