"""“Send at” in the compose modal: a past time is refused inline; a future one is held as scheduled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.ids import ActionId, BlockId
from sandbox.slack_requests import state_value
from services import scheduled
from tests.blockkit import all_text
from tests.e2e import test_slack_flow
from tests.e2e.slack_world import World, tomorrow_at

#: The SQLite-only world of the main flow's tests.
lite = test_slack_flow.lite

MESSAGE = "Happy Paws closes at 3 PM tomorrow because of the storm."


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
