"""The article's send-time rule: "clients with an appointment in the future at the time the text is sent".

Recipients are frozen when the alert is confirmed; at each text's turn the client must still have a
non-cancelled appointment in the alert's range that starts after now, else the row is Not sent with a
plain reason (in the report too), and the unused slot goes to the next client.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from services.clinics import add_clinic
from services.clock import ManualClock
from services.db import transaction
from services.importer import COLUMNS, import_csv
from services.models import DeliveryStatus
from tests.fakes import FakeGateway, RecordingNotifier
from tests.integration.test_delivery import deliveries, dispatcher, new_alert, read_report, run_until_idle

PACE = 12.0


def _rows(clock: ManualClock, cancelled: set[str]) -> str:
    """The clinic's export: four clients, appointments at +5 s, +10 s, +1 day and +2 days."""
    now = clock.now()

    def at(offset: timedelta) -> str:
        return (now + offset).strftime("%Y-%m-%dT%H:%M:%SZ")

    clients = [
        ("C1", "Ann Early", "+13125550101", timedelta(seconds=5)),
        ("C2", "Bob Soon", "+13125550102", timedelta(seconds=10)),
        ("C3", "Cat Later", "+13125550103", timedelta(days=1)),
        ("C4", "Dan Last", "+13125550104", timedelta(days=2)),
    ]
    lines = [",".join(COLUMNS)]
    for ext, name, phone, offset in clients:
        status = "cancelled" if ext in cancelled else "scheduled"
        lines.append(f"{ext},{name},{phone},P{ext},Rex,A{ext},{at(offset)},,{status}")
    return "\n".join(lines) + "\n"


def _import(
    sessions: sessionmaker[Session], clinic_id: int, clock: ManualClock, tmp: Path, cancelled: set[str]
):
    path = tmp / f"export-{len(cancelled)}.csv"
    path.write_text(_rows(clock, cancelled), encoding="utf-8")
    return import_csv(sessions, clinic_id, path)


def test_appointments_started_or_cancelled_during_the_alert_are_not_texted(
    sessions: sessionmaker[Session], clock: ManualClock, tmp_path: Path
) -> None:
    start: datetime = clock.now()
    with transaction(sessions) as session:
        clinic_id = add_clinic(
            session, name="Send Time", timezone="UTC", sms_from="+15005550006", alert_pace_seconds=PACE
        ).id
    _import(sessions, clinic_id, clock, tmp_path, cancelled=set())
    alert_id = new_alert(sessions, clock, clinic_id)
    gateway = FakeGateway(clock)
    d = dispatcher(sessions, clock, gateway, tmp_path, RecordingNotifier())

    run_until_idle(d, clock, 2)  # the first text (Ann, appointment in 5 s) goes at once
    assert [t.request.to for t in gateway.sent] == ["+13125550101"]
    # Cat's visit is cancelled in the practice system and re-imported while the alert is sending.
    _import(sessions, clinic_id, clock, tmp_path, cancelled={"C3"})
    run_until_idle(d, clock, 60)

    rows = {r.client_full_name: r for r in deliveries(sessions, alert_id)}
    assert [t.request.to for t in gateway.sent] == ["+13125550101", "+13125550104"]
    assert rows["Bob Soon"].status == DeliveryStatus.SKIPPED
    assert rows["Bob Soon"].skip_reason == "appointment_started"
    assert rows["Cat Later"].status == DeliveryStatus.SKIPPED
    assert rows["Cat Later"].skip_reason == "not_booked"
    # Skipped turns are not wasted: Dan's text goes one pace after Ann's, not three (ticks are 1 s here).
    dan_at = gateway.sent[1].at
    assert timedelta(seconds=PACE) <= dan_at - start < timedelta(seconds=2 * PACE)

    run_until_idle(d, clock, 90, step=10)  # past the completion grace: the alert completes, with its report
    notifier = d.notifier
    assert isinstance(notifier, RecordingNotifier) and notifier.completed
    report = {r["Client Full Name"]: r for r in read_report(notifier.completed[-1][1])}
    assert report["Bob Soon"]["SMS Status"] == "Not sent"
    assert "appointment already started" in report["Bob Soon"]["Error Details"].lower()
    assert "no longer booked in this range" in report["Cat Later"]["Error Details"].lower()
    assert report["Dan Last"]["SMS Status"] in ("Sent", "Delivered")
