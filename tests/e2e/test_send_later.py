"""“Send at” in the compose modal: a past time is refused inline; a future one is held as scheduled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.ids import ActionId, BlockId
from sandbox.slack_requests import state_value
from services import scheduled
from tests.blockkit import all_text
from tests.e2e.slack_world import World, running_world, tomorrow_at

MESSAGE = "Happy Paws closes at 3 PM tomorrow because of the storm."


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[World]:
    with running_world(f"sqlite:///{tmp_path / 'e2e.db'}", tmp_path / "reports") as running:
        yield running
        assert running.problems() == []


def test_send_at_holds_the_alert_until_its_time(lite: World) -> None:
    ana = lite.user()
    view = ana.slash_command()
    ana.choose_range(view["id"], "today+1")
    ana.type_message(view["id"], MESSAGE)
    past = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
    lite.slack.set_input(
        view["id"], BlockId.SEND_AT, ActionId.SEND_AT_PICKER, state_value("datetimepicker", past)
    )
    refused = ana.submit(view["id"])
    assert refused.body["response_action"] == "errors"
    assert "Pick a time in the future" in refused.body["errors"][BlockId.SEND_AT]

    at = tomorrow_at(7)
    stamp = int(at.timestamp())
    lite.slack.set_input(
        view["id"], BlockId.SEND_AT, ActionId.SEND_AT_PICKER, state_value("datetimepicker", stamp)
    )
    confirm = ana.submit(view["id"])
    assert confirm.body["response_action"] == "push" and confirm.shown is not None
    assert "Scheduled*: starts" in all_text(confirm.shown) and "7:00 AM" in all_text(confirm.shown)
    assert ana.submit(confirm.shown["id"]).body == {"response_action": "clear"}
    (alert_id,) = lite.alert_ids()
    (held,) = scheduled.list_scheduled(lite.sessions, lite.clinic_id)
    assert (held.id, held.start_at) == (alert_id, at.astimezone(UTC))
    assert lite.twilio.messages == []  # nothing sent before its time
