"""CSV import: idempotent upsert by external ids, bad rows reported, unreadable files change nothing."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.clinics import add_clinic
from services.db import transaction
from services.errors import InvalidInput, NotFound
from services.importer import COLUMNS, BadRow, FlaggedPhone, PhoneNote, import_csv
from services.models import Appointment, Client, Patient

HEADER = ",".join(COLUMNS)
BASE_ROWS = [
    "C1,Ann Smith,(312) 555-0101,P1,Rex,A1,2026-12-02T09:00,2026-12-02T09:30,scheduled",
    "C1,Ann Smith,(312) 555-0101,P2,Tom,A2,2026-12-02T10:00-06:00,,confirmed",
    "C1,Ann Smith,(312) 555-0101,P2,Tom,A3,2026-12-09T10:00Z,,",
    "C2,Bob Jones,+1 773 555 0102,P3,Fido,A4,2026-12-03 14:30,2026-12-03 15:00,Cancelled",
]


def _csv(rows: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def _write(tmp_path: Path, content: str | bytes, name: str = "export.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _snapshot(sessions: sessionmaker[Session]) -> dict[str, list[Any]]:
    """Every imported value, as a user of the database would see them."""
    with sessions() as session:
        clients = session.execute(
            select(
                Client.id,
                Client.external_id,
                Client.full_name,
                Client.phone_raw,
                Client.phone_e164,
                Client.phone_error,
            ).order_by(Client.id)
        ).all()
        patients = session.execute(
            select(Patient.id, Patient.external_id, Patient.client_id, Patient.name).order_by(Patient.id)
        ).all()
        appointments = session.execute(
            select(
                Appointment.id,
                Appointment.external_id,
                Appointment.patient_id,
                Appointment.client_id,
                Appointment.start_at,
                Appointment.end_at,
                Appointment.status,
            ).order_by(Appointment.id)
        ).all()
    return {
        "clients": [tuple(r) for r in clients],
        "patients": [tuple(r) for r in patients],
        "appointments": [tuple(r) for r in appointments],
    }


def _by_ext(sessions: sessionmaker[Session], model: Any) -> dict[str, Any]:
    with sessions() as session:
        return {row.external_id: row for row in session.scalars(select(model))}


@pytest.fixture
def clinic_id(sessions: sessionmaker[Session]) -> int:
    with transaction(sessions) as session:
        clinic = add_clinic(
            session, name="Happy Paws Test", timezone="America/Chicago", sms_from="+15005550006"
        )
        return clinic.id


def test_import_creates_everything_and_reimport_changes_nothing(
    sessions: sessionmaker[Session], clinic_id: int, tmp_path: Path
) -> None:
    path = _write(tmp_path, _csv(BASE_ROWS))
    report = import_csv(sessions, clinic_id, path)
    assert (report.clients.created, report.patients.created, report.appointments.created) == (2, 3, 4)
    assert report.bad_rows == [] and report.flagged_phones == [] and report.rows_read == 4

    clients = _by_ext(sessions, Client)
    assert clients["C1"].phone_e164 == "+13125550101" and clients["C1"].phone_raw == "(312) 555-0101"
    assert clients["C2"].phone_e164 == "+17735550102"
    patients = _by_ext(sessions, Patient)
    appointments = _by_ext(sessions, Appointment)
    assert appointments["A1"].start_at == datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 09:00 Chicago (CST)
    assert appointments["A1"].end_at == datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
    assert appointments["A2"].start_at == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
    assert appointments["A3"].start_at == datetime(2026, 12, 9, 10, 0, tzinfo=UTC)
    assert [appointments[a].status for a in ("A1", "A2", "A3", "A4")] == [
        "scheduled",
        "confirmed",
        "scheduled",
        "cancelled",
    ]
    assert appointments["A3"].patient_id == patients["P2"].id
    assert appointments["A3"].client_id == clients["C1"].id
    assert appointments["A4"].client_id == clients["C2"].id

    before = _snapshot(sessions)
    again = import_csv(sessions, clinic_id, path, batch_size=1)
    assert (again.clients.unchanged, again.patients.unchanged, again.appointments.unchanged) == (2, 3, 4)
    assert not again.changed_anything
    assert _snapshot(sessions) == before


def test_changes_are_applied_and_a_pet_moving_owner_takes_its_appointments(
    sessions: sessionmaker[Session], clinic_id: int, tmp_path: Path
) -> None:
    import_csv(sessions, clinic_id, _write(tmp_path, _csv(BASE_ROWS)))
    changed = [
        "C1,Ann Smith-Lee,(312) 555-0101,P1,Rex,A1,2026-12-02T11:00,,confirmed",
        # Tom now belongs to Bob; A3 is not in this file but must follow Tom too.
        "C2,Bob Jones,+1 773 555 0102,P2,Tom,A2,2026-12-02T10:00-06:00,,confirmed",
        "C3,Cara Diaz,312 555 0103,P4,Kiki,A5,2026-12-04T08:00,,",
    ]
    report = import_csv(sessions, clinic_id, _write(tmp_path, _csv(changed), "second.csv"))
    assert (report.clients.created, report.clients.updated, report.clients.unchanged) == (1, 1, 1)
    assert (report.patients.created, report.patients.updated, report.patients.unchanged) == (1, 1, 1)
    appointments = report.appointments
    assert (appointments.created, appointments.updated, appointments.unchanged) == (1, 1, 1)

    clients = _by_ext(sessions, Client)
    patients = _by_ext(sessions, Patient)
    appointments = _by_ext(sessions, Appointment)
    assert clients["C1"].full_name == "Ann Smith-Lee"
    assert appointments["A1"].start_at == datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
    assert appointments["A1"].end_at is None and appointments["A1"].status == "confirmed"
    assert patients["P2"].client_id == clients["C2"].id
    assert appointments["A2"].client_id == clients["C2"].id
    assert appointments["A3"].client_id == clients["C2"].id
    assert len(appointments) == 5  # nothing is deleted by an import


def test_bad_rows_are_reported_by_line_while_good_rows_import(
    sessions: sessionmaker[Session], clinic_id: int, tmp_path: Path
) -> None:
    rows = [
        "C1,Ann Smith,(312) 555-0101,P1,Rex,A1,2026-12-02T09:00,,",  # line 2: good
        ",No Id,(312) 555-0109,P9,Ghost,A9,2026-12-02T09:00,,",  # 3
        "C2,Bob,(312) 555-0102,P2,Fido,A2,next tuesday,,",  # 4
        "C2,Bob,(312) 555-0102,P2,Fido,A3,2026-12-02,,",  # 5
        "C2,Bob,(312) 555-0102,P2,Fido,A4,2026-12-02T10:00,2026-12-02T09:00,",  # 6
        "C2,Bob,(312) 555-0102,P2,Fido,A5,2026-12-02T10:00,,postponed",  # 7
        "C2,Bob,(312) 555-0102,P2,Fido",  # 8
        'C3,"Cara\nDiaz",(312) 555-0103,P3,Kiki,A6,2026-12-02T11:00,,',  # 9-10: a name across two lines
        "C1,Ann Smith,(312) 555-0101,P1,Rex,A1,2026-12-02T12:00,,",  # 11: A1 again
        "C1,Ann Jones,(312) 555-0101,P5,Bo,A7,2026-12-02T12:00,,",  # 12: C1 with another name
        "C4,Dee,(312) 555-0104,P1,Rex,A8,2026-12-02T12:00,,",  # 13: P1 under another client
        "",  # 14: blank lines are skipped
        "C5,Eve,(312) 555-0105,P6,Ozzy,A10,2026-12-02T13:00,,NO-SHOW",  # 15: good
        "C6,Fay,(312) 555-0106,P7,Zed,A11,2026-12-02T13:00,,scheduled,,",  # 16: empty trailing cells are fine
        "C7,Gus,(312) 555-0107,P8,Pip,A12,2026-12-02T13:00,,scheduled,surprise",  # 17
        "C8,Hal,(312) 555-0108,P10,Ace,A13,2026-12-02T13:00,,\x00",  # 18
    ]
    report = import_csv(sessions, clinic_id, _write(tmp_path, _csv(rows)), batch_size=3)
    reasons = {bad.line: bad.reason for bad in report.bad_rows}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 11, 12, 13, 17, 18]
    assert reasons[3] == "client_external_id is empty"
    assert "appointment_start 'next tuesday' is not a date and time" in reasons[4]
    assert "has no time of day" in reasons[5]
    assert reasons[6] == "appointment_end is before appointment_start"
    assert reasons[7].startswith("appointment_status 'postponed' is not one of:")
    assert reasons[8] == "has 5 values, expected 9 (one per header column)"
    assert reasons[11] == "appointment A1 is already on line 2"
    assert reasons[12] == "client C1 is on line 2 with a different name or phone number"
    assert reasons[13] == "patient P1 is on line 2 with a different name or client"
    assert reasons[17] == "has 10 values, expected 9 (one per header column)"
    assert "NUL" in reasons[18]
    assert set(_by_ext(sessions, Appointment)) == {"A1", "A6", "A10", "A11"}
    assert _by_ext(sessions, Client)["C3"].full_name == "Cara Diaz"
    assert _by_ext(sessions, Appointment)["A10"].status == "no_show"
    assert report.appointments.created == 4 and report.rows_read == 15


def test_an_unclosed_quote_is_named_as_the_likely_cause(
    sessions: sessionmaker[Session], clinic_id: int, tmp_path: Path
) -> None:
    rows = [
        'C1,"Ann Smith,(312) 555-0101,P1,Rex,A1,2026-12-02T09:00,,',
        "C2,Bob,,P2,Fido,A2,2026-12-02T10:00,,",
    ]
    report = import_csv(sessions, clinic_id, _write(tmp_path, _csv(rows)))
    assert report.bad_rows == [BadRow(2, report.bad_rows[0].reason)]
    assert report.bad_rows[0].reason.startswith("lines 2-3 were read as one row")
    assert "quote" in report.bad_rows[0].reason


def test_unusable_numbers_are_kept_as_given_and_flagged(
    sessions: sessionmaker[Session], clinic_id: int, tmp_path: Path
) -> None:
    rows = [
        "C1,Ann,555-01,P1,Rex,A1,2026-12-02T09:00,,",
        "C1,Ann,555-01,P2,Tom,A2,2026-12-02T10:00,,",
        "C2,Bob,,P3,Fido,A3,2026-12-02T09:00,,",
        "C3,Cy,+44 20 7946 0000,P4,Kiki,A4,2026-12-02T09:00,,",
        "C4,Di,+15005550009,P5,Ozzy,A5,2026-12-02T09:00,,",
    ]
    report = import_csv(sessions, clinic_id, _write(tmp_path, _csv(rows)))
    assert report.flagged_phones == [
        FlaggedPhone(2, "C1", "555-01", "'555-01' is not a valid phone number: too short"),
        FlaggedPhone(4, "C2", "", "No phone number given"),
        FlaggedPhone(5, "C3", "+44 20 7946 0000", "'+44 20 7946 0000' is a landline, not a mobile number"),
    ]
    clients = _by_ext(sessions, Client)
    assert len(clients) == 4 and report.appointments.created == 5
    assert (clients["C1"].phone_raw, clients["C1"].phone_e164) == ("555-01", None)
    assert clients["C1"].phone_error == "'555-01' is not a valid phone number: too short"
    assert (clients["C2"].phone_raw, clients["C2"].phone_error) == (None, "No phone number given")
    assert (clients["C4"].phone_e164, clients["C4"].phone_error) == ("+15005550009", None)


def test_header_may_have_a_bom_spaces_any_order_any_case_and_extra_columns(
    sessions: sessionmaker[Session], clinic_id: int, tmp_path: Path
) -> None:
    header = (
        "\ufeff Appointment_Start , appointment_external_id,notes,client_phone,patient_name,"
        "patient_external_id,client_full_name,client_external_id,appointment_end,appointment_status"
    )
    row = "2026-12-02T09:00,A1,bring the leash,(312) 555-0101,Rex,P1,Ann Smith,C1,,confirmed"
    path = _write(tmp_path, (header + "\r\n" + row + "\r\n").encode("utf-8"))
    report = import_csv(sessions, clinic_id, path)
    assert report.ignored_columns == ["notes"] and report.bad_rows == []
    appointment = _by_ext(sessions, Appointment)["A1"]
    assert appointment.start_at == datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    assert appointment.status == "confirmed"
    assert _by_ext(sessions, Client)["C1"].full_name == "Ann Smith"


def test_text_and_binary_streams_import_and_are_left_open(
    sessions: sessionmaker[Session], clinic_id: int
) -> None:
    binary = io.BytesIO(_csv(BASE_ROWS).encode("utf-8-sig"))
    assert import_csv(sessions, clinic_id, binary).appointments.created == 4
    assert not binary.closed
    text_stream = io.StringIO(_csv(BASE_ROWS))
    assert import_csv(sessions, clinic_id, text_stream).appointments.unchanged == 4
    assert not text_stream.closed


def test_a_header_missing_columns_refuses_the_whole_file(
    sessions: sessionmaker[Session], clinic_id: int, tmp_path: Path
) -> None:
    header = "client_external_id,client_full_name,patient_external_id,patient_name,appointment_external_id"
    with pytest.raises(InvalidInput) as caught:
        import_csv(sessions, clinic_id, _write(tmp_path, _csv(["C1,Ann,P1,Rex,A1"], header)))
    message = str(caught.value)
    assert "client_phone, appointment_start, appointment_end, appointment_status" in message
    assert _snapshot(sessions) == {"clients": [], "patients": [], "appointments": []}


def test_a_tab_separated_file_gets_a_hint(
    sessions: sessionmaker[Session], clinic_id: int, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="tab- or semicolon-separated"):
        import_csv(sessions, clinic_id, _write(tmp_path, "\t".join(COLUMNS) + "\n"))


def _many_rows(count: int) -> list[str]:
    return [
        f"C{i},Client {i},(312) 555-01{i % 100:02d},P{i},Pet {i},A{i},2026-12-02T09:00,,"
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            _csv(_many_rows(30)).encode() + "C99,Zoë,,P99,Rex,A99,2026-12-02T09:00,,\n".encode("latin-1"),
            "not UTF-8 text",
        ),
        (
            _csv(_many_rows(30)) + "C99," + "x" * 200_000 + ",,P99,Rex,A99,2026-12-02T09:00,,\n",
            "not a readable CSV file",
        ),
        (b"", "The file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "not UTF-8 text"),
        (b'{"clients": []}\n', "its first line is not the expected header"),
    ],
    ids=["latin1-after-batches", "huge-field-after-batches", "empty", "binary", "json"],
)
def test_an_unreadable_file_leaves_the_database_as_it_was(
    sessions: sessionmaker[Session], clinic_id: int, tmp_path: Path, content: str | bytes, message: str
) -> None:
    import_csv(sessions, clinic_id, _write(tmp_path, _csv(BASE_ROWS), "earlier.csv"))
    before = _snapshot(sessions)
    with pytest.raises(InvalidInput, match=message):
        import_csv(sessions, clinic_id, _write(tmp_path, content), batch_size=4)
    assert _snapshot(sessions) == before


def test_a_missing_file_a_bad_region_and_an_unknown_clinic_are_refused(
    sessions: sessionmaker[Session], clinic_id: int, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="there is no such file"):
        import_csv(sessions, clinic_id, tmp_path / "nope.csv")
    with pytest.raises(InvalidInput, match="is not a phone region"):
        import_csv(sessions, clinic_id, _write(tmp_path, _csv(BASE_ROWS)), region="XX")
    with pytest.raises(NotFound):
        import_csv(sessions, clinic_id + 1000, _write(tmp_path, _csv(BASE_ROWS)))
    assert _snapshot(sessions)["clients"] == []


def test_local_times_in_dst_changes_are_resolved_predictably(
    sessions: sessionmaker[Session], clinic_id: int, tmp_path: Path
) -> None:
    rows = [
        # 02:30 does not exist on 2026-03-08 in Chicago: read with the offset before the change (CST),
        # which lands on 03:30 CDT.
        "C1,Ann,(312) 555-0101,P1,Rex,A1,2026-03-08T02:30,,",
        # 01:30 happens twice on 2026-11-01: the first occurrence (CDT, UTC-5) is meant.
        "C1,Ann,(312) 555-0101,P1,Rex,A2,2026-11-01T01:30,,",
        # An explicit offset picks the second occurrence.
        "C1,Ann,(312) 555-0101,P1,Rex,A3,2026-11-01T01:30:00-06:00,,",
        "C1,Ann,(312) 555-0101,P1,Rex,A4,2026-07-01T09:00,,",  # summer: CDT
    ]
    import_csv(sessions, clinic_id, _write(tmp_path, _csv(rows)))
    starts = {ext: a.start_at for ext, a in _by_ext(sessions, Appointment).items()}
    assert starts == {
        "A1": datetime(2026, 3, 8, 8, 30, tzinfo=UTC),
        "A2": datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
        "A3": datetime(2026, 11, 1, 7, 30, tzinfo=UTC),
        "A4": datetime(2026, 7, 1, 14, 0, tzinfo=UTC),
    }


def test_clients_and_pets_repeated_across_batches_are_counted_once(
    sessions: sessionmaker[Session], clinic_id: int, tmp_path: Path
) -> None:
    # 18 appointments of 6 pets owned by 3 clients: every client and pet recurs in later batches.
    rows = [
        f"C{i % 3},Client {i % 3},(312) 555-010{i % 3},P{i % 6},Pet {i % 6},A{i},2026-12-02T09:00,,"
        for i in range(18)
    ]
    path = _write(tmp_path, _csv(rows))
    report = import_csv(sessions, clinic_id, path, batch_size=2)
    assert report.bad_rows == []
    assert (report.clients.total, report.patients.total, report.appointments.total) == (3, 6, 18)
    assert (report.clients.created, report.patients.created, report.appointments.created) == (3, 6, 18)
    patients = {p.id: p for p in _by_ext(sessions, Patient).values()}
    for appointment in _by_ext(sessions, Appointment).values():
        assert appointment.client_id == patients[appointment.patient_id].client_id
    again = import_csv(sessions, clinic_id, path, batch_size=1000)
    assert (again.clients.unchanged, again.patients.unchanged, again.appointments.unchanged) == (
        report.clients.created,
        report.patients.created,
        report.appointments.created,
    )


def test_each_clinic_has_its_own_external_ids(
    sessions: sessionmaker[Session], clinic_id: int, tmp_path: Path
) -> None:
    with transaction(sessions) as session:
        other = add_clinic(
            session, name="Other Clinic", timezone="America/New_York", sms_from="+15005550006"
        ).id
    path = _write(tmp_path, _csv(BASE_ROWS))
    import_csv(sessions, clinic_id, path)
    report = import_csv(sessions, other, path)
    assert report.appointments.created == 4
    with sessions() as session:
        a1 = session.scalars(
            select(Appointment).where(Appointment.external_id == "A1", Appointment.clinic_id == other)
        ).one()
    assert a1.start_at == datetime(2026, 12, 2, 14, 0, tzinfo=UTC)  # 09:00 in New York


def test_phone_notes_and_deceased_flags_reach_the_report_and_the_database(
    sessions: sessionmaker[Session], clinic_id: int
) -> None:
    rows = [
        'C1,Ann,"312-555-0128 ext. 2",P1,Rex,A1,2026-12-02T09:00,,,yes',
        'C1,Ann,"312-555-0128 ext. 2",P1,Rex,A2,2026-12-03T09:00,,,',
        'C2,Bob,"312-555-0129 / 773-555-0130",P2,Tom,A3,2026-12-02T10:00,,,no',
    ]
    report = import_csv(sessions, clinic_id, io.StringIO(_csv(rows, HEADER + ",patient_deceased")))
    assert report.bad_rows == [] and report.ignored_columns == []
    assert report.phone_notes == [
        PhoneNote(2, "C1", "312-555-0128 ext. 2", "extension 2 noted; texts go to +13125550128 itself"),
        PhoneNote(
            4,
            "C2",
            "312-555-0129 / 773-555-0130",
            "2 numbers given; texting +13125550129, not +17735550130",
        ),
    ]
    patients = _by_ext(sessions, Patient)
    assert (patients["P1"].deceased, patients["P2"].deceased) == (True, False)
    clients = _by_ext(sessions, Client)
    assert clients["C1"].phone_raw == "312-555-0128 ext. 2" and clients["C1"].phone_e164 == "+13125550128"


_CELLS = st.one_of(
    st.text(max_size=24),
    st.sampled_from(
        [
            "",
            "9999-12-31T23:59",
            "0001-01-01T00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "2026-03-08T02:30",
            "2026-11-01T01:30",
            "12/01/2026 9:00 AM",
            "31/12/2026 25:61",
            "00/00/0000 0:00 PM",
            "2026-12-01 13:00 PM",
            "312-555-0128 mobile",
            "(312) 555-0129 (cell) x4 / 773-555-0130",
            "+44 20 7946 0958, +44 20 7946 0959",
            "true",
            "maybe",
            "cancelled",
            '"',
            "\x00",
            "\ufeff",
            "x" * 300,
        ]
    ),
    st.builds(
        "{}/{}/{} {}:{:02d} {}".format,
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 99999),
        st.integers(0, 99),
        st.integers(0, 99),
        st.sampled_from(["", "AM", "pm"]),
    ),
    st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}{}".format,
        st.integers(0, 9999),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 25),
        st.integers(0, 61),
        st.sampled_from(["", "Z", "+14:00", "-12:00", "+25:00"]),
    ),
)
_IDS = st.sampled_from(["C1", "C2", "P1", "P2", "A1", "A2", "A3"]) | _CELLS
_DATES = _CELLS.filter(lambda cell: any(ch.isdigit() for ch in cell)) | st.sampled_from(["2026-12-02T09:00"])
_PHONES = st.sampled_from(["(312) 555-0101", "555-01", "+15005550006"]) | _CELLS
_SHAPED_ROW = st.tuples(
    _IDS, _CELLS, _PHONES, _IDS, _CELLS, _IDS, _DATES, _DATES | st.just(""), _CELLS, _CELLS
).map(list)
_ROWS = st.lists(_SHAPED_ROW | st.lists(_CELLS, max_size=12), max_size=8)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=_ROWS, raw_tail=st.text(max_size=60), deceased_column=st.booleans())
def test_no_file_ends_in_a_traceback(
    sessions: sessionmaker[Session],
    clinic_id: int,
    rows: list[list[str]],
    raw_tail: str,
    deceased_column: bool,
) -> None:
    """Whatever the cells hold, the import either reports per row or refuses the file with a reason."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*COLUMNS, *(["patient_deceased"] if deceased_column else [])])
    writer.writerows(rows)
    out.write(raw_tail)  # and some text that need not be valid CSV
    try:
        report = import_csv(sessions, clinic_id, io.StringIO(out.getvalue()))
    except InvalidInput as refused:
        assert str(refused)
        return
    # The summary adds up: every row read was created, updated, unchanged or refused.
    assert report.rows_read == report.appointments.total + report.rows_refused
    assert all(bad.reason for bad in report.bad_rows)
