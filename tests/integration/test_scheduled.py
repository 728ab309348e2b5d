"""Send later: held as scheduled, started by the dispatcher's tick exactly once, recipients counted then."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from services import alerts, db, scheduled
from services.clock import ManualClock
from services.models import AlertDelivery, Clinic, MassAlert
from services.timeranges import TimeRange
from tests.e2e.test_send_cli import run_cli, send_args
from tests.fakes import FakeGateway, RecordingNotifier
from tests.integration.recipient_builders import Builder
from tests.integration.test_delivery import dispatcher, make_clinic, run_until_idle


def schedule(sessions: sessionmaker[Session], clock: ManualClock, clinic_id: int, hours: float = 2) -> int:
    start = clock.now() + timedelta(hours=hours)
    alert_id, _ = alerts.create_alert(
        sessions,
        alerts.AlertRequest(
            clinic_id,
            "Dr. Ana Lee",
            TimeRange(start, start + timedelta(days=3)),
            "Closed tomorrow.",
            start_at=start,
        ),
        now=clock.now(),
        default_pace=1.0,
        max_chars=320,
    )
    return alert_id


def test_held_until_its_time_then_sent_once_with_the_recipients_of_then(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001", "+13125550002"])
    alert_id = schedule(sessions, clock, clinic_id)
    assert [a.id for a in scheduled.list_scheduled(sessions)] == [alert_id]
    with sessions() as session, session.begin():  # a client booked after the alert was scheduled
        b = Builder(session)
        late = b.client(session.get(Clinic, clinic_id), "Late Booker", "+13125550003")
        b.visit(b.pet(late), clock.now() + timedelta(days=1, hours=5))
    gateway = FakeGateway(clock)
    first, second = (
        dispatcher(sessions, clock, gateway, tmp_path),
        dispatcher(sessions, clock, gateway, tmp_path),
    )
    run_until_idle(first, clock, 60)
    assert gateway.sent == [] and alerts.snapshot(sessions, alert_id, clock.now()).state == "scheduled"
    clock.advance(2 * 3600)
    for _ in range(20):  # two dispatchers (a restarted or second worker) tick in turn
        first.tick()
        second.tick()
        first.finalize()
        clock.advance(1)
    assert sorted(t.request.to for t in gateway.sent) == ["+13125550001", "+13125550002", "+13125550003"]
    assert scheduled.list_scheduled(sessions) == []
    assert alerts.snapshot(sessions, alert_id, clock.now()).to_send == 3


def test_two_workers_claim_a_due_alert_exactly_once(db_url: str, clock: ManualClock) -> None:
    db.upgrade(db_url)
    engines = [db.make_engine(db_url), db.make_engine(db_url)]
    try:
        pools = [db.make_session_factory(e) for e in engines]
        clinic_id, _ = make_clinic(pools[0], clock, ["+13125550001"])
        alert_id = schedule(pools[0], clock, clinic_id)
        clock.advance(3 * 3600)
        started: list[list[int]] = []
        workers = [
            threading.Thread(target=lambda p=p: started.append(scheduled.start_due(p, clock.now())))
            for p in pools
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert sorted(started) == [[], [alert_id]]
        with pools[0]() as session:
            assert (
                len(session.scalars(select(AlertDelivery).where(AlertDelivery.alert_id == alert_id)).all())
                == 1
            )
    finally:
        for engine in engines:
            engine.dispose()


def test_texting_turned_off_meanwhile_stops_it_with_the_reason(sessions, clock) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001"])
    alert_id = schedule(sessions, clock, clinic_id)
    with sessions() as session, session.begin():
        session.execute(update(Clinic).where(Clinic.id == clinic_id).values(two_way_texting=False))
    clock.advance(3 * 3600)
    assert scheduled.start_due(sessions, clock.now()) == [alert_id]
    snap = alerts.snapshot(sessions, alert_id, clock.now())
    assert snap.state == "failed" and "Texting was turned off for Happy Paws" in (snap.error or "")


def test_send_at_scheduled_and_cancel_on_the_command_line(db_url: str, tmp_path: Path) -> None:
    db.upgrade(db_url)
    sessions = db.make_session_factory(db.make_engine(db_url))
    clock = ManualClock()
    make_clinic(sessions, clock, ["+13125550001"])
    env = {**os.environ, "DATABASE_URL": db_url}
    sent = run_cli(send_args("Closed.", "--at", "2099-01-05T08:00"), env)
    assert sent.returncode == 0, sent.stderr
    assert "scheduled for Mon 5 Jan 2099 8:00 AM CST" in sent.stdout
    with sessions() as session:
        alert = session.scalars(select(MassAlert)).one()
    listed = run_cli(["scheduled", "--clinic", "Happy Paws"], env)
    assert f"#{alert.id} Happy Paws: Mon 5 Jan 2099 8:00 AM CST by Command line: Closed." in listed.stdout
    cancelled = run_cli(["cancel", str(alert.id)], env)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    assert run_cli(["scheduled"], env).stdout.strip() == "No scheduled alerts."


def test_merge_fields_now_too_long_stop_it_at_its_start_and_its_entry_says_why(
    sessions, clock, tmp_path
) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001"], names=["Al Short"])
    start = clock.now() + timedelta(hours=2)
    message = "Hi {client_first_name}, " + "x" * 310  # 317 characters for "Al": under the 320 limit
    alert_id, _ = alerts.create_alert(
        sessions,
        alerts.AlertRequest(
            clinic_id, "Dr. Ana Lee", TimeRange(start, start + timedelta(days=3)), message, start_at=start
        ),
        now=clock.now(),
        default_pace=1.0,
        max_chars=320,
    )
    notifier = RecordingNotifier()
    alerts.show_entry(sessions, alert_id, notifier, clock.now())  # its scheduled entry
    with sessions() as session, session.begin():  # a client booked meanwhile with a long first name
        b = Builder(session)
        late = b.client(session.get(Clinic, clinic_id), "Bartholomew Long", "+13125550003")
        b.visit(b.pet(late), clock.now() + timedelta(days=1, hours=5))
    gateway = FakeGateway(clock)
    worker = dispatcher(sessions, clock, gateway, tmp_path, notifier, alert_max_chars=320)
    clock.advance(2 * 3600)
    run_until_idle(worker, clock, 5)
    snap = alerts.snapshot(sessions, alert_id, clock.now())
    assert snap.state == "failed" and gateway.sent == []
    assert (snap.error or "").startswith("Its message was too long when this scheduled alert started.")
    assert "the longest text is 326 characters; the limit is 320" in (snap.error or "")
    # The finalizer showed the reason on the scheduled entry (edited in place, no report), once.
    assert [s.state for s in notifier.started] == ["scheduled", "failed"]
    assert notifier.completed == [] and snap.report_path is None


def test_a_stopped_start_is_shown_on_the_scheduled_entry_not_posted_again(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001"])
    alert_id = schedule(sessions, clock, clinic_id)
    notifier = RecordingNotifier()
    alerts.show_entry(sessions, alert_id, notifier, clock.now())
    posted_ts = alerts.snapshot(sessions, alert_id, clock.now()).slack_message_ts
    with sessions() as session, session.begin():
        session.execute(update(Clinic).where(Clinic.id == clinic_id).values(two_way_texting=False))
    clock.advance(3 * 3600)
    run_until_idle(dispatcher(sessions, clock, FakeGateway(clock), tmp_path, notifier), clock, 5)
    first, stopped = notifier.started
    assert (first.state, stopped.state) == ("scheduled", "failed")
    assert stopped.slack_message_ts == posted_ts is not None  # that message is shown again, not a new one
    after = alerts.snapshot(sessions, alert_id, clock.now())
    assert after.slack_message_ts == posted_ts and after.report_path is None and notifier.completed == []
