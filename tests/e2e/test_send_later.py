"""“Send at” in the compose modal: a past time is refused inline; a future one is held as scheduled, with an
entry in the channel that admins cancel (there or in App Home) and that becomes its activity entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from bot.ids import ActionId, BlockId, keyed
from sandbox.slack_requests import action, state_value
from services import scheduled
from services.models import MassAlert
from tests.blockkit import all_text
from tests.e2e import test_slack_flow
from tests.e2e.slack_world import ADMIN, CHANNEL, PHONES, STAFF, UNREACHABLE, World, tomorrow_at

#: The main flow's worlds: SQLite only, and SQLite and PostgreSQL.
lite = test_slack_flow.lite
world = test_slack_flow.world

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


def schedule(world: World, at: datetime) -> int:
    """Whole modal up to Send with "Send at" set; the scheduled alert's id."""
    ana = world.user()
    view = ana.slash_command()
    ana.choose_range(view["id"], "today+1")
    ana.type_message(view["id"], MESSAGE)
    world.slack.set_input(
        view["id"],
        BlockId.SEND_AT,
        ActionId.SEND_AT_PICKER,
        state_value("datetimepicker", int(at.timestamp())),
    )
    confirm = ana.submit(view["id"])
    assert confirm.shown is not None
    assert ana.submit(confirm.shown["id"]).body == {"response_action": "clear"}
    return world.wait_for(lambda: (ids := world.alert_ids()) and ids[-1], "the scheduled alert")


def entries(world: World) -> list[dict[str, Any]]:
    """The channel's own messages, not those in a thread (the report)."""
    return [m for m in world.messages() if not m.get("thread_ts")]


def scheduled_entry(world: World) -> dict[str, Any]:
    return world.wait_for(lambda: next(iter(world.messages()), None), "the scheduled alert's entry")


def click_cancel(world: World, user_id: str, entry: dict[str, Any], alert_id: int) -> None:
    action_id = keyed(ActionId.CANCEL_SCHEDULED, alert_id)
    assert (
        world.user(user_id).click_message_button(
            CHANNEL, entry["ts"], BlockId.ACTIVITY_STATUS, action_id, str(alert_id)
        )
        == 200
    )


def ephemeral(world: World, user_id: str, count: int) -> str:
    """The `count`th ephemeral answer shown in the clinic's channel, to `user_id`."""
    shown = world.wait_for(
        lambda: (found := world.slack.ephemerals.get(CHANNEL, [])) and len(found) >= count and found,
        "the answer shown to the clicker alone",
    )
    assert shown[count - 1]["user"] == user_id
    return str(shown[count - 1]["text"])


def test_a_scheduled_entry_is_for_admins_to_cancel_and_says_who_did(lite: World) -> None:
    at = tomorrow_at(7)
    alert_id = schedule(lite, at)
    entry = scheduled_entry(lite)
    shown = all_text(entry["blocks"])
    assert f"🕘 *Mass text alert #{alert_id}* scheduled for" in shown and "7:00 AM" in shown
    assert "by Dr. Ana Lee" in shown and MESSAGE in shown
    assert "5 clients would be texted today (counted again when it starts)" in shown
    button = next(b["accessory"] for b in entry["blocks"] if b.get("block_id") == BlockId.ACTIVITY_STATUS)
    assert button["confirm"]["title"]["text"] == "Cancel this scheduled alert?"

    click_cancel(lite, STAFF, entry, alert_id)
    assert "only Admins" in ephemeral(lite, STAFF, 1)
    assert lite.snapshot(alert_id).state == "scheduled"

    click_cancel(lite, ADMIN, entry, alert_id)
    edited = lite.wait_for(
        lambda: (m := lite.slack.message(CHANNEL, entry["ts"])) and "Cancelled" in m["text"] and m,
        "the entry to say it was cancelled",
    )
    status = next(b for b in edited["blocks"] if b.get("block_id") == BlockId.ACTIVITY_STATUS)
    assert "Cancelled by Dr. Ana Lee* before it started · nobody was texted" in all_text([status])
    assert "accessory" not in status
    assert lite.snapshot(alert_id).state == "cancelled" and scheduled.list_scheduled(lite.sessions) == []

    click_cancel(lite, ADMIN, entry, alert_id)  # a second click, from a stale copy of the entry
    assert f"Mass text alert #{alert_id} was already cancelled by Dr. Ana Lee." in ephemeral(lite, ADMIN, 2)
    assert len(entries(lite)) == 1 and lite.twilio.messages == []
    assert lite.slack.uploaded_files == {}  # never started: no report


def test_at_its_time_the_scheduled_entry_becomes_the_activity_entry(world: World) -> None:
    alert_id = schedule(world, tomorrow_at(7))
    entry = scheduled_entry(world)
    with world.sessions() as session, session.begin():  # its time comes
        session.execute(
            update(MassAlert)
            .where(MassAlert.id == alert_id)
            .values(start_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    done = world.wait_finished(alert_id)
    assert (done.texted, done.sent, done.failed) == (5, 3, 2)
    (only,) = entries(world)  # the same message, edited: no second entry
    assert only["ts"] == entry["ts"] and "2 of 5 failed" in only["text"]
    assert "scheduled for" not in all_text(only["blocks"])
    (upload,) = world.slack.uploaded_files.values()
    assert upload.thread_ts == entry["ts"]
    # One text each (Twilio refuses the landline at create, so it stores none for it).
    assert sorted(m.to for m in world.twilio.messages) == sorted([*PHONES, UNREACHABLE])

    click_cancel(world, ADMIN, entry, alert_id)  # Cancel from the entry as it was before it started
    answer = ephemeral(world, ADMIN, 1)
    assert (
        f"Mass text alert #{alert_id} already started at" in answer and "Cancel alert on its entry" in answer
    )
    assert world.snapshot(alert_id).state == "completed"


def test_app_home_lists_the_scheduled_alert_and_cancels_it_like_the_entry(lite: World) -> None:
    alert_id = schedule(lite, tomorrow_at(7))
    entry = scheduled_entry(lite)
    home = lite.user().open_home()
    row = next(
        b for b in home["blocks"] if b.get("block_id") == keyed(BlockId.HOME_SCHEDULED_ALERT, alert_id)
    )
    assert "scheduled for" in all_text([row]) and "by Dr. Ana Lee" in all_text([row])
    assert f">{MESSAGE}" in all_text([row])
    assert row["accessory"]["confirm"]["title"]["text"] == "Cancel this scheduled alert?"
    staff_home = lite.user(STAFF).open_home()
    staff_row = next(
        b for b in staff_home["blocks"] if b.get("block_id") == keyed(BlockId.HOME_SCHEDULED_ALERT, alert_id)
    )
    assert "accessory" not in staff_row  # Staff see it, only Admins cancel

    before = len(lite.slack.calls_to("views.publish"))
    click = action("button", row["accessory"]["action_id"], row["block_id"], str(alert_id))
    assert lite.user().act_in_home(home, click) == 200
    lite.wait_for(lambda: len(lite.slack.calls_to("views.publish")) > before, "Home published again")
    republished = lite.slack.calls_to("views.publish")[before].params["view"]
    assert all(b.get("block_id") != BlockId.HOME_SCHEDULED for b in republished["blocks"])
    edited = lite.slack.message(CHANNEL, entry["ts"])
    assert edited is not None and "Cancelled by Dr. Ana Lee before it started" in edited["text"]
    assert lite.snapshot(alert_id).state == "cancelled"
