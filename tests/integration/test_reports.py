"""The CSV report as a manager opens it in Excel: read back with Python's csv module and checked
byte by byte (BOM, phone numbers, column order, row order, error details), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from services.models import AlertDelivery, AlertState, DeliveryStatus, MassAlert, SkipReason
from services.reports import COLUMNS, phone_cell, write_report
from tests.integration.recipient_builders import Builder

NOON = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)  # 12:00 PM CST
MESSAGE = "We're closing at 3 PM today. Call 555-0100 to reschedule."
BOM = b"\xef\xbb\xbf"
NBSP = "\u00a0"


def _alert(sessions: sessionmaker[Session], deliveries: list[dict[str, Any]]) -> int:
    with sessions() as session, session.begin():
        b = Builder(session)
        clinic = b.clinic("Happy Paws", "America/Chicago")
        alert = MassAlert(
            clinic_id=clinic.id,
            created_by_name="Dr. Ana Lee",
            sender_key="+13125550000",
            pace_seconds=12,
            range_start=NOON,
            range_end=NOON + timedelta(days=1),
            message=MESSAGE,
            state=AlertState.COMPLETED,
            total_clients=len(deliveries),
            to_send=len(deliveries),
            created_at=NOON,
        )
        session.add(alert)
        session.flush()
        for position, fields in enumerate(deliveries):
            client = b.client(clinic, fields["client_full_name"], fields.get("phone_e164"))
            session.add(
                AlertDelivery(
                    alert_id=alert.id,
                    client_id=client.id,
                    position=position,
                    final_at=NOON + timedelta(minutes=position),
                    updated_at=NOON,
                    **fields,
                )
            )
        return alert.id


def _delivered(name: str, e164: str) -> dict[str, Any]:
    return dict(client_full_name=name, phone=e164, phone_e164=e164, status=DeliveryStatus.DELIVERED)


def _failed(
    name: str, e164: str, status: DeliveryStatus, code: str, message: str | None = None
) -> dict[str, Any]:
    return dict(
        client_full_name=name,
        phone=e164,
        phone_e164=e164,
        status=status,
        error_code=code,
        error_message=message,
    )


def _skipped(name: str, phone: str | None, reason: SkipReason, detail: str | None) -> dict[str, Any]:
    return dict(
        client_full_name=name,
        phone=phone,
        phone_e164=None,
        status=DeliveryStatus.SKIPPED,
        skip_reason=reason,
        skip_detail=detail,
    )


#: One alert with a row of every kind, in the order it was frozen (not the report's order).
ROWS = [
    _delivered("Zoë Álvarez", "+13125550128"),
    _skipped("Bea Opted", "(312) 555-0129", SkipReason.OPTED_OUT, "Opted out of texts on 2026-11-20"),
    _failed("carl Doe", "+13125550130", DeliveryStatus.UNDELIVERED, "30003"),
    _delivered("Gus Overseas", "+447700900123"),
    _skipped(
        "Dan Nomobile",
        "312-555-01289",
        SkipReason.NO_MOBILE,
        "No usable mobile number: '312-555-01289' is not a valid phone number: too long",
    ),
    _failed("Adam Brook", "+13125550131", DeliveryStatus.FAILED, "30006", "Failed: the number is a landline"),
    _skipped("Eve Empty", None, SkipReason.NO_MOBILE, "No mobile number on file"),
    _skipped("Hal Cancelled", "+13125550132", SkipReason.CANCELLED, None),
    _skipped("Ivy Formula", "=1+2", SkipReason.NO_MOBILE, "No usable mobile number: '=1+2'"),
    dict(client_full_name="Fay Pending", phone="+13125550133", phone_e164="+13125550133"),
    _delivered('=HYPERLINK("http://x.test")', "+13125550134"),
]


def _read(path: Path) -> tuple[bytes, list[list[str]]]:
    raw = path.read_bytes()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return raw, list(csv.reader(handle, dialect="excel"))


def test_the_report_opens_right_in_excel(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    alert_id = _alert(sessions, ROWS)
    raw, table = _read(write_report(sessions, alert_id, tmp_path))
    # A byte-order mark first (Excel then reads UTF-8: accented names show right), CRLF rows.
    assert raw.startswith(BOM + b"Client Full Name,Client Phone Number,SMS Status,Error Details,")
    assert raw[len(BOM) :].split(b"\r\n", 1)[0].decode() == ",".join(COLUMNS)
    assert "Zoë Álvarez".encode() in raw
    assert table[0] == list(COLUMNS)
    by_name = {row[0]: row for row in table[1:]}
    assert [row[0] for row in table[1:]] == [
        # failures, by name (case does not matter)
        "Adam Brook",
        "carl Doe",
        # not sent, by name
        "Bea Opted",
        "Dan Nomobile",
        "Eve Empty",
        "Fay Pending",
        "Hal Cancelled",
        "Ivy Formula",
        # delivered, by name
        '\'=HYPERLINK("http://x.test")',
        "Gus Overseas",
        "Zoë Álvarez",
    ]
    assert [row[2] for row in table[1:]] == ["Failed", "Undelivered"] + ["Not sent"] * 6 + ["Delivered"] * 3
    assert all(row[4] == MESSAGE for row in table[1:])
    assert by_name["Zoë Álvarez"][5] == "2026-12-02T12:00:00-06:00"


def test_every_usable_number_is_e164_kept_as_text(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    alert_id = _alert(sessions, ROWS)
    raw, table = _read(write_report(sessions, alert_id, tmp_path))
    phones = {row[0]: row[1] for row in table[1:]}
    # A no-break space before the +: Excel keeps the cell as text (no 4.4770E+11, no formula "=+44...").
    assert b",\xc2\xa0+447700900123," in raw and b",\xc2\xa0+13125550128," in raw
    assert phones["Gus Overseas"] == f"{NBSP}+447700900123"
    # The opted-out client's number was on file as "(312) 555-0129": the report writes it as E.164.
    assert phones["Bea Opted"] == f"{NBSP}+13125550129"
    assert phones["Hal Cancelled"] == f"{NBSP}+13125550132"
    usable = [p for name, p in phones.items() if name not in ("Dan Nomobile", "Eve Empty", "Ivy Formula")]
    assert all(p.startswith(f"{NBSP}+") and p[2:].isdigit() for p in usable)
    # Unusable numbers as the clinic gave them, marked; a formula-looking one cannot run.
    assert phones["Dan Nomobile"] == "Unusable: 312-555-01289"
    assert phones["Eve Empty"] == "Unusable: none given"
    assert phones["Ivy Formula"] == "Unusable: =1+2"
    assert not any(cell[:1] in ("=", "+", "-", "@") for row in table[1:] for cell in row)


def test_error_details_do_not_repeat_the_status(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    alert_id = _alert(sessions, ROWS)
    _, table = _read(write_report(sessions, alert_id, tmp_path))
    details = {row[0]: row[3] for row in table[1:]}
    assert details["Bea Opted"] == "Opted out of texts on 2026-11-20"
    assert details["Adam Brook"] == "The number is a landline"
    assert details["carl Doe"] == "Twilio error 30003"
    assert details["Eve Empty"] == "No mobile number on file"
    assert details["Hal Cancelled"] == "Cancelled"
    assert details["Fay Pending"] == "The alert ended before this text's turn"
    assert details["Zoë Álvarez"] == ""
    for name, status, text in ((row[0], row[2], row[3]) for row in table[1:]):
        assert not text.lower().startswith(status.lower()), (name, text)


def test_phone_cells() -> None:
    assert phone_cell("+13125550128", "312-555-0128") == "\u00a0+13125550128"
    assert phone_cell(None, "  555-CALL-NOW ") == "Unusable: 555-CALL-NOW"
    assert phone_cell(None, None) == "Unusable: none given"
