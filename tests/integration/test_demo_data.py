"""The demo clinics: deterministic, idempotent, in business hours, with every hard case present."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from services.db import make_session_factory
from services.demo_data import FAILING_TEST_NUMBERS, create_demo_clinic, format_summary
from services.errors import InvalidInput
from services.models import Appointment, Client, Clinic, ClinicUser, Patient

NOW = datetime(2026, 12, 1, 21, 10, tzinfo=UTC)  # 15:10 in Chicago, a Tuesday
CHICAGO = ZoneInfo("America/Chicago")


def _fingerprint(sessions: sessionmaker[Session]) -> dict[str, list[Any]]:
    with sessions() as session:
        return {
            "clinics": session.execute(
                select(Clinic.name, Clinic.two_way_texting, Clinic.slack_channel_id).order_by(Clinic.name)
            ).all(),
            "clients": session.execute(
                select(
                    Client.external_id,
                    Client.full_name,
                    Client.phone_raw,
                    Client.phone_e164,
                    Client.opted_out_at,
                ).order_by(Client.external_id)
            ).all(),
            "patients": session.execute(
                select(Patient.external_id, Patient.name, Patient.deceased).order_by(Patient.external_id)
            ).all(),
            "appointments": session.execute(
                select(Appointment.external_id, Appointment.start_at, Appointment.status).order_by(
                    Appointment.external_id
                )
            ).all(),
        }


def test_the_demo_holds_three_clinics_with_their_users(sessions: sessionmaker[Session]) -> None:
    summary = create_demo_clinic(sessions, now=NOW, clients=60)
    assert summary.created and summary.clients == 60
    with sessions() as session:
        clinics = {c.name: c for c in session.scalars(select(Clinic))}
        assert set(clinics) == {"Happy Paws, Downtown", "Happy Paws, Uptown", "Happy Paws, Riverside"}
        assert [clinics[n].two_way_texting for n in sorted(clinics)] == [True, True, False]
        users = session.execute(
            select(
                Clinic.name,
                ClinicUser.full_name,
                ClinicUser.role,
                ClinicUser.slack_team_id,
                ClinicUser.slack_user_id,
            ).join(Clinic)
        ).all()
    assert set(users) == {
        ("Happy Paws, Downtown", "Dr. Ana Lee", "admin", "T0DEMO0001", "U0DEMOADMN"),
        ("Happy Paws, Downtown", "Sam Ortiz", "staff", "T0DEMO0001", "U0DEMOSTAF"),
        ("Happy Paws, Riverside", "Dr. Ana Lee", "admin", "T0DEMO0001", "U0DEMOADMN"),
        ("Happy Paws, Uptown", "Jordan Kim", "admin", "T0DEMO0001", "U0DEMOUPTN"),
    }
    assert summary.other_clinics == ["Happy Paws, Riverside", "Happy Paws, Uptown"]


def test_appointments_fall_in_business_hours_over_the_next_30_days(sessions: sessionmaker[Session]) -> None:
    summary = create_demo_clinic(sessions, now=NOW)
    with sessions() as session:
        rows = session.execute(
            select(Appointment.start_at, Appointment.end_at, Appointment.status).where(
                Appointment.clinic_id == summary.clinic_id
            )
        ).all()
    assert summary.clients == 300 and 300 <= summary.upcoming_appointments <= 700
    for start, end, status in rows:
        local = start.astimezone(CHICAGO)
        assert (local.minute in (0, 30) and 8 <= local.hour < 17) or (local.hour, local.minute) == (17, 0)
        assert end - start == timedelta(minutes=30)
        assert start < NOW + timedelta(days=31)
        if start <= NOW:
            assert status in ("completed", "no_show", "cancelled")
    upcoming_days = {start.astimezone(CHICAGO).date() for start, _, _ in rows if start > NOW}
    assert len(upcoming_days) >= 25


def test_every_hard_case_is_present(sessions: sessionmaker[Session]) -> None:
    summary = create_demo_clinic(sessions, now=NOW, clients=40)
    assert all(count > 0 for count in summary.hard_cases.values()), summary.hard_cases
    clinic_id = summary.clinic_id
    with sessions() as session:
        clients = list(session.scalars(select(Client).where(Client.clinic_id == clinic_id)))
        shared = session.execute(
            select(Client.phone_e164, func.count())
            .where(Client.clinic_id == clinic_id)
            .group_by(Client.phone_e164)
            .having(func.count() > 1)
            .where(Client.phone_e164.is_not(None))
        ).all()
        deceased = session.scalars(
            select(Patient).where(Patient.clinic_id == clinic_id, Patient.deceased)
        ).all()
        upcoming_by_client = dict(
            session.execute(
                select(Appointment.client_id, func.count())
                .where(
                    Appointment.clinic_id == clinic_id,
                    Appointment.start_at > NOW,
                    Appointment.start_at < NOW + timedelta(days=7),
                    Appointment.status != "cancelled",
                )
                .group_by(Appointment.client_id)
            ).all()
        )
    assert len(shared) == 1 and shared[0][1] == 2
    assert len(deceased) == 1
    unusable = [c for c in clients if c.phone_e164 is None]
    assert {c.phone_raw for c in unusable} == {"555-01", "+44 20 7946 0000", "call after 5pm", None}
    assert all(c.phone_error for c in unusable)
    failing = [c for c in clients if c.phone_e164 in FAILING_TEST_NUMBERS]
    assert len(failing) == 3
    opted_out = [c for c in clients if c.opted_out_at is not None]
    assert len(opted_out) == 2 and all(c.opted_out_at < NOW for c in opted_out)
    # The hard cases all show up in an alert for the coming week.
    for client in failing + opted_out + unusable:
        assert upcoming_by_client.get(client.id, 0) >= 1, client.full_name


def test_the_same_seed_and_now_give_the_same_data_on_any_database(
    sessions: sessionmaker[Session], sqlite_engine: Engine
) -> None:
    create_demo_clinic(sessions, now=NOW, clients=50)
    other = make_session_factory(sqlite_engine)
    create_demo_clinic(other, now=NOW, clients=50)
    assert _fingerprint(sessions) == _fingerprint(other)


def test_a_second_run_changes_nothing(sessions: sessionmaker[Session]) -> None:
    first = create_demo_clinic(sessions, now=NOW, clients=30)
    before = _fingerprint(sessions)
    second = create_demo_clinic(sessions, now=NOW + timedelta(hours=1), clients=80, seed=99)
    assert _fingerprint(sessions) == before
    assert not second.created and second.clients == first.clients == 30


def test_the_summary_counts_a_week_of_upcoming_appointments_in_clinic_time(
    sessions: sessionmaker[Session],
) -> None:
    summary = create_demo_clinic(sessions, now=NOW, clients=50)
    assert [day for day, _ in summary.per_day] == [
        NOW.astimezone(CHICAGO).date() + timedelta(days=n) for n in range(7)
    ]
    with sessions() as session:
        starts = session.scalars(
            select(Appointment.start_at).where(
                Appointment.clinic_id == summary.clinic_id,
                Appointment.status != "cancelled",
                Appointment.start_at >= NOW,
            )
        ).all()
    for day, count in summary.per_day:
        assert count == sum(1 for s in starts if s.astimezone(CHICAGO).date() == day)
    assert summary.upcoming_appointments == len(starts)

    text = format_summary(summary)
    assert "Demo clinic 'Happy Paws, Downtown' (America/Chicago): created" in text
    assert "Tue 2026-12-01" in text and "Mon 2026-12-07" in text
    for label in summary.hard_cases:
        assert label in text
    assert "Happy Paws, Uptown" in text


def test_too_few_clients_for_the_hard_cases_is_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(InvalidInput, match="at least 20 clients"):
        create_demo_clinic(sessions, now=NOW, clients=5)
    with sessions() as session:
        assert session.scalars(select(Clinic)).all() == []
