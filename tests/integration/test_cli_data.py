"""The `mass-alert` data verbs as an operator runs them: clinic, user, import, demo-data."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from services import db
from services.importer import COLUMNS


@pytest.fixture
def env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI's environment: DATABASE_URL pointing at the test database, nothing else set."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("DEFAULT_PHONE_REGION", raising=False)
    return db_url


@pytest.fixture
def migrated(env: str) -> str:
    db.upgrade(env)
    return env


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_clinic_add_and_list(migrated: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        "clinic",
        "add",
        "--name",
        "Happy Paws",
        "--timezone",
        "America/Chicago",
        "--sender",
        "(312) 555-0100",
        "--pace",
        "6",
        "--no-two-way-texting",
        "--slack-team",
        "T0TEAM",
        "--slack-channel",
        "C0ALERTS",
    )
    assert code == 0
    assert "added clinic 1: Happy Paws (America/Chicago), sender +13125550100, two-way texting off" in out
    code, out, _ = _run(
        capsys,
        "clinic",
        "add",
        "--name",
        "Second",
        "--timezone",
        "Europe/London",
        "--messaging-service",
        "MG" + "0" * 32,
    )
    assert code == 0 and "two-way texting on" in out
    code, out, _ = _run(capsys, "clinic", "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert "Happy Paws" in lines[0] and "pace 6 s" in lines[0] and "two-way texting off" in lines[0]
    assert "Second" in lines[1] and "pace 12 s (default)" in lines[1]


def test_clinic_add_refuses_bad_values_plainly(migrated: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(
        capsys, "clinic", "add", "--name", "Happy Paws", "--timezone", "Chicago", "--sender", "+13125550100"
    )
    assert code == 1 and out == ""
    assert err.strip() == (
        "error: 'Chicago' is not a time zone name; use an IANA name such as America/Chicago."
    )
    code, _, err = _run(capsys, "clinic", "add", "--name", "Happy Paws", "--timezone", "America/Chicago")
    assert code == 1 and "needs a sending number" in err


def test_user_add_links_slack_and_names_unknown_clinics(
    migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(
        capsys,
        "clinic",
        "add",
        "--name",
        "Happy Paws",
        "--timezone",
        "America/Chicago",
        "--sender",
        "+13125550100",
        "--slack-team",
        "T0TEAM",
    )
    code, out, _ = _run(
        capsys,
        "user",
        "add",
        "--clinic",
        "happy paws",
        "--name",
        "Dr. Ana Lee",
        "--email",
        "Ana@Example.org",
        "--role",
        "ADMIN",
        "--slack-user",
        "U0ANA",
    )
    assert code == 0
    assert out.strip() == "added admin Dr. Ana Lee <ana@example.org> to Happy Paws, Slack T0TEAM/U0ANA"
    code, _, err = _run(
        capsys,
        "user",
        "add",
        "--clinic",
        "Uptown",
        "--name",
        "Sam",
        "--email",
        "s@example.org",
        "--role",
        "staff",
    )
    assert code == 1 and "There is no clinic 'Uptown'. Known clinics: 'Happy Paws'." in err


def _add_happy_paws(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        _run(
            capsys,
            "clinic",
            "add",
            "--name",
            "Happy Paws",
            "--timezone",
            "America/Chicago",
            "--sender",
            "+13125550100",
        )[0]
        == 0
    )


def _write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([",".join(COLUMNS), *rows]) + "\n", encoding="utf-8")
    return path


def test_import_prints_counts_and_bad_rows(
    migrated: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_happy_paws(capsys)
    path = _write_csv(
        tmp_path / "export.csv",
        [
            "C1,Ann Smith,(312) 555-0101,P1,Rex,A1,2026-12-02T09:00,,",
            "C2,Bob Jones,555-01,P2,Fido,A2,2026-12-02T10:00,,",
            "C3,Cy,(312) 555-0103,P3,Kiki,A3,tomorrow,,",
        ],
    )
    code, out, _ = _run(capsys, "import", str(path), "--clinic", "Happy Paws")
    assert code == 0
    assert "imported 3 row(s) into Happy Paws:" in out
    assert "appointments        2 created       0 updated       0 unchanged" in out
    assert "line 3: client C2: '555-01' is not a valid phone number: too short" in out
    assert "line 4: appointment_start 'tomorrow' is not a date and time" in out
    code, out, _ = _run(capsys, "import", str(path), "--clinic", "1")
    assert code == 0 and "appointments        0 created       0 updated       2 unchanged" in out


def test_import_of_an_unreadable_file_fails(
    migrated: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_happy_paws(capsys)
    bad = tmp_path / "export.csv"
    bad.write_bytes(",".join(COLUMNS).encode() + b"\nC1,Zo\xeb,,P1,Rex,A1,2026-12-02T09:00,,\n")
    code, _, err = _run(capsys, "import", str(bad), "--clinic", "Happy Paws")
    assert code == 1 and "not UTF-8 text" in err and "nothing was imported" in err
    code, _, err = _run(capsys, "import", str(tmp_path / "missing.csv"), "--clinic", "Happy Paws")
    assert code == 1 and "there is no such file" in err


def test_import_reads_national_numbers_in_the_configured_region(
    migrated: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(
        capsys,
        "clinic",
        "add",
        "--name",
        "London Paws",
        "--timezone",
        "Europe/London",
        "--sender",
        "+447911123000",
    )
    path = _write_csv(tmp_path / "uk.csv", ["C1,Ann,07911 123456,P1,Rex,A1,2026-12-02T09:00,,"])
    monkeypatch.setenv("DEFAULT_PHONE_REGION", "gb")
    code, out, _ = _run(capsys, "import", str(path), "--clinic", "London Paws")
    assert code == 0 and "cannot be texted" not in out
    code, out, _ = _run(capsys, "import", str(path), "--clinic", "London Paws", "--region", "US")
    assert code == 0 and "1 client(s) have a number that cannot be texted" in out


def test_demo_data_works_on_a_fresh_database_and_twice(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "demo-data", "--clients", "40")
    assert code == 0
    assert "Demo clinic 'Happy Paws, Downtown' (America/Chicago): created" in out
    assert "40 clients" in out and "Upcoming appointments, next 7 days (clinic time):" in out
    assert "Twilio test numbers that fail" in out
    code, out, _ = _run(capsys, "demo-data")
    assert code == 0 and "already present, left as it was" in out and "40 clients" in out
    code, out, _ = _run(capsys, "clinic", "list")
    assert len(out.splitlines()) == 3
