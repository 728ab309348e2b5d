"""Quiet hours over HTTP (issue 14): the served app, sandbox Slack and Twilio, signed requests.

The app runs on a clock shifted from real time (the test moves it, so nobody waits for a night):
at 9:30 PM in Chicago the clinic's 08:00-21:00 window is shut there and open in Los Angeles (7:30 PM).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.ids import ActionId, BlockId
from bot.main import Overrides
from bot.views.compose import URGENT_VALUE
from sandbox.slack_requests import state_value
from services.models import AlertDelivery, Clinic, MassAlert
from tests.blockkit import all_text
from tests.e2e.slack_world import PHONES, TZ, World, running_world, tomorrow_at
from tests.integration.recipient_builders import Builder

MESSAGE = "Happy Paws opens at 10 AM tomorrow."
LOS_ANGELES = "+14155550199"


class ShiftedClock:
    """Real time moved by an offset the test sets (`jump_to`); sleeps are real."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def sleep(self, seconds: float) -> None:
        threading.Event().wait(max(seconds, 0))

    def jump_to(self, instant: datetime) -> None:
        with self._lock:
            self._offset = instant - datetime.now(UTC)


def chicago(day_offset: int, hour: int, minute: int = 0) -> datetime:
    """An instant in Chicago, `day_offset` days from today (the real date there)."""
    zone = ZoneInfo(TZ)
    day = datetime.now(zone).date() + timedelta(days=day_offset)
    return datetime.combine(day, clock_time(hour, minute), tzinfo=zone)


@pytest.fixture
def night(tmp_path: Path) -> Iterator[tuple[World, ShiftedClock]]:
    """The world at 9:30 PM today in Chicago, its clinic sending 08:00-21:00, one client in Los Angeles."""
    clock = ShiftedClock()
    clock.jump_to(chicago(0, 21, 30))
    url = f"sqlite:///{tmp_path / 'e2e.db'}"
    with running_world(
        url, tmp_path / "reports", overrides=lambda _: Overrides(clock=clock, progress_interval_seconds=0.2)
    ) as world:
        with world.sessions() as session, session.begin():
            session.execute(
                update(Clinic)
                .where(Clinic.id == world.clinic_id)
                .values(sending_hours_start=480, sending_hours_end=1260)
            )
            b = Builder(session)
            clinic = session.get(Clinic, world.clinic_id)
            assert clinic is not None
            b.visit(b.pet(b.client(clinic, "Lou Angeles", LOS_ANGELES)), tomorrow_at(14))
        yield world, clock
        assert world.problems() == []


def confirm(world: World, *, urgent: bool) -> dict[str, object]:
    """Compose an alert for today and tomorrow (the urgent box checked or not) and review it."""
    ana = world.user()
    view = ana.slash_command()
    ana.choose_range(view["id"], "today+1")
    ana.type_message(view["id"], MESSAGE)
    if urgent:
        world.slack.set_input(
            view["id"], BlockId.URGENT, ActionId.URGENT_CHECK, state_value("checkboxes", [URGENT_VALUE])
        )
    answer = ana.submit(view["id"])
    assert answer.body["response_action"] == "push" and answer.shown is not None
    return answer.shown


def sent_to(world: World) -> list[str]:
    return [message.to for message in world.twilio.messages]


def test_the_window_pauses_chicago_overnight_while_los_angeles_is_texted(night) -> None:
    world, clock = night
    shown = confirm(world, urgent=False)
    said = all_text(shown)
    # Five clients are timed in Chicago (the 312 numbers, and the clinic's zone for the sandbox landline).
    assert "About 5 clients will be texted after 8:00 AM tomorrow (their time)" in said
    assert "sending hours, 8:00 AM to 9:00 PM" in said
    assert world.user().submit(str(shown["id"])).body == {"response_action": "clear"}
    (alert_id,) = world.alert_ids()

    world.wait_for(lambda: LOS_ANGELES in sent_to(world), "the Los Angeles client's text")
    opening = chicago(1, 8).astimezone(UTC)
    with world.sessions() as session:
        held = session.scalars(
            select(AlertDelivery).where(AlertDelivery.alert_id == alert_id, AlertDelivery.status == "pending")
        ).all()
        alert = session.get(MassAlert, alert_id)
        assert alert is not None and not alert.urgent and alert.state == "sending"
    assert len(held) == 5 and {row.next_attempt_at for row in held} == {opening}
    assert sent_to(world) == [LOS_ANGELES]  # nobody in Chicago at 9:30 PM
    # The channel entry says why nothing moves (a progress edit after the Los Angeles text).
    paused = "⏸️ Paused for quiet hours until 8:00 AM tomorrow (clients' time) · 5 texts waiting"
    entry = world.wait_for(
        lambda: next((m for m in world.messages() if paused in all_text(m.get("blocks") or [])), None),
        "the entry to say the alert is paused",
    )
    assert "1 of 6 sent" in all_text(entry["blocks"])

    clock.jump_to(opening)  # the night passes
    finished = world.wait_finished(alert_id)
    assert set(PHONES) <= set(sent_to(world)) and sent_to(world)[0] == LOS_ANGELES
    assert finished.state == "completed"
    with world.sessions() as session:
        requested = session.scalars(
            select(AlertDelivery.requested_at).where(
                AlertDelivery.alert_id == alert_id, AlertDelivery.phone_e164.in_(PHONES)
            )
        ).all()
    assert all(at is not None and at >= opening for at in requested)


def test_an_urgent_alert_is_texted_through_the_window(night) -> None:
    world, _ = night
    shown = confirm(world, urgent=True)
    said = all_text(shown)
    assert "Urgent: texts go out at any hour, outside the sending hours (8:00 AM to 9:00 PM) too" in said
    assert "will be texted after" not in said
    assert world.user().submit(str(shown["id"])).body == {"response_action": "clear"}
    (alert_id,) = world.alert_ids()
    finished = world.wait_finished(alert_id)  # no clock jump: nothing waits for the morning
    assert finished.state == "completed" and set(PHONES) | {LOS_ANGELES} <= set(sent_to(world))
    with world.sessions() as session:
        alert = session.get(MassAlert, alert_id)
        assert alert is not None and alert.urgent
