"""The `mass-alert` data verbs as an operator runs them: clinic, user, import, demo-data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from services import db
from services.importer import COLUMNS
from services.models import Appointment, Client, Patient


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


def test_clinic_sending_hours_default_set_and_changed(
    migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add = ("clinic", "add", "--timezone", "America/Chicago", "--sender", "+13125550100", "--name")
    code, out, _ = _run(capsys, *add, "Happy Paws")
    assert code == 0 and "sending hours 08:00-21:00" in out  # the default
    code, out, _ = _run(capsys, *add, "Night Vets", "--sending-hours", "21:00-08:00")
    assert code == 0 and "sending hours 21:00-08:00" in out
    code, out, _ = _run(capsys, "clinic", "update", "Happy Paws", "--sending-hours", "07:30-19:00")
    assert code == 0 and out.strip() == "updated clinic 1 (Happy Paws): sending_hours 07:30-19:00"
    code, out, _ = _run(capsys, "clinic", "list")
    assert "sending hours 07:30-19:00" in out.splitlines()[0] and "sending hours 21:00-08:00" in out
    code, out, _ = _run(capsys, "clinic", "show", "Night Vets")
    assert "sending hours:      21:00-08:00 (each client's time zone)" in out
    code, out, err = _run(capsys, "clinic", "update", "Happy Paws", "--sending-hours", "09:00-09:00")
    assert code == 1 and out == ""
    assert err.strip() == (
        "error: '09:00-09:00' starts and ends at the same time; for any hour use 00:00-24:00."
    )
    code, _, err = _run(capsys, *add, "Third", "--sending-hours", "9am-5pm")
    assert code == 1 and err.startswith("error: '9am-5pm' is not a sending window; use HH:MM-HH:MM")
    for bad, reason in [
        ("25:00-08:00", "names no such time of day"),
        ("08:00-24:30", "names no such time of day"),
        ("8-21", "is not a sending window"),
    ]:
        code, out, err = _run(capsys, "clinic", "update", "Happy Paws", "--sending-hours", bad)
        assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
        assert err.startswith(
            f"error: '{bad}' {reason}; use HH:MM-HH:MM on a 24-hour clock, such as 08:00-21:00"
        )
    code, out, _ = _run(capsys, "clinic", "show", "Happy Paws")  # every refusal left the window as it was
    assert "sending hours:      07:30-19:00" in out


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
    assert code == 3  # some rows refused, the good ones imported
    assert "3 row(s) read for Happy Paws: 2 created, 0 updated, 0 unchanged, 1 refused" in out
    assert "appointments        2 created       0 updated       0 unchanged" in out
    assert "line 3: client C2: '555-01' is not a valid phone number: too short" in out
    assert "1 row(s) refused, not imported:" in out
    assert "line 4: appointment_start 'tomorrow' is not a date and time" in out
    code, out, _ = _run(capsys, "import", str(path), "--clinic", "1")
    assert code == 3 and "appointments        0 created       0 updated       2 unchanged" in out
    assert "3 row(s) read for Happy Paws: 0 created, 0 updated, 2 unchanged, 1 refused" in out


def test_import_of_an_unreadable_file_fails(
    migrated: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_happy_paws(capsys)
    bad = tmp_path / "export.csv"
    bad.write_bytes(",".join(COLUMNS).encode() + b"\nC1,Zo\xeb,,P1,Rex,A1,2026-12-02T09:00,,\n")
    code, out, err = _run(capsys, "import", str(bad), "--clinic", "Happy Paws")
    assert code == 1 and out == "" and "not UTF-8 text" in err and "nothing was imported" in err
    code, _, err = _run(capsys, "import", str(tmp_path / "missing.csv"), "--clinic", "Happy Paws")
    assert code == 1 and "there is no such file" in err


def _add_london_paws(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _run(
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
    assert code == 0


def test_import_reads_national_numbers_in_the_configured_region(
    migrated: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_london_paws(capsys)
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


# --- mass-alert import: files as practice-management software exports them (issue 15) ---


@pytest.fixture
def paws(migrated: str, capsys: pytest.CaptureFixture[str]) -> str:
    """A migrated database holding the clinic Happy Paws (America/Chicago); its URL."""
    _add_happy_paws(capsys)
    return migrated


def _import(capsys: pytest.CaptureFixture[str], path: Path, *flags: str) -> tuple[int, str, str]:
    return _run(capsys, "import", str(path), "--clinic", "Happy Paws", *flags)


def _import_rows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rows: list[str], *flags: str
) -> tuple[int, str, str]:
    """Import a file of `rows` under the expected header into Happy Paws."""
    return _import(capsys, _write_csv(tmp_path / "export.csv", rows), *flags)


def _stored(url: str) -> dict[str, dict[str, tuple[object, ...]]]:
    """What the import left in the database, by external id."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "appointments": {
                    r.external_id: (r.start_at, r.end_at)
                    for r in conn.execute(
                        select(Appointment.external_id, Appointment.start_at, Appointment.end_at)
                    )
                },
                "clients": {
                    r.external_id: (r.phone_e164, r.phone_error)
                    for r in conn.execute(select(Client.external_id, Client.phone_e164, Client.phone_error))
                },
                "patients": {
                    r.external_id: (r.deceased,)
                    for r in conn.execute(select(Patient.external_id, Patient.deceased))
                },
            }
    finally:
        engine.dispose()


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "afternoon"),
    [
        ("12/01/2026 9:00 AM", "12/01/2026 9:30 AM", "12/01/2026 2:15 PM"),
        ("12/1/2026 9:00", "12/1/2026 9:30", "12/1/2026 14:15"),
        ("2026-12-01 09:00", "2026-12-01 09:30", "2026-12-01 14:15"),
        ("2026-12-01T09:00:00", "2026-12-01T09:30:00", "2026-12-01T14:15"),
        ("2026-12-01T09:00:00-06:00", "2026-12-01T15:30:00Z", "2026-12-01T20:15+00:00"),
        ("12/01/2026 09:00:00 am", "12/01/2026 09:30:00 a.m.", "12/01/2026 02:15:00 pm"),
        ("12/01/2026 12:00 AM", "12/01/2026 12:30 AM", "12/01/2026 12:15 PM"),
        ("2026-12-01 9:00 AM", "2026-12-01 9:30 AM", "2026-12-01 2:15 PM"),
        ("20261201T0900", "20261201T0930", "20261201T141500"),  # ISO 8601 basic format
    ],
)
def test_dates_are_read_as_exports_write_them(
    paws: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    start: str,
    end: str,
    afternoon: str,
) -> None:
    code, out, _ = _import_rows(
        capsys,
        tmp_path,
        [
            f"C1,Ann,(312) 555-0101,P1,Rex,A1,{start},{end},",
            f"C1,Ann,(312) 555-0101,P1,Rex,A2,{afternoon},,",
        ],
    )
    assert (code, out.splitlines()[0]) == (
        0,
        "2 row(s) read for Happy Paws: 2 created, 0 updated, 0 unchanged, 0 refused",
    )
    stored = _stored(paws)["appointments"]
    # 9:00 in Chicago in December is 15:00 UTC (12 AM is midnight, 06:00 UTC); 14:15 is 20:15 UTC.
    if "12:00 AM" in start:
        assert stored["A1"] == (_utc(2026, 12, 1, 6, 0), _utc(2026, 12, 1, 6, 30))
        assert stored["A2"] == (_utc(2026, 12, 1, 18, 15), None)  # 12:15 PM
    else:
        assert stored["A1"] == (_utc(2026, 12, 1, 15, 0), _utc(2026, 12, 1, 15, 30))
        assert stored["A2"] == (_utc(2026, 12, 1, 20, 15), None)


def test_day_first_exports_need_the_flag(
    paws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _import_rows(
        capsys,
        tmp_path,
        [
            "C1,Ann,(312) 555-0101,P1,Rex,A1,01/12/2026 09:00,,",
            "C1,Ann,(312) 555-0101,P1,Rex,A2,13/12/2026 09:00,,",
        ],
    )
    assert code == 3
    assert "2 row(s) read for Happy Paws: 1 created, 0 updated, 0 unchanged, 1 refused" in out
    assert (
        "line 3: appointment_start '13/12/2026 09:00' is not a valid month/day/year date and time; "
        "if the file puts the day first, import it with --day-first"
    ) in out
    assert _stored(paws)["appointments"]["A1"][0] == _utc(2026, 1, 12, 15, 0)  # read month first

    code, out, _ = _import(capsys, tmp_path / "export.csv", "--day-first")
    assert code == 0
    assert "2 row(s) read for Happy Paws: 1 created, 1 updated, 0 unchanged, 0 refused" in out
    stored = _stored(paws)["appointments"]
    assert stored["A1"][0] == _utc(2026, 12, 1, 15, 0) and stored["A2"][0] == _utc(2026, 12, 13, 15, 0)


def test_a_column_mixing_date_formats_refuses_the_whole_file(
    paws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _import_rows(
        capsys,
        tmp_path,
        [
            "C1,Ann,(312) 555-0101,P1,Rex,A1,12/01/2026 9:00 AM,,",
            "C1,Ann,(312) 555-0101,P1,Rex,A2,2026-12-02 09:00,,",
            "C1,Ann,(312) 555-0101,P1,Rex,A3,12/03/2026 9:00 AM,,",
            "C1,Ann,(312) 555-0101,P1,Rex,A4,12/04/2026 14:15,,",
        ],
    )
    assert (code, out) == (1, "")
    assert err.strip() == (
        "error: The file cannot be imported: appointment_start mixes date formats: "
        "'12/01/2026 9:00 AM' (month/day/year, 12-hour clock) on line(s) 2, 4; "
        "'2026-12-02 09:00' (year-month-day, 24-hour clock) on line(s) 3; "
        "'12/04/2026 14:15' (month/day/year, 24-hour clock) on line(s) 5. "
        "Nothing was imported: export the file again, or write every date of a column the same way."
    )
    assert _stored(paws)["appointments"] == {}


def test_an_import_that_refused_every_row_does_not_look_like_success(
    paws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _import_rows(
        capsys, tmp_path, [f"C{i},Ann,(312) 555-0101,P{i},Rex,A{i},next week,," for i in range(40)]
    )
    assert code == 3
    assert out.splitlines()[:2] == [
        "nothing was imported into Happy Paws: all 40 row(s) were refused",
        "40 row(s) read for Happy Paws: 0 created, 0 updated, 0 unchanged, 40 refused",
    ]
    assert "imported 40" not in out and _stored(paws)["clients"] == {}


def test_exit_status_is_zero_only_when_every_row_was_imported(
    paws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write_csv(tmp_path / "good.csv", ["C1,Ann,(312) 555-0101,P1,Rex,A1,2026-12-02T09:00,,"])
    assert _import(capsys, good)[0] == 0
    code, out, _ = _import(capsys, good)
    assert code == 0 and "1 row(s) read for Happy Paws: 0 created, 0 updated, 1 unchanged, 0 refused" in out
    changed = _write_csv(tmp_path / "changed.csv", ["C1,Ann,(312) 555-0101,P1,Rex,A1,2026-12-02T10:00,,"])
    code, out, _ = _import(capsys, changed)
    assert code == 0 and "1 row(s) read for Happy Paws: 0 created, 1 updated, 0 unchanged, 0 refused" in out
    empty = _write_csv(tmp_path / "empty.csv", [])
    code, out, _ = _import(capsys, empty)
    assert code == 0 and out.startswith(
        "nothing was imported into Happy Paws: the file has a header and no rows"
    )
    # Refused whole: exit 1 and nothing on stdout that could pass for a summary.
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("id,name\n1,Ann\n", encoding="utf-8")
    code, out, err = _import(capsys, bad_header)
    assert (code, out) == (1, "") and "its first line is not the expected header" in err


@pytest.mark.parametrize(
    ("cell", "e164", "note"),
    [
        ("312-555-0128 mobile", "+13125550128", None),
        ("(312) 555-0129 (cell)", "+13125550129", None),
        ("Mobile: 312 555 0130", "+13125550130", None),
        ("312.555.0131 m", "+13125550131", None),
        ("(312) 555-0132 [C]", "+13125550132", None),
        ("312-555-0133 home", "+13125550133", None),
        ("312-555-0134 ext. 2", "+13125550134", "extension 2 noted; texts go to +13125550134 itself"),
        ("312-555-0135 x4 work", "+13125550135", "extension 4 noted; texts go to +13125550135 itself"),
        (
            "312-555-0136 / 773-555-0137",
            "+13125550136",
            "2 numbers given; texting +13125550136, not +17735550137",
        ),
        (
            "home 312-555-0138, cell 773-555-0139",
            "+17735550139",
            "2 numbers given; texting +17735550139, not +13125550138",
        ),
        (
            "+44 20 7946 0958 or +44 7911 123456",
            "+447911123456",
            "2 numbers given; texting +447911123456, not +442079460958",
        ),
    ],
)
def test_phone_cells_as_people_type_them(
    paws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str, e164: str, note: str | None
) -> None:
    code, out, _ = _import_rows(capsys, tmp_path, [f'C1,Ann,"{cell}",P1,Rex,A1,2026-12-02T09:00,,'])
    assert code == 0 and "1 row(s) read for Happy Paws: 1 created, 0 updated, 0 unchanged, 0 refused" in out
    assert "cannot be texted" not in out
    assert _stored(paws)["clients"]["C1"] == (e164, None)
    if note is None:
        assert "read with a note" not in out
    else:
        assert f"1 phone number(s) read with a note:\n  line 2: client C1: '{cell}': {note}" in out


def test_two_landlines_in_one_cell_are_flagged_not_dropped(
    migrated: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_london_paws(capsys)
    path = _write_csv(
        tmp_path / "uk.csv", ['C1,Ann,"+44 20 7946 0958, +44 20 7946 0959",P1,Rex,A1,2026-12-02T09:00,,']
    )
    code, out, _ = _run(capsys, "import", str(path), "--clinic", "London Paws")
    assert code == 0 and "1 created" in out
    assert (
        "line 2: client C1: '+44 20 7946 0958, +44 20 7946 0959' holds 2 numbers and none is a mobile number"
    ) in out


@pytest.mark.parametrize(
    "form",
    [
        lambda d: d.replace("T", " "),  # 2026-03-08 02:30
        lambda d: f"{d[5:7]}/{d[8:10]}/{d[:4]} {d[11:]}",  # 03/08/2026 02:30
    ],
    ids=["year-first", "month-first"],
)
def test_a_slot_in_the_spring_forward_gap_keeps_its_length(
    paws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: Callable[[str], str]
) -> None:
    # Clocks in Chicago go from 02:00 CST to 03:00 CDT on 2026-03-08: 02:00-02:59 do not exist.
    slots = {
        "A1": ("2026-03-08T02:30", "2026-03-08T03:00"),  # starts in the gap, ends after it
        "A2": ("2026-03-08T02:15", "2026-03-08T02:45"),  # wholly in the gap
        "A3": ("2026-03-08T01:45", "2026-03-08T02:15"),  # ends in the gap
        "A4": ("2026-03-08T02:30", "2026-03-08T04:00"),
    }
    code, out, _ = _import_rows(
        capsys,
        tmp_path,
        [f"C1,Ann,(312) 555-0101,P1,Rex,{ext},{form(a)},{form(b)}," for ext, (a, b) in slots.items()],
    )
    assert (code, out.splitlines()[0]) == (
        0,
        "4 row(s) read for Happy Paws: 4 created, 0 updated, 0 unchanged, 0 refused",
    )
    assert _stored(paws)["appointments"] == {
        "A1": (_utc(2026, 3, 8, 8, 30), _utc(2026, 3, 8, 9, 0)),  # 03:30-04:00 CDT
        "A2": (_utc(2026, 3, 8, 8, 15), _utc(2026, 3, 8, 8, 45)),  # 03:15-03:45 CDT
        "A3": (_utc(2026, 3, 8, 7, 45), _utc(2026, 3, 8, 8, 15)),  # 01:45 CST-03:15 CDT
        "A4": (_utc(2026, 3, 8, 8, 30), _utc(2026, 3, 8, 10, 0)),  # 03:30-05:00 CDT
    }


def test_an_end_with_an_offset_after_a_shifted_start_is_kept_as_written(
    paws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _import_rows(
        capsys,
        tmp_path,
        [
            "C1,Ann,(312) 555-0101,P1,Rex,A1,2026-03-08T02:30,2026-03-08T09:00Z,",
            "C1,Ann,(312) 555-0101,P1,Rex,A2,2026-03-08T02:30,2026-03-08T08:00Z,",
        ],
    )
    assert code == 3 and "line 3: appointment_end is before appointment_start" in out
    assert _stored(paws)["appointments"] == {"A1": (_utc(2026, 3, 8, 8, 30), _utc(2026, 3, 8, 9, 0))}


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("9999-12-31T23:59", "is not a plausible appointment date (the year must be between 1900 and 2199)"),
        ("9999-12-31T23:59:59+14:00", "is not a plausible appointment date"),
        ("0001-01-01T00:00", "is not a plausible appointment date"),
        ("2026-02-30T09:00", "is not a valid year-month-day date and time"),
        ("2026-12-01T25:00", "is not a valid year-month-day date and time"),
        ("12/01/2026 13:00 PM", "is not a valid month/day/year date and time"),
        ("12/01/26 9:00", "is not a date and time; use a form such as"),
        ("2026-12-01", "has no time of day"),
    ],
)
def test_absurd_dates_refuse_their_line_and_the_rest_is_imported(
    paws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str, reason: str
) -> None:
    code, out, err = _import_rows(
        capsys,
        tmp_path,
        [
            "C1,Ann,(312) 555-0101,P1,Rex,A1,2026-12-02T09:00,,",
            f"C1,Ann,(312) 555-0101,P1,Rex,A2,{cell},,",
            "C1,Ann,(312) 555-0101,P1,Rex,A3,2026-12-03T09:00,,",
        ],
    )
    assert (code, err) == (3, "")
    assert "3 row(s) read for Happy Paws: 2 created, 0 updated, 0 unchanged, 1 refused" in out
    assert f"line 3: appointment_start '{cell}' {reason}" in out
    assert sorted(_stored(paws)["appointments"]) == ["A1", "A3"]


def test_an_absurd_end_on_a_shifted_start_is_refused(
    paws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _import_rows(
        capsys, tmp_path, ["C1,Ann,(312) 555-0101,P1,Rex,A1,2026-03-08T02:30,9999-12-31T23:59,"]
    )
    assert (
        code == 3 and "line 2: appointment_end '9999-12-31T23:59' is not a plausible appointment date" in out
    )


def test_patient_deceased_column_sets_the_flag(
    paws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = ",".join(COLUMNS) + ",Patient_Deceased"
    rows = [
        "C1,Ann,(312) 555-0101,P1,Rex,A1,2026-12-02T09:00,,,TRUE",
        "C1,Ann,(312) 555-0101,P2,Tom,A2,2026-12-02T10:00,,,no",
        "C2,Bob,(312) 555-0102,P3,Kiki,A3,2026-12-02T11:00,,,1",
        "C2,Bob,(312) 555-0102,P4,Fifi,A4,2026-12-02T12:00,,,Yes",
        "C3,Cy,(312) 555-0103,P5,Max,A5,2026-12-02T13:00,,,0",
        "C3,Cy,(312) 555-0103,P6,Bo,A6,2026-12-02T14:00,,,False",
        "C3,Cy,(312) 555-0103,P7,Zed,A7,2026-12-02T15:00,,,",
        "C3,Cy,(312) 555-0103,P8,Ray,A8,2026-12-02T16:00,,,dead",
        "C1,Ann,(312) 555-0101,P1,Rex,A9,2026-12-03T09:00,,,false",
    ]
    path = tmp_path / "export.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    code, out, _ = _import(capsys, path)
    assert code == 3
    assert "9 row(s) read for Happy Paws: 7 created, 0 updated, 0 unchanged, 2 refused" in out
    assert "ignored extra column" not in out
    assert "line 9: patient_deceased 'dead' is not one of: true, false, yes, no, 1, 0" in out
    assert "line 10: patient P1 is on line 2 with a different patient_deceased" in out
    assert _stored(paws)["patients"] == {
        "P1": (True,),
        "P2": (False,),
        "P3": (True,),
        "P4": (True,),
        "P5": (False,),
        "P6": (False,),
        "P7": (False,),
    }
    # A later file can clear the flag; one without the column leaves it as it is.
    path.write_text(
        f"{header}\nC1,Ann,(312) 555-0101,P4,Fifi,A4,2026-12-02T12:00,,,false\n", encoding="utf-8"
    )
    _run(capsys, "import", str(path), "--clinic", "Happy Paws")
    plain = _write_csv(tmp_path / "plain.csv", ["C2,Bob,(312) 555-0102,P3,Kiki,A3,2026-12-02T11:00,,"])
    code, out, _ = _import(capsys, plain)
    assert code == 0 and "pets                0 created       0 updated       1 unchanged" in out
    patients = _stored(paws)["patients"]
    assert (patients["P4"], patients["P3"]) == ((False,), (True,))


def test_a_client_whose_only_visit_is_for_a_deceased_pet_is_listed_as_not_texted(
    paws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.csv"
    rows = [
        "C1,Ann Smith,(312) 555-0101,P1,Rex,A1,2030-03-04T09:00,,,Yes",
        "C2,Bob Jones,(312) 555-0102,P2,Tom,A2,2030-03-04T10:00,,,yes",
        "C2,Bob Jones,(312) 555-0102,P3,Kiki,A3,2030-03-04T11:00,,,no",
        "C3,Cy Young,(312) 555-0103,P4,Max,A4,2030-03-04T12:00,,,",
    ]
    path.write_text("\n".join([",".join((*COLUMNS, "patient_deceased")), *rows]) + "\n", encoding="utf-8")
    code, out, _ = _import(capsys, path)
    assert code == 0 and "4 row(s) read for Happy Paws: 4 created" in out
    code, out, _ = _run(
        capsys,
        "preview",
        "--clinic",
        "Happy Paws",
        "--start",
        "2030-03-04T00:00",
        "--end",
        "2030-03-05T00:00",
    )
    assert code == 0
    assert "2 clients will be texted" in out
    assert (
        "1 will not be texted:\n"
        "  - Ann Smith ((312) 555-0101): Only appointments in the range are for Rex, marked deceased"
    ) in out
