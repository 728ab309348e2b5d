"""The CSV report: one row per client of an alert, streamed from the database to a file.

Written for Excel, where managers open it: UTF-8 with a byte-order mark, Python's csv module in
its `excel` dialect (quoting, CRLF line ends), phone numbers Excel keeps as text, no cell that
Excel would run as a formula.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from services.db import read_sessions
from services.models import HANDED_OVER, AlertDelivery, Clinic, DeliveryStatus, MassAlert, SkipReason
from services.outcomes import skip_words, sms_status
from services.phones import normalize_phone
from services.retry_links import retry_number

COLUMNS = (
    "Client Full Name",
    "Client Phone Number",
    "SMS Status",
    "Error Details",
    "Message Text",
    "Timestamp",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Put before a usable E.164 number: U+00A0 NO-BREAK SPACE. Excel reads a cell that starts with it as
#: text (Microsoft KB 38369), so "+13125550128" is neither turned into the number 1.31256E+10 nor
#: run as a formula "=+1...", and the leading + stays in the file as written.
PHONE_PREFIX = "\u00a0"
#: Written before a number that cannot be texted, followed by the number as the clinic gave it.
UNUSABLE = "Unusable: "
#: Report order: failures, then texts not sent, then everything that went out; by name within each.
_FAILED = (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)
_NOT_SENT = (DeliveryStatus.SKIPPED, DeliveryStatus.PENDING)


def neutralize(value: str) -> str:
    """Keep a spreadsheet from running a cell as a formula: one starting = + - @ tab or CR gets a '.

    The rule of OWASP's "CSV Injection" page.
    """
    return "'" + value if value.startswith(_FORMULA_START) else value


def phone_cell(e164: str | None, given: str | None) -> str:
    """The Client Phone Number cell: `\u00a0+13125550128` for a usable number (always E.164),
    `Unusable: 555-CALL` (the number as given, marked) for one that cannot be texted, and
    `Unusable: none given` when the client has no number.
    """
    if e164:
        return PHONE_PREFIX + e164
    shown = (given or "").strip()
    return UNUSABLE + (shown if shown else "none given")


def report_filename(alert: MassAlert, tz: ZoneInfo) -> str:
    """mass-alert-12-2026-12-02.csv (the alert's local creation date)."""
    return f"mass-alert-{alert.id}-{alert.created_at.astimezone(tz).date().isoformat()}.csv"


def _without_status(details: str, status: str) -> str:
    """Details that do not say the SMS Status again: 'Not sent: opted out' under Not sent -> 'Opted out'."""
    for lead in (f"{status}: ", f"{status}. ", f"{status} - "):
        if details.lower().startswith(lead.lower()):
            rest = details[len(lead) :]
            return rest[:1].upper() + rest[1:]
    return details


def _details(delivery: AlertDelivery, status: str) -> str:
    if delivery.status == DeliveryStatus.SKIPPED:
        words = skip_words(delivery.skip_reason).heading if delivery.skip_reason else ""
        details = delivery.skip_detail or words
    elif delivery.status in _FAILED:
        details = delivery.error_message or (
            f"Twilio error {delivery.error_code}" if delivery.error_code else ""
        )
    elif delivery.status == DeliveryStatus.PENDING:
        details = "The alert ended before this text's turn"
    else:
        details = ""
    return _without_status(details, status)


def _phone(delivery: AlertDelivery) -> str:
    e164 = delivery.phone_e164
    if e164 is None and delivery.skip_reason != SkipReason.NO_MOBILE:
        # Not-texted rows keep the number as given: an opted-out or shared number is still usable.
        e164 = normalize_phone(delivery.phone).e164
    return phone_cell(e164, delivery.phone)


def _attempt(delivery: AlertDelivery, alert: MassAlert, number: int) -> str:
    """On a retry's report, which attempt this row is: 'Reached on retry #1 of mass text alert #12'."""
    if alert.retry_of_alert_id is None:
        return ""
    of = f"retry #{number} of mass text alert #{alert.retry_of_alert_id}"
    if delivery.status in HANDED_OVER:
        return f"Reached on {of}"
    return f"Not reached on {of}"


def _timestamp(delivery: AlertDelivery, alert: MassAlert, tz: ZoneInfo) -> str:
    moment: datetime = delivery.final_at or delivery.requested_at or delivery.slot_at or alert.created_at
    return moment.astimezone(tz).isoformat(timespec="seconds")


def rows(session: Session, alert: MassAlert, tz: ZoneInfo) -> Iterator[list[str]]:
    """The report's rows, read in batches: failures first, then not sent, then sent, each by name."""
    group = case(
        (AlertDelivery.status.in_([str(s) for s in _FAILED]), 0),
        (AlertDelivery.status.in_([str(s) for s in _NOT_SENT]), 1),
        else_=2,
    )
    query = (
        select(AlertDelivery)
        .where(AlertDelivery.alert_id == alert.id)
        .order_by(group, func.lower(AlertDelivery.client_full_name), AlertDelivery.id)
        .execution_options(yield_per=2000)
    )
    number = retry_number(session, alert)
    for delivery in session.scalars(query):
        status = sms_status(delivery.status)
        parts = (_attempt(delivery, alert, number), _details(delivery, status))
        details = "; ".join(part for part in parts if part)
        yield [
            neutralize(delivery.client_full_name),
            _phone(delivery),
            status,
            neutralize(details),
            neutralize(delivery.body or alert.message),  # the text sent to this client
            _timestamp(delivery, alert, tz),
        ]
        session.expunge(delivery)


def write_report(sessions: sessionmaker[Session], alert_id: int, reports_dir: Path) -> Path:
    """Write the alert's CSV (atomically: a temporary file renamed into place); return its path."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    with read_sessions(sessions)() as session:
        alert = session.get(MassAlert, alert_id)
        if alert is None:
            raise LookupError(f"no mass alert #{alert_id}")
        clinic = session.get(Clinic, alert.clinic_id)
        assert clinic is not None
        tz = ZoneInfo(clinic.timezone)
        path = reports_dir / report_filename(alert, tz)
        partial = path.with_suffix(".csv.partial")
        # utf-8-sig writes the byte-order mark Excel needs to read the file as UTF-8 (accented names).
        with partial.open("w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle, dialect="excel")
            writer.writerow(COLUMNS)
            for row in rows(session, alert, tz):
                writer.writerow(row)
        os.replace(partial, path)
    return path.resolve()
