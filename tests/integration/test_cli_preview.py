"""`mass-alert preview`: the JSON object, the human text and refusals, through the real CLI entry point."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import main
from bot.cli_preview import build_preview, to_json, to_text
from services.errors import InvalidInput, NotFound
from services.models import Clinic
from tests.integration.recipient_builders import Builder

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tue 1 Dec 2026, 9:00 AM in Chicago
CHICAGO = ZoneInfo("America/Chicago")


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as s:
        yield s


def seed(session: Session, base: datetime) -> Clinic:
    """Happy Paws with one texted client, one sharing her number and one opted out."""
    b = Builder(session)
    clinic = b.clinic("Happy Paws, Downtown")
    b.clinic("Other Clinic")
    jane = b.client(clinic, "Jane Doe", "+15551230000")
    b.visit(b.pet(jane), base + timedelta(hours=2))
    b.visit(
        b.pet(b.client(clinic, "John Doe", "+15551230000", raw="555-123-0000")), base + timedelta(hours=7)
    )
    out = b.client(clinic, "Olive Out", "+15550000009", opted_out_at=datetime(2026, 11, 2, 18, 0, tzinfo=UTC))
    b.visit(b.pet(out), base + timedelta(hours=3))
    session.commit()
    return clinic


def test_json_preview_for_a_preset(session: Session) -> None:
    seed(session, NOW)
    preview = build_preview(session, "Happy Paws, Downtown", NOW, preset="today+1")
    assert to_json(preview) == {
        "clinic": "Happy Paws, Downtown",
        "timezone": "America/Chicago",
        "recipients": 1,
        "first_appointment": "2026-12-01T11:00:00-06:00",
        "last_appointment": "2026-12-01T16:00:00-06:00",
        "range": {"start": "2026-12-01T09:00:00-06:00", "end": "2026-12-03T00:00:00-06:00"},
        "sending_hours": "00:00-24:00",
        "estimate": {"finish": "2026-12-01T09:00:00-06:00", "held_for_sending_hours": 0, "resumes_at": None},
        "skipped": [
            {
                "client": "Olive Out",
                "phone": "+15550000009",
                "reason": "opted_out",
                "detail": "Opted out of texts on 2026-11-02",
            },
            {
                "client": "John Doe",
                "phone": "555-123-0000",
                "reason": "shared_phone",
                "detail": "Shares +15551230000 with Jane Doe, who gets the text",
            },
        ],
    }


def test_text_preview_lists_count_span_and_who_is_skipped(session: Session) -> None:
    seed(session, NOW)
    preview = build_preview(
        session, "happy paws, downtown", NOW, start="2026-12-01T10:00", end="2026-12-01T18:00"
    )
    assert to_text(preview) == "\n".join(
        [
            "Happy Paws, Downtown (America/Chicago)",
            "Range: Tue 1 Dec 10:00 AM – 6:00 PM CST (end not included)",
            "1 client will be texted",
            "Appointments: Tue 1 Dec 11:00 AM – 4:00 PM CST",
            "Sending hours: any hour (00:00-24:00)",
            "Sent now, done around 9:00 AM CST",
            "2 will not be texted:",
            "  - Olive Out (+15550000009): Opted out of texts on 2026-11-02",
            "  - John Doe (555-123-0000): Shares +15551230000 with Jane Doe, who gets the text",
        ]
    )


def test_an_empty_range_says_so_and_gives_nulls(session: Session) -> None:
    seed(session, NOW)
    preview = build_preview(session, "Other Clinic", NOW, preset="rest-of-today")
    assert "No upcoming appointments to text about in this range." in to_text(preview)
    data = to_json(preview)
    assert (data["recipients"], data["first_appointment"], data["last_appointment"]) == (0, None, None)


def test_a_clinic_can_be_named_by_id(session: Session) -> None:
    clinic = seed(session, NOW)
    assert build_preview(session, str(clinic.id), NOW, preset="today+1").clinic_name == "Happy Paws, Downtown"


def test_an_unknown_clinic_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound, match="There is no clinic 'Nowhere'"):
        build_preview(session, "Nowhere", NOW, preset="today+1")


def test_a_custom_range_needs_both_ends(session: Session) -> None:
    seed(session, NOW)
    with pytest.raises(InvalidInput, match=r"A custom range needs both --start and --end\."):
        build_preview(session, "Other Clinic", NOW, start="2026-12-02T09:00")


@pytest.fixture
def cli_env(db_url: str, session: Session, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment the CLI reads: the test database."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    return db_url


def _tomorrow_9am() -> datetime:
    """9 AM tomorrow in Chicago, from the real clock (the CLI uses real time)."""
    today = datetime.now(CHICAGO).date()
    return datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=CHICAGO).replace(hour=9)


def test_cli_prints_one_json_object(
    cli_env: str, session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    start = _tomorrow_9am()
    seed(session, start)
    end = start + timedelta(days=1)
    code = main(
        [
            "preview",
            "--clinic",
            "Happy Paws, Downtown",
            "--start",
            start.replace(tzinfo=None).isoformat(),
            "--end",
            end.replace(tzinfo=None).isoformat(),
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["recipients"] == 1
    assert data["first_appointment"] == (start + timedelta(hours=2)).isoformat()
    assert data["range"] == {"start": start.isoformat(), "end": end.isoformat()}
    assert [s["reason"] for s in data["skipped"]] == ["opted_out", "shared_phone"]


def test_cli_text_output_for_a_preset(
    cli_env: str, session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(session, _tomorrow_9am())
    assert main(["preview", "--clinic", "Happy Paws, Downtown", "--preset", "today+1"]) == 0
    out = capsys.readouterr().out
    assert "1 client will be texted" in out
    assert "Olive Out (+15550000009): Opted out of texts on 2026-11-02" in out


def test_cli_names_an_unknown_clinic(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    start = _tomorrow_9am().replace(tzinfo=None)
    code = main(
        [
            "preview",
            "--clinic",
            "Anything",
            "--start",
            start.isoformat(),
            "--end",
            (start + timedelta(days=8, hours=2)).isoformat(),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert "There is no clinic 'Anything'" in captured.err


def test_cli_refused_range_exits_non_zero_with_the_reason(
    cli_env: str, session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(session, _tomorrow_9am())
    start = _tomorrow_9am().replace(tzinfo=None)
    code = main(
        [
            "preview",
            "--clinic",
            "Happy Paws, Downtown",
            "--start",
            start.isoformat(),
            "--end",
            (start + timedelta(days=8, hours=2)).isoformat(),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert captured.err.strip() == "error: A range can be at most 7 days (this one is 8 days 2 hours)."


def test_cli_refuses_an_unknown_preset(
    cli_env: str, session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(session, _tomorrow_9am())
    assert main(["preview", "--clinic", "Happy Paws, Downtown", "--preset", "next-week"]) == 1
    assert "There is no range called 'next-week'" in capsys.readouterr().err


def test_cli_requires_a_preset_or_a_start(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["preview", "--clinic", "Happy Paws"])
    assert exited.value.code == 2
    assert "one of the arguments --preset --start is required" in capsys.readouterr().err


def test_preview_shows_the_sending_hours_and_the_overnight_pause(session: Session) -> None:
    b = Builder(session)
    clinic = b.clinic(
        "Night Owls", sending_hours_start=8 * 60, sending_hours_end=21 * 60, alert_pace_seconds=60
    )
    evening = datetime(2026, 12, 1, 20, 50, tzinfo=CHICAGO)
    for index in range(12):  # ten go before 9:00 PM, two wait for the morning
        client = b.client(clinic, f"Client {index}", f"+1312555{index:04d}")
        b.visit(b.pet(client), evening + timedelta(days=1, minutes=index))
    session.commit()
    preview = build_preview(session, "Night Owls", evening.astimezone(UTC), preset="today+1")
    text = to_text(preview)
    assert "Sending hours: 8:00 AM to 9:00 PM (08:00-21:00), each client's time zone" in text
    assert "About 2 clients will be texted after 8:00 AM tomorrow (their time)" in text
    assert "done around Wed 2 Dec 8:01 AM CST" in text
    shown = to_json(preview)
    assert shown["sending_hours"] == "08:00-21:00"
    assert shown["estimate"] == {
        "finish": "2026-12-02T08:01:00-06:00",
        "held_for_sending_hours": 2,
        "resumes_at": "2026-12-02T08:00:00-06:00",
    }
