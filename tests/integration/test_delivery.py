"""The outbox end to end with a fake gateway and a manual clock: pace, priority, errors, crashes, report."""

from __future__ import annotations

import csv
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services import alerts
from services.clock import ManualClock
from services.delivery import DispatchConfig, Dispatcher
from services.delivery.callbacks import apply_status_callback
from services.delivery.lock import acquire_dispatcher
from services.errors import DomainError, InvalidInput
from services.models import AlertDelivery, Client, Conversation, ConversationMessage, MassAlert
from services.reports import COLUMNS
from services.sms import ErrorKind, SmsError
from services.timeranges import TimeRange
from tests.fakes import FakeGateway, RecordingNotifier
from tests.integration.recipient_builders import Builder

SENDER = "+15005550006"


def make_clinic(
    sessions: sessionmaker[Session],
    clock: ManualClock,
    phones: list[str | None],
    names: list[str] | None = None,
    pace: float | None = None,
) -> tuple[int, list[int]]:
    """A clinic with one client per phone, each with an appointment tomorrow."""
    with sessions() as session, session.begin():
        b = Builder(session)
        clinic = b.clinic(sms_from=SENDER, alert_pace_seconds=pace)
        ids = []
        for i, phone in enumerate(phones):
            name = names[i] if names else f"Client {i:03d}"
            client = b.client(clinic, name, phone, error=None if phone else "No phone number given")
            b.visit(b.pet(client), clock.now() + timedelta(days=1, minutes=i))
            ids.append(client.id)
        return clinic.id, ids


def new_alert(
    sessions: sessionmaker[Session],
    clock: ManualClock,
    clinic_id: int,
    key: str | None = None,
    message: str = "We close at 3 PM today because of the storm.",
) -> int:
    rng = TimeRange(clock.now(), clock.now() + timedelta(days=7))
    alert_id, _ = alerts.create_alert(
        sessions,
        alerts.AlertRequest(
            clinic_id=clinic_id, created_by_name="Dr. Ana Lee", rng=rng, message=message, idempotency_key=key
        ),
        now=clock.now(),
        default_pace=12.0,
        max_chars=320,
    )
    return alert_id


def dispatcher(
    sessions: sessionmaker[Session],
    clock: ManualClock,
    gateway: FakeGateway,
    tmp_path: Path,
    notifier: RecordingNotifier | None = None,
    **config: object,
) -> Dispatcher:
    settings = {"completion_grace_seconds": 60.0, "reports_dir": tmp_path / "reports", **config}
    return Dispatcher(sessions, gateway, clock, DispatchConfig(**settings), notifier)  # type: ignore[arg-type]


def run_until_idle(d: Dispatcher, clock: ManualClock, seconds: float, step: float = 1.0) -> None:
    """Tick, reconcile and finalize while the clock moves `seconds` ahead."""
    end = clock.now() + timedelta(seconds=seconds)
    while clock.now() < end:
        d.tick()
        d.reconcile()
        d.finalize()
        clock.advance(step)


def deliveries(sessions: sessionmaker[Session], alert_id: int) -> list[AlertDelivery]:
    with sessions() as session:
        return list(
            session.scalars(
                select(AlertDelivery)
                .where(AlertDelivery.alert_id == alert_id)
                .order_by(AlertDelivery.position)
            )
        )


def read_report(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        return list(reader)


def test_every_client_gets_one_text_at_the_clinic_pace(sessions, clock, tmp_path) -> None:
    phones = [f"+1312555{i:04d}" for i in range(5)]
    clinic_id, _ = make_clinic(sessions, clock, phones)
    alert_id = new_alert(sessions, clock, clinic_id)
    gateway, notifier = FakeGateway(clock), RecordingNotifier()
    d = dispatcher(sessions, clock, gateway, tmp_path, notifier)
    run_until_idle(d, clock, 80)
    assert sorted(t.request.to for t in gateway.sent) == phones
    times = [t.at for t in gateway.sent]
    assert all(b - a >= timedelta(seconds=12) for a, b in pairwise(times))
    assert all(t.request.from_ == SENDER for t in gateway.sent)
    for text in gateway.sent:
        text.status = "delivered"
    run_until_idle(d, clock, 20)
    snap = alerts.snapshot(sessions, alert_id, clock.now())
    assert snap.state == "completed" and snap.succeeded and snap.sent == 5 and snap.failed == 0
    assert len(notifier.completed) == 1
    rows = read_report(notifier.completed[0][1])
    assert [r["SMS Status"] for r in rows] == ["Delivered"] * 5
    assert {r["Client Phone Number"] for r in rows} == {"\u00a0" + p for p in phones}  # kept as text
    assert all(r["Message Text"].startswith("We close at 3 PM") for r in rows)
    assert all(r["Timestamp"].endswith("-06:00") for r in rows)


def test_clinic_pace_overrides_default(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001", "+13125550002", "+13125550003"], pace=30)
    new_alert(sessions, clock, clinic_id)
    gateway = FakeGateway(clock)
    run_until_idle(dispatcher(sessions, clock, gateway, tmp_path), clock, 100)
    times = [t.at for t in gateway.sent]
    assert len(times) == 3
    assert all(b - a >= timedelta(seconds=30) for a, b in pairwise(times))


def test_conversation_text_goes_ahead_of_alert_texts(sessions, clock, tmp_path) -> None:
    clinic_id, client_ids = make_clinic(sessions, clock, [f"+1312555{i:04d}" for i in range(4)])
    new_alert(sessions, clock, clinic_id)
    gateway = FakeGateway(clock)
    d = dispatcher(sessions, clock, gateway, tmp_path)
    d.tick()  # first alert text leaves now; the next alert slot is 12 s away
    clock.advance(2)
    with sessions() as session, session.begin():
        conv = Conversation(clinic_id=clinic_id, client_id=client_ids[3], phone_e164="+13125550003")
        session.add(conv)
        session.flush()
        session.add(
            ConversationMessage(
                conversation_id=conv.id,
                direction="outbound",
                body="See you at 4!",
                sender_key=f"from:{SENDER}",
                to_phone="+13125550003",
                status="queued",
            )
        )
    d.tick()
    assert [t.request.body for t in gateway.sent] == [gateway.sent[0].request.body, "See you at 4!"]
    assert gateway.sent[1].at - gateway.sent[0].at < timedelta(seconds=3)
    run_until_idle(d, clock, 60)
    alert_texts = [t for t in gateway.sent if t.request.body != "See you at 4!"]
    assert len(alert_texts) == 4
    gaps = [b.at - a.at for a, b in pairwise(alert_texts)]
    assert min(gaps) >= timedelta(seconds=12)


def test_permanent_and_unknown_errors_fail_only_that_client(sessions, clock, tmp_path) -> None:
    phones = ["+13125550001", "+15005550009", "+13125550003", "+13125550004"]
    clinic_id, _ = make_clinic(sessions, clock, phones)
    alert_id = new_alert(sessions, clock, clinic_id)
    gateway = FakeGateway(
        clock,
        errors={
            "+15005550009": SmsError(
                ErrorKind.PERMANENT, "Not a mobile number, it cannot receive texts (Twilio 21614)", code=21614
            ),
            "+13125550004": SmsError(ErrorKind.UNKNOWN, "Twilio error 99999", code=99999),
        },
    )
    notifier = RecordingNotifier()
    d = dispatcher(sessions, clock, gateway, tmp_path, notifier)
    run_until_idle(d, clock, 60)
    for text in gateway.sent:
        text.status = "delivered"
    run_until_idle(d, clock, 20)
    snap, report = notifier.completed[0]
    assert snap.state == "completed" and not snap.succeeded
    assert (snap.sent, snap.failed) == (2, 2)
    assert snap.failure_summary == "1 landline, 1 other error"
    rows = {r["Client Phone Number"].removeprefix("\u00a0"): r for r in read_report(report)}
    assert rows["+15005550009"]["SMS Status"] == "Failed"
    assert "21614" in rows["+15005550009"]["Error Details"]
    assert "99999" in rows["+13125550004"]["Error Details"]
    assert rows["+13125550001"]["Error Details"] == ""
    assert alerts.snapshot(sessions, alert_id, clock.now()).failed == 2


def test_configuration_error_stops_the_alert_and_says_why(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001", "+13125550002", "+13125550003"])
    new_alert(sessions, clock, clinic_id)
    reason = "The clinic's number is not registered for US A2P 10DLC texting (Twilio 30034)"
    gateway = FakeGateway(clock, errors={"+13125550001": SmsError(ErrorKind.CONFIG, reason, code=30034)})
    notifier = RecordingNotifier()
    run_until_idle(dispatcher(sessions, clock, gateway, tmp_path, notifier), clock, 60)
    assert gateway.sent == [] and len(gateway.attempts) == 1
    snap, report = notifier.completed[0]
    assert snap.state == "failed" and snap.error == reason
    rows = read_report(report)
    assert [r["SMS Status"] for r in rows] == ["Failed", "Not sent", "Not sent"]
    assert all("10DLC" in r["Error Details"] for r in rows)


def test_rate_limit_backs_off_and_retries(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001", "+13125550002"])
    alert_id = new_alert(sessions, clock, clinic_id)
    gateway = FakeGateway(
        clock,
        errors={
            "+13125550001": SmsError(ErrorKind.RETRY, "slow down", code=20429, http_status=429, retry_after=5)
        },
    )
    d = dispatcher(sessions, clock, gateway, tmp_path)
    d.tick()
    row = deliveries(sessions, alert_id)[0]
    assert row.status == "pending" and row.next_attempt_at == clock.now() + timedelta(seconds=5)
    del gateway.errors["+13125550001"]
    run_until_idle(d, clock, 60)
    assert sorted(t.request.to for t in gateway.sent) == ["+13125550001", "+13125550002"]


def test_lost_answer_is_reconciled_not_resent(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001", "+13125550002"])
    alert_id = new_alert(sessions, clock, clinic_id)
    gateway = FakeGateway(clock, lose_answer_for={"+13125550001"})
    d = dispatcher(sessions, clock, gateway, tmp_path, in_doubt_recheck_seconds=5)
    d.tick()
    assert deliveries(sessions, alert_id)[0].status == "in_doubt"
    run_until_idle(d, clock, 40)
    assert [t.request.to for t in gateway.sent].count("+13125550001") == 1
    first = deliveries(sessions, alert_id)[0]
    assert first.status == "accepted" and first.twilio_sid == gateway.to("+13125550001")[0].sid


def test_in_doubt_without_provider_record_is_sent_once(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001"])
    alert_id = new_alert(sessions, clock, clinic_id)
    gateway = FakeGateway(
        clock, errors={"+13125550001": SmsError(ErrorKind.IN_DOUBT, "HTTP 503", http_status=503)}
    )
    d = dispatcher(sessions, clock, gateway, tmp_path, in_doubt_recheck_seconds=5)
    d.tick()
    del gateway.errors["+13125550001"]
    run_until_idle(d, clock, 40)
    assert len(gateway.to("+13125550001")) == 1
    assert deliveries(sessions, alert_id)[0].attempts == 2


def test_crash_after_claim_is_recovered_after_the_lease(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001", "+13125550002"])
    alert_id = new_alert(sessions, clock, clinic_id)
    gateway = FakeGateway(clock)
    d = dispatcher(sessions, clock, gateway, tmp_path, lease_seconds=15)
    claimed = d.claim()  # ... and the process dies before sending
    assert len(claimed) == 1 and deliveries(sessions, alert_id)[0].status == "sending"
    restarted = dispatcher(sessions, clock, gateway, tmp_path, lease_seconds=15)
    run_until_idle(restarted, clock, 60)
    assert sorted(t.request.to for t in gateway.sent) == ["+13125550001", "+13125550002"]


def test_cancel_marks_unsent_clients_and_still_reports(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, [f"+1312555{i:04d}" for i in range(5)])
    alert_id = new_alert(sessions, clock, clinic_id)
    gateway, notifier = FakeGateway(clock), RecordingNotifier()
    d = dispatcher(sessions, clock, gateway, tmp_path, notifier)
    run_until_idle(d, clock, 13)
    assert len(gateway.sent) == 2
    assert alerts.cancel_alert(sessions, alert_id, by_name="Sam Ortiz", now=clock.now())
    assert not alerts.cancel_alert(sessions, alert_id, by_name="Sam Ortiz", now=clock.now())
    for text in gateway.sent:
        text.status = "delivered"
    run_until_idle(d, clock, 80)
    assert len(gateway.sent) == 2
    snap, report = notifier.completed[0]
    assert snap.state == "cancelled" and snap.cancelled_by == "Sam Ortiz"
    statuses = [r["SMS Status"] for r in read_report(report)]
    assert statuses == ["Not sent", "Not sent", "Not sent", "Delivered", "Delivered"]
    assert "cancelled" in read_report(report)[0]["Error Details"]


def test_confirming_twice_creates_one_alert(sessions, clock) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001", "+13125550002"])
    first = new_alert(sessions, clock, clinic_id, key="slack:V123")
    second = new_alert(sessions, clock, clinic_id, key="slack:V123")
    assert first == second
    with sessions() as session:
        assert len(session.scalars(select(MassAlert)).all()) == 1
        assert len(session.scalars(select(AlertDelivery)).all()) == 2


def test_refuses_empty_too_long_and_zero_recipient_alerts(sessions, clock) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001"])
    with pytest.raises(InvalidInput, match="Type the message"):
        new_alert(sessions, clock, clinic_id, message="   ")
    with pytest.raises(InvalidInput, match="limit is 320"):
        new_alert(sessions, clock, clinic_id, message="x" * 321)
    far = TimeRange(clock.now() + timedelta(days=40), clock.now() + timedelta(days=41))
    with pytest.raises(InvalidInput, match="nobody to text"):
        alerts.create_alert(
            sessions,
            alerts.AlertRequest(clinic_id, "Ana", far, "hi"),
            now=clock.now(),
            default_pace=12,
            max_chars=320,
        )


def test_skipped_clients_are_in_the_report(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(
        sessions, clock, ["+13125550001", None, "+13125550001"], names=["Jane Doe", "No Phone", "John Doe"]
    )
    new_alert(sessions, clock, clinic_id)
    gateway, notifier = FakeGateway(clock), RecordingNotifier()
    run_until_idle(
        dispatcher(sessions, clock, gateway, tmp_path, notifier, completion_grace_seconds=5), clock, 30
    )
    assert len(gateway.sent) == 1
    snap, report = notifier.completed[0]
    assert snap.succeeded and snap.skipped_count == 2
    rows = {r["Client Full Name"]: r for r in read_report(report)}
    assert rows["Jane Doe"]["SMS Status"] == "Sent"
    assert rows["No Phone"]["SMS Status"] == "Not sent" and "mobile" in rows["No Phone"]["Error Details"]
    assert rows["John Doe"]["SMS Status"] == "Not sent" and "Jane Doe" in rows["John Doe"]["Error Details"]


def test_opt_out_during_sending_skips_the_client(sessions, clock, tmp_path) -> None:
    clinic_id, ids = make_clinic(sessions, clock, ["+13125550001", "+13125550002"])
    alert_id = new_alert(sessions, clock, clinic_id)
    gateway = FakeGateway(clock)
    d = dispatcher(sessions, clock, gateway, tmp_path)
    d.tick()
    with sessions() as session, session.begin():
        session.get(Client, ids[1]).opted_out_at = clock.now()
    run_until_idle(d, clock, 40)
    assert [t.request.to for t in gateway.sent] == ["+13125550001"]
    row = deliveries(sessions, alert_id)[1]
    assert row.status == "skipped" and row.skip_reason == "opted_out"


def test_status_callbacks_only_move_forward(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001"])
    alert_id = new_alert(sessions, clock, clinic_id)
    gateway = FakeGateway(clock)
    dispatcher(sessions, clock, gateway, tmp_path).tick()
    row = deliveries(sessions, alert_id)[0]
    base = {"MessageSid": row.twilio_sid, "d": str(row.id)}
    assert apply_status_callback(sessions, {**base, "MessageStatus": "delivered"}, clock.now())
    assert apply_status_callback(sessions, {**base, "MessageStatus": "sent"}, clock.now())  # late, harmless
    assert apply_status_callback(sessions, {**base, "MessageStatus": "delivered"}, clock.now())  # duplicate
    assert deliveries(sessions, alert_id)[0].status == "delivered"
    other = {"MessageSid": "SM" + "f" * 32, "d": str(row.id), "MessageStatus": "failed"}
    assert not apply_status_callback(sessions, other, clock.now())
    assert deliveries(sessions, alert_id)[0].status == "delivered"


def test_callback_settles_an_in_doubt_row(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001"])
    alert_id = new_alert(sessions, clock, clinic_id)
    gateway = FakeGateway(clock, lose_answer_for={"+13125550001"})
    dispatcher(sessions, clock, gateway, tmp_path).tick()
    row = deliveries(sessions, alert_id)[0]
    assert row.status == "in_doubt" and row.twilio_sid is None
    sid = gateway.sent[0].sid
    apply_status_callback(
        sessions,
        {"MessageSid": sid, "d": str(row.id), "MessageStatus": "undelivered", "ErrorCode": "30003"},
        clock.now(),
    )
    row = deliveries(sessions, alert_id)[0]
    assert (row.status, row.twilio_sid, row.error_code) == ("undelivered", sid, "30003")
    assert "unreachable" in (row.error_message or "").lower()


def test_report_neutralises_formulas(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001"], names=['=HYPERLINK("http://x","y")'])
    new_alert(sessions, clock, clinic_id, message="@SUM(A1) closing early")
    notifier = RecordingNotifier()
    run_until_idle(
        dispatcher(sessions, clock, FakeGateway(clock), tmp_path, notifier, completion_grace_seconds=5),
        clock,
        20,
    )
    row = read_report(notifier.completed[0][1])[0]
    assert row["Client Full Name"].startswith("'=")
    assert row["Message Text"].startswith("'@")
    assert row["Client Phone Number"] == "\u00a0+13125550001"


def test_completion_notice_is_retried_until_it_lands(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001"])
    new_alert(sessions, clock, clinic_id)
    notifier = RecordingNotifier(fail_completed=2)
    run_until_idle(
        dispatcher(sessions, clock, FakeGateway(clock), tmp_path, notifier, completion_grace_seconds=5),
        clock,
        20,
    )
    assert len(notifier.completed) == 1


def test_second_dispatcher_refused_on_sqlite(sqlite_engine, clock) -> None:
    from services.db import make_session_factory

    sessions = make_session_factory(sqlite_engine)
    acquire_dispatcher(sessions, "otherhost:1", clock.now())
    with pytest.raises(DomainError, match="SQLite supports one dispatcher"):
        acquire_dispatcher(sessions, "thishost:2", clock.now())
    clock.advance(60)
    acquire_dispatcher(sessions, "thishost:2", clock.now())  # the other one went quiet: take over


def test_staff_reply_lost_in_a_crash_is_reconciled_once(sessions, clock, tmp_path) -> None:
    clinic_id, client_ids = make_clinic(sessions, clock, ["+13125550001"])
    with sessions() as session, session.begin():
        from services.delivery.pacing import ensure_sender

        ensure_sender(session, f"from:{SENDER}", clock.now())
        conv = Conversation(clinic_id=clinic_id, client_id=client_ids[0], phone_e164="+13125550001")
        session.add(conv)
        session.flush()
        for body in ("First answer", "Second answer"):
            session.add(
                ConversationMessage(
                    conversation_id=conv.id,
                    direction="outbound",
                    body=body,
                    sender_key=f"from:{SENDER}",
                    to_phone="+13125550001",
                    status="queued",
                )
            )
    gateway = FakeGateway(clock, lose_answer_for={"+13125550001"})
    d = dispatcher(sessions, clock, gateway, tmp_path, lease_seconds=5, in_doubt_recheck_seconds=5)
    d.claim()  # the first reply is claimed, then the process dies before sending it
    run_until_idle(d, clock, 30)
    assert [t.request.body for t in gateway.sent] == ["Second answer", "First answer"]
    with sessions() as session:
        statuses = sorted(session.scalars(select(ConversationMessage.status)).all())
    assert statuses == ["accepted", "accepted"]


def test_cancel_between_claim_and_slot_withdraws_the_text(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001", "+13125550002"])
    alert_id = new_alert(sessions, clock, clinic_id)
    gateway = FakeGateway(clock)
    d = dispatcher(sessions, clock, gateway, tmp_path)
    jobs = d.claim()  # claimed ahead of its slot ...
    assert alerts.cancel_alert(sessions, alert_id, by_name="Sam Ortiz", now=clock.now())  # ... then cancelled
    for job in jobs:
        d.execute(job)
    assert gateway.sent == []
    rows = deliveries(sessions, alert_id)
    assert [(r.status, r.skip_reason) for r in rows] == [("skipped", "cancelled"), ("skipped", "cancelled")]


def test_no_limit_on_the_number_of_alerts(sessions, clock, tmp_path) -> None:
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001", "+13125550002"])
    ids = [new_alert(sessions, clock, clinic_id, message=f"Update number {n}") for n in range(5)]
    assert len(set(ids)) == 5
    gateway = FakeGateway(clock)
    run_until_idle(dispatcher(sessions, clock, gateway, tmp_path), clock, 150)
    # Every alert reaches every client once, and the clinic's number keeps its pace across alerts.
    assert sorted((t.request.to, t.request.body) for t in gateway.sent) == sorted(
        (phone, f"Update number {n}") for n in range(5) for phone in ("+13125550001", "+13125550002")
    )
    times = [t.at for t in gateway.sent]
    assert all(b - a >= timedelta(seconds=12) for a, b in pairwise(times))


def test_a_stopping_worker_gives_up_texts_waiting_for_their_turn(sessions, clock, tmp_path) -> None:
    """On stop, a claimed text not yet requested is not sent; its lease brings it back, sent once."""
    clinic_id, _ = make_clinic(sessions, clock, ["+13125550001"])
    alert_id = new_alert(sessions, clock, clinic_id)
    gateway = FakeGateway(clock)
    d = dispatcher(sessions, clock, gateway, tmp_path)
    (job,) = d.claim()
    d.stopping.set()
    d.execute(job)
    assert gateway.sent == [] and [r.status for r in deliveries(sessions, alert_id)] == ["sending"]
    d.stopping.clear()  # a restarted worker
    run_until_idle(d, clock, 60)
    assert [t.request.to for t in gateway.sent] == ["+13125550001"]
