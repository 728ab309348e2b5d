"""Merge fields at alert creation: unknown fields refused, the longest rendered text counted, names joined."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services import alerts, merge_fields
from services.clock import ManualClock
from services.errors import InvalidInput
from services.importer import COLUMNS, import_csv
from services.models import AlertDelivery, Client
from services.timeranges import TimeRange
from tests.integration.recipient_builders import Builder


def _clinic(sessions: sessionmaker[Session], clock: ManualClock, names: list[str]) -> int:
    with sessions() as session, session.begin():
        b = Builder(session)
        clinic = b.clinic(sms_from="+15005550006")
        for i, name in enumerate(names):
            client = b.client(clinic, name, f"+1312555{i:04d}")
            b.visit(b.pet(client, "Rex"), clock.now() + timedelta(days=1, minutes=i))
        return clinic.id


def _send(sessions: sessionmaker[Session], clock: ManualClock, clinic_id: int, message: str) -> int:
    rng = TimeRange(clock.now(), clock.now() + timedelta(days=7))
    alert_id, _ = alerts.create_alert(
        sessions,
        alerts.AlertRequest(clinic_id, "Dr. Ana Lee", rng, message),
        now=clock.now(),
        default_pace=12.0,
        max_chars=320,
    )
    return alert_id


def _bodies(sessions: sessionmaker[Session], alert_id: int) -> list[str | None]:
    """The texts stored for the alert's clients, in its order."""
    with sessions() as session:
        return list(
            session.scalars(
                select(AlertDelivery.body)
                .where(AlertDelivery.alert_id == alert_id)
                .order_by(AlertDelivery.position)
            )
        )


def test_unknown_field_is_refused_by_name_and_nothing_is_created(sessions, clock) -> None:
    clinic_id = _clinic(sessions, clock, ["Ann Smith"])
    with pytest.raises(InvalidInput, match=r"\{client_frist_name\} is not a merge field") as refused:
        _send(sessions, clock, clinic_id, "Hi {client_frist_name}, we close at 3.")
    assert refused.value.field == "message"
    assert "{client_first_name}" in str(refused.value)  # the known ones are listed
    with sessions() as session:
        assert session.scalars(select(AlertDelivery)).first() is None


def test_limit_applies_to_the_longest_rendered_text(sessions, clock) -> None:
    long_name = "Bartholomew-Maximilian" * 4  # 88 characters as a first name
    clinic_id = _clinic(sessions, clock, ["Al Short", long_name + " Jones"])
    message = "Hi {client_first_name}! " + "x" * 230  # 254 typed, 237 for Al, 323 for the long name
    with pytest.raises(InvalidInput, match="longest text is 323 characters; the limit is 320"):
        _send(sessions, clock, clinic_id, message)
    alert_id = _send(sessions, clock, clinic_id, "Hi {client_first_name}! " + "x" * 220)
    bodies = _bodies(sessions, alert_id)
    assert bodies == ["Hi Al! " + "x" * 220, f"Hi {long_name}! " + "x" * 220]


def test_segments_are_counted_for_the_longest_text() -> None:
    short, longer = "Hi Al, closing at 3.", "Hi Zoé, closing at 3. " + "y" * 60  # é keeps GSM-7; 82 chars
    info = merge_fields.longest([short, longer, "Hi Émile 😀, closing at 3."], 320)
    assert info is not None and info.segments == 1 and info.length == 82
    info = merge_fields.longest([short, "Hi 😀 " + "z" * 70], 320)  # emoji: UCS-2, 70 per text
    assert info is not None and (info.segments, info.encoding) == (2, "UCS-2")


def test_pet_names_and_appointment_time_read_like_a_person_wrote_them() -> None:
    assert merge_fields.join_names(["Rex"]) == "Rex"
    assert merge_fields.join_names(["Rex", "Mia"]) == "Rex and Mia"
    assert merge_fields.join_names(["Rex", "Mia", "Bo"]) == "Rex, Mia and Bo"
    at = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # 9:30 AM CST
    assert merge_fields.format_appointment(at, "America/Chicago") == "Tue Dec 1, 9:30 AM"
    assert merge_fields.first_name_of("Ann Marie Smith", None) == "Ann"
    assert merge_fields.first_name_of("Ann Marie Smith", " Annie ") == "Annie"


def test_first_name_comes_from_the_optional_import_column(sessions, clock, tmp_path) -> None:
    with sessions() as session, session.begin():
        clinic_id = Builder(session).clinic(sms_from="+15005550006").id
    header = ",".join((*COLUMNS, "client_first_name"))
    day = (clock.now() + timedelta(days=1)).date().isoformat()
    rows = [f"C1,Ann Marie Smith,(312) 555-0101,P1,Rex,A1,{day}T09:00,,scheduled,Annie"]
    rows.append(f"C2,Bob Jones,(312) 555-0102,P2,Bo,A2,{day}T10:00,,scheduled,")
    path = tmp_path / "export.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    import_csv(sessions, clinic_id, path)
    alert_id = _send(sessions, clock, clinic_id, "Hi {client_first_name}, {pet_names} is expected.")
    bodies = _bodies(sessions, alert_id)
    assert bodies == ["Hi Annie, Rex is expected.", "Hi Bob, Bo is expected."]
    # A later file without the column keeps the imported first name.
    path.write_text("\n".join([",".join(COLUMNS), rows[0].rsplit(",", 1)[0]]) + "\n", encoding="utf-8")
    report = import_csv(sessions, clinic_id, path)
    assert report.clients.unchanged == 1
    with sessions() as session:
        assert session.scalar(select(Client.first_name).where(Client.external_id == "C1")) == "Annie"
