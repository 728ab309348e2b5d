"""The CSV report: one row per client of an alert, streamed from the database to a file."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.db import read_sessions
from services.models import HANDED_OVER, AlertDelivery, Clinic, DeliveryStatus, MassAlert
from services.outcomes import skip_words, sms_status
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
_PHONE = re.compile(r"^\+\d{6,15}$")


def neutralize(value: str) -> str:
    """Keep a spreadsheet from running a cell as a formula (a plain E.164 number stays as it is)."""
    if value.startswith(_FORMULA_START) and not _PHONE.match(value):
        return "'" + value
    return value


def report_filename(alert: MassAlert, tz: ZoneInfo) -> str:
    """mass-alert-12-2026-12-02.csv (the alert's local creation date)."""
    return f"mass-alert-{alert.id}-{alert.created_at.astimezone(tz).date().isoformat()}.csv"


def _details(delivery: AlertDelivery) -> str:
    if delivery.status == DeliveryStatus.SKIPPED:
        words = skip_words(delivery.skip_reason).report if delivery.skip_reason else "Not sent"
        return f"{words}. {delivery.skip_detail}" if delivery.skip_detail else words
    if delivery.status in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED):
        return delivery.error_message or (
            f"Twilio error {delivery.error_code}" if delivery.error_code else "Failed"
        )
    if delivery.status == DeliveryStatus.PENDING:
        return "Not sent: the alert ended before this text's turn"
    return ""


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
    """The report's rows in the alert's order, read in batches."""
    query = (
        select(AlertDelivery)
        .where(AlertDelivery.alert_id == alert.id)
        .order_by(AlertDelivery.position, AlertDelivery.id)
        .execution_options(yield_per=2000)
    )
    number = retry_number(session, alert)
    for delivery in session.scalars(query):
        details = "; ".join(part for part in (_attempt(delivery, alert, number), _details(delivery)) if part)
        yield [
            neutralize(delivery.client_full_name),
            neutralize(delivery.phone_e164 or delivery.phone or ""),
            sms_status(delivery.status),
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
        with partial.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for row in rows(session, alert, tz):
                writer.writerow(row)
        os.replace(partial, path)
    return path.resolve()
