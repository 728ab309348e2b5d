"""Quiet hours in the dispatcher (issue 14): texts held outside the sending window in each client's zone,
resumed at the next opening, an urgent alert sent through it; conversation texts never held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.views.activity import activity_message
from services import alerts
from services.clock import ManualClock
from services.models import AlertDelivery, MassAlert
from services.sending_hours import estimate_finish, parse_hours
from services.timeranges import TimeRange
from tests.blockkit import all_text, assert_valid_message
from tests.fakes import FakeGateway
from tests.integration.recipient_builders import Builder
from tests.integration.test_delivery import SENDER, deliveries, dispatcher, run_until_idle

CHICAGO = ("+13125550101", "+13125550102", "+13125550103", "+13125550104")
LOS_ANGELES = ("+14155550101", "+14155550102")
#: Position order: Chicago, Los Angeles, Chicago, Chicago, Chicago, Los Angeles.
ORDER = (CHICAGO[0], LOS_ANGELES[0], CHICAGO[1], CHICAGO[2], CHICAGO[3], LOS_ANGELES[1])
PACE = 300.0
#: 8:50 PM in Chicago (CST, UTC-6), 6:50 PM in Los Angeles (PST, UTC-8).
START = datetime(2026, 12, 2, 2, 50, tzinfo=UTC)
CHICAGO_OPENS = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)  # 8:00 AM CST


def clinic_with_two_zones(sessions: sessionmaker[Session], clock: ManualClock) -> int:
    """A Chicago clinic sending 08:00-21:00, five minutes between texts; clients in Chicago and LA."""
    window = parse_hours("08:00-21:00")
    with sessions() as session, session.begin():
        b = Builder(session)
        clinic = b.clinic(
            sms_from=SENDER,
            alert_pace_seconds=PACE,
            sending_hours_start=window.start,
            sending_hours_end=window.end,
        )
        for index, phone in enumerate(ORDER):
            b.visit(
                b.pet(b.client(clinic, f"Client {index}", phone)),
                clock.now() + timedelta(days=2, minutes=index),
            )
        return clinic.id


def send(sessions: sessionmaker[Session], clock: ManualClock, clinic_id: int, *, urgent: bool = False) -> int:
    request = alerts.AlertRequest(
        clinic_id=clinic_id,
        created_by_name="Dr. Ana Lee",
        rng=TimeRange(clock.now(), clock.now() + timedelta(days=7)),
        message="The clinic opens late tomorrow.",
        urgent=urgent,
    )
    alert_id, _ = alerts.create_alert(sessions, request, now=clock.now(), default_pace=12.0, max_chars=320)
    return alert_id


def sent_at(gateway: FakeGateway) -> dict[str, datetime]:
    return {text.request.to: text.at for text in gateway.sent}


def test_a_window_pauses_one_zone_overnight_and_resumes_it(sessions, tmp_path: Path) -> None:
    clock = ManualClock(START)
    clinic_id = clinic_with_two_zones(sessions, clock)
    alert_id = send(sessions, clock, clinic_id)
    zones = [row.recipient_timezone for row in deliveries(sessions, alert_id)]
    assert zones == [
        "America/Chicago",
        "America/Los_Angeles",
        *["America/Chicago"] * 3,
        "America/Los_Angeles",
    ]
    gateway = FakeGateway(clock)
    d = dispatcher(sessions, clock, gateway, tmp_path, lookahead_seconds=5.0)

    run_until_idle(d, clock, 3600, step=5.0)  # 8:50 PM to 9:50 PM in Chicago
    times = sent_at(gateway)
    # 8:50 and 8:55 PM go; at 9:00 PM Chicago's window is shut, so Los Angeles' second client goes instead.
    assert list(times) == [CHICAGO[0], LOS_ANGELES[0], LOS_ANGELES[1]]
    assert times[LOS_ANGELES[1]] < START + timedelta(minutes=11)
    with sessions() as session:
        alert = session.get(MassAlert, alert_id)
        assert alert is not None and alert.state == "sending" and alert.completed_at is None
        held = session.scalars(
            select(AlertDelivery).where(AlertDelivery.alert_id == alert_id, AlertDelivery.status == "pending")
        ).all()
    assert {row.phone_e164 for row in held} == set(CHICAGO[1:])
    assert {row.next_attempt_at for row in held} == {CHICAGO_OPENS}
    assert {row.attempts for row in held} == {0}  # held, not retried

    clock.set(CHICAGO_OPENS - timedelta(minutes=1))  # the night passes
    run_until_idle(d, clock, 1800, step=5.0)
    times = sent_at(gateway)
    resumed = [times[phone] for phone in CHICAGO[1:]]
    assert CHICAGO_OPENS <= resumed[0] < CHICAGO_OPENS + timedelta(seconds=10)
    assert resumed == sorted(resumed) and resumed[-1] - resumed[0] >= timedelta(seconds=2 * PACE)
    assert [row.attempts for row in deliveries(sessions, alert_id)] == [1] * 6

    # The confirmation's estimate simulates the same order.
    predicted = estimate_finish(START, zones, PACE, parse_hours("08:00-21:00"))
    assert predicted.held == 3 and predicted.resumes_at == CHICAGO_OPENS
    assert abs(predicted.finish - resumed[-1]) < timedelta(seconds=10)


def test_an_urgent_alert_is_sent_through_the_window(sessions, tmp_path: Path) -> None:
    clock = ManualClock(START)
    clinic_id = clinic_with_two_zones(sessions, clock)
    alert_id = send(sessions, clock, clinic_id, urgent=True)
    with sessions() as session:
        alert = session.get(MassAlert, alert_id)
        assert (
            alert is not None
            and alert.urgent
            and (alert.sending_hours_start, alert.sending_hours_end) == (480, 1260)
        )
    gateway = FakeGateway(clock)
    run_until_idle(
        dispatcher(sessions, clock, gateway, tmp_path, lookahead_seconds=5.0), clock, 1900, step=5.0
    )
    times = sent_at(gateway)
    assert list(times) == list(ORDER)  # in order, nobody held: the last at 9:15 PM in Chicago
    assert max(times.values()) < START + timedelta(minutes=26)


def test_the_entry_of_an_alert_held_by_quiet_hours_says_it_is_paused(sessions, tmp_path: Path) -> None:
    clock = ManualClock(START)
    clinic_id = clinic_with_two_zones(sessions, clock)
    alert_id = send(sessions, clock, clinic_id)
    assert alerts.snapshot(sessions, alert_id, clock.now()).paused_until is None  # the first text is due
    gateway = FakeGateway(clock)
    d = dispatcher(sessions, clock, gateway, tmp_path, lookahead_seconds=5.0)

    run_until_idle(d, clock, 360, step=5.0)  # 8:56 PM: Chicago's first and LA's first went; still open
    assert alerts.snapshot(sessions, alert_id, clock.now()).paused_until is None

    run_until_idle(d, clock, 3600, step=5.0)  # 9:56 PM: LA's second went, Chicago's three wait for 8 AM
    assert len(gateway.sent) == 3
    paused = alerts.snapshot(sessions, alert_id, clock.now())
    assert (paused.paused_until, paused.paused_zone, paused.pending) == (CHICAGO_OPENS, "America/Chicago", 3)
    text, blocks = activity_message(paused, clock.now())
    assert_valid_message(text, blocks)
    assert (
        "3 of 6 sent\n⏸️ Paused for quiet hours until 8:00 AM tomorrow (clients' time) · 3 texts waiting"
        in (all_text(blocks))
    )

    # A retry's backoff inside an open window is no pause.
    with sessions() as session, session.begin():
        session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.alert_id == alert_id, AlertDelivery.status == "pending")
            .values(next_attempt_at=CHICAGO_OPENS + timedelta(minutes=30))
        )
    assert alerts.snapshot(sessions, alert_id, CHICAGO_OPENS + timedelta(minutes=1)).paused_until is None

    clock.set(CHICAGO_OPENS + timedelta(minutes=30))  # the morning: texts go again, then it finishes
    run_until_idle(d, clock, 1800, step=5.0)
    done = alerts.snapshot(sessions, alert_id, clock.now())
    assert done.pending == 0 and done.paused_until is None
