"""/mass-alert end to end.

The served app over HTTP, signed requests as Slack sends them, sandbox Slack and Twilio.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from bot.ids import ActionId, BlockId, CallbackId
from sandbox.slack_requests import action, block_actions_payload
from sandbox.slack_user import Answer, SlackUser
from services.models import Clinic, Role
from tests.blockkit import all_text
from tests.e2e.slack_world import (
    ADMIN,
    CHANNEL,
    LANDLINE,
    OTHER_CHANNEL,
    PHONES,
    STAFF,
    STRANGER,
    UNREACHABLE,
    UPTOWN_ADMIN,
    UPTOWN_CHANNEL,
    World,
    running_world,
    tomorrow_at,
)
from tests.integration.recipient_builders import Builder

MESSAGE = "Happy Paws closes at 3 PM today because of the storm. Please call 555-0100 to reschedule."


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    """On SQLite and PostgreSQL."""
    with running_world(db_url, tmp_path / "reports") as running:
        yield running
        assert running.problems() == []


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[World]:
    """On SQLite only (the backend does not matter for these cases)."""
    with running_world(f"sqlite:///{tmp_path / 'e2e.db'}", tmp_path / "reports") as running:
        yield running
        assert running.problems() == []


def block_text(view: dict[str, Any], block_id: str) -> str:
    return all_text([b for b in view["blocks"] if b.get("block_id") == block_id])


def review(user: SlackUser, preset: str = "today+1", message: str = MESSAGE) -> Answer:
    """Open the modal, pick the range, type, and click Review."""
    view = user.slash_command()
    user.choose_range(view["id"], preset)
    user.type_message(view["id"], message)
    return user.submit(view["id"])


def send(world: World, user: SlackUser, preset: str = "today+1") -> int:
    """A whole alert up to Send; the new alert's id."""
    answer = review(user, preset)
    assert answer.body["response_action"] == "push"
    assert answer.shown is not None
    sent = user.submit(answer.shown["id"])
    assert sent.body == {"response_action": "clear"}
    return created_alert(world)[-1]


def created_alert(world: World) -> list[int]:
    """The alerts once the confirmation's alert exists (Slack is answered before it is created)."""
    return world.wait_for(lambda: world.alert_ids() or None, "the confirmed alert to be created")


def report_rows(world: World, alert_id: int) -> dict[str, dict[str, str]]:
    """The uploaded CSV, read back from Slack, by client name."""
    upload = next(
        f for f in world.slack.uploaded_files.values() if f.filename.startswith(f"mass-alert-{alert_id}-")
    )
    text = (upload.content or b"").decode("utf-8-sig")
    return {row["Client Full Name"]: row for row in csv.DictReader(io.StringIO(text))}


def test_custom_range_alert_turns_green_with_the_report_in_the_entrys_thread(world: World) -> None:
    ana = world.user()
    view = ana.slash_command()
    assert view["callback_id"] == CallbackId.COMPOSE
    assert not any(b.get("block_id") == BlockId.CLINIC for b in view["blocks"])  # one clinic: no picker
    ana.choose_range(view["id"], "custom")
    ana.pick_custom(view["id"], tomorrow_at(8, 30), tomorrow_at(11, 30))
    view = ana.view(view["id"])
    counted = block_text(view, BlockId.RECIPIENTS)
    assert "3 clients will be texted" in counted
    assert "9:00 AM – 11:00 AM CST" in counted or "9:00 AM – 11:00 AM CDT" in counted
    ana.type_message(view["id"], MESSAGE)
    view = ana.view(view["id"])
    assert f"{320 - len(MESSAGE)} characters left · fits in one text" in block_text(
        view, BlockId.MESSAGE_STATS
    )

    confirm = ana.submit(view["id"])
    assert confirm.body["response_action"] == "push"
    assert confirm.shown is not None and confirm.shown["callback_id"] == CallbackId.CONFIRM
    shown = all_text(confirm.shown)
    assert "Send this text to *3 clients*" in shown and "done around" in shown and MESSAGE in shown
    assert confirm.shown["submit"]["text"] == "Send 3 texts"

    assert ana.submit(confirm.shown["id"]).body == {"response_action": "clear"}
    assert confirm.shown["id"] not in world.slack.views  # the whole modal stack closed
    (alert_id,) = created_alert(world)
    first_post = world.wait_for(lambda: world.slack.calls_to("chat.postMessage"), "the activity entry")[0]
    assert first_post.params["channel"] == CHANNEL
    assert ActionId.CANCEL_ALERT in all_text(first_post.params["blocks"]) or any(
        (b.get("accessory") or {}).get("action_id") == ActionId.CANCEL_ALERT
        for b in first_post.params["blocks"]
    )
    assert "by Dr. Ana Lee" in all_text(first_post.params["blocks"])

    done = world.wait_finished(alert_id)
    assert done.succeeded and done.sent == 3
    entry = world.slack.message(CHANNEL, first_post.response["ts"])
    assert entry is not None and "All 3 texts sent" in entry["text"]
    assert "✅" in all_text(entry["blocks"]) and "Cancel alert" not in all_text(entry["blocks"])
    (upload,) = world.slack.uploaded_files.values()
    assert upload.channels == [CHANNEL] and upload.thread_ts == entry["ts"]
    assert done.report_permalink == upload.info["permalink"]
    rows = report_rows(world, alert_id)
    assert sorted(rows) == ["Client 1", "Client 2", "Client 3"]
    assert {row["SMS Status"] for row in rows.values()} == {"Delivered"}
    assert sorted(m.to for m in world.twilio.messages) == sorted(PHONES)


def test_partial_failure_turns_red_with_the_count_and_the_reports_rows(world: World) -> None:
    alert_id = send(world, world.user())
    done = world.wait_finished(alert_id)
    assert not done.succeeded and (done.sent, done.failed, done.to_send) == (3, 2, 5)
    (entry,) = [m for m in world.messages() if not m.get("thread_ts")]
    assert "2 of 5 failed" in entry["text"]
    assert "🔴" in all_text(entry["blocks"]) and "report below: who and why" in all_text(entry["blocks"])
    rows = report_rows(world, alert_id)
    by_name = {name: rows[name] for name in rows}
    landline = by_name[world.names[LANDLINE]]
    assert landline["SMS Status"] == "Failed" and "21614" in landline["Error Details"]
    unreachable = by_name[world.names[UNREACHABLE]]
    assert unreachable["SMS Status"] == "Undelivered" and "30003" in unreachable["Error Details"]
    assert (
        by_name["Olive Optout"]["SMS Status"] == "Not sent"
        and "opted out" in by_name["Olive Optout"]["Error Details"].lower()
    )
    assert by_name["Nora Nophone"]["SMS Status"] == "Not sent"
    assert all(row["Message Text"] == MESSAGE for row in rows.values())


def test_a_double_clicked_confirm_creates_one_alert(world: World) -> None:
    ana = world.user()
    confirm = review(ana)
    assert confirm.shown is not None
    body = ana.submission_body(confirm.shown["id"])
    answers: list[tuple[int, str]] = []
    clicks = [threading.Thread(target=lambda: answers.append(ana.send(body))) for _ in range(2)]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    assert [status for status, _ in answers] == [200, 200]
    assert all('"clear"' in text for _, text in answers)
    (alert_id,) = created_alert(world)
    world.wait_finished(alert_id)
    assert world.alert_ids() == [alert_id]
    entries = [c for c in world.slack.calls_to("chat.postMessage") if c.params["channel"] == CHANNEL]
    assert len(entries) == 1
    assert len(world.twilio.messages) == 4  # five recipients; the landline is refused at create


@pytest.mark.parametrize(
    ("user_id", "channel", "reason"),
    [
        (STAFF, CHANNEL, "only Admins can send mass text alerts"),
        (UPTOWN_ADMIN, UPTOWN_CHANNEL, "Two-way texting is off for Happy Paws, Uptown"),
        (STRANGER, OTHER_CHANNEL, "not linked to a clinic user yet"),
    ],
)
def test_refusals_say_why_in_the_modal(lite: World, user_id: str, channel: str, reason: str) -> None:
    view = lite.user(user_id, channel).slash_command()
    assert view["callback_id"] == CallbackId.REFUSED
    assert reason in all_text(view)
    assert lite.alert_ids() == []


def test_zero_recipients_are_said_plainly_and_review_refuses(lite: World) -> None:
    ana = lite.user()
    view = ana.slash_command()  # "Rest of today": every appointment is tomorrow
    assert "No clients will be texted" in block_text(view, BlockId.RECIPIENTS)
    ana.type_message(view["id"], MESSAGE)
    answer = ana.submit(view["id"])
    assert answer.body["response_action"] == "errors"
    assert "nobody to text" in answer.body["errors"][BlockId.RANGE]
    assert lite.slack.view_errors[view["id"]] == answer.body["errors"]


def test_an_invalid_and_an_over_seven_day_range_are_refused_under_the_range(lite: World) -> None:
    ana = lite.user()
    view = ana.slash_command()
    ana.choose_range(view["id"], "custom")
    ana.type_message(view["id"], MESSAGE)
    ana.pick_custom(view["id"], tomorrow_at(12), tomorrow_at(9))
    assert "must be after" in block_text(ana.view(view["id"]), BlockId.RANGE_ERROR)
    answer = ana.submit(view["id"])
    assert answer.body["response_action"] == "errors"
    assert "must be after" in answer.body["errors"][BlockId.CUSTOM_END]

    ana.pick_custom(view["id"], tomorrow_at(9), tomorrow_at(9) + timedelta(days=8))
    assert "A range can be at most 7 days" in block_text(ana.view(view["id"]), BlockId.RANGE_ERROR)
    answer = ana.submit(view["id"])
    assert "A range can be at most 7 days" in answer.body["errors"][BlockId.RANGE]
    assert lite.alert_ids() == []


def test_a_too_long_message_is_refused_under_the_message(lite: World) -> None:
    ana = lite.user()
    view = ana.slash_command()
    ana.choose_range(view["id"], "today+1")
    ana.type_message(view["id"], "x" * 400)
    assert "80 characters too many" in block_text(ana.view(view["id"]), BlockId.MESSAGE_STATS)
    answer = ana.submit(view["id"])
    assert answer.body["response_action"] == "errors"
    assert "the limit is 320" in answer.body["errors"][BlockId.MESSAGE]
    assert set(answer.body["errors"]) == {BlockId.MESSAGE}


def test_bot_not_in_the_channel_tells_the_admin_by_dm_and_nothing_is_lost(lite: World) -> None:
    lite.slack.add_channel(CHANNEL, "frontdesk", member=False)
    alert_id = send(lite, lite.user())
    done = lite.wait_finished(alert_id)
    assert lite.messages(CHANNEL) == []
    dm = lite.slack.dm_channel(ADMIN)
    texts = [m["text"] for m in lite.messages(dm)]
    assert any("/invite @Mass Text Alerts" in t and "not a member" in t for t in texts)
    assert any("2 of 5 failed" in t for t in texts)
    (upload,) = lite.slack.uploaded_files.values()
    assert upload.channels == [dm] and upload.completed
    assert done.report_permalink == upload.info["permalink"]


def test_cancel_mid_send_is_for_admins_and_stops_the_rest(world: World) -> None:
    with world.sessions() as session, session.begin():
        session.execute(update(Clinic).where(Clinic.id == world.clinic_id).values(alert_pace_seconds=0.6))
    alert_id = send(world, world.user())
    world.wait_for(lambda: world.snapshot(alert_id).sent >= 1, "the first text")
    entry = world.wait_for(world.messages, "the activity entry")[0]
    sam = world.user(STAFF)
    assert (
        sam.click_message_button(
            CHANNEL, entry["ts"], BlockId.ACTIVITY_STATUS, ActionId.CANCEL_ALERT, str(alert_id)
        )
        == 200
    )
    refusal = world.wait_for(lambda: world.slack.ephemerals.get(CHANNEL), "the refusal shown to Sam")
    assert refusal[0]["user"] == STAFF and "only Admins" in refusal[0]["text"]
    assert world.snapshot(alert_id).state == "sending"

    ana = world.user()
    assert (
        ana.click_message_button(
            CHANNEL, entry["ts"], BlockId.ACTIVITY_STATUS, ActionId.CANCEL_ALERT, str(alert_id)
        )
        == 200
    )
    done = world.wait_finished(alert_id)
    assert done.state == "cancelled" and done.cancelled_by == "Dr. Ana Lee"
    assert len(world.twilio.messages) < 4
    final = world.slack.message(CHANNEL, entry["ts"])
    assert final is not None and "Cancelled" in final["text"]
    rows = report_rows(world, alert_id)
    assert any("alert cancelled" in row["Error Details"].lower() for row in rows.values())


def test_see_who_lists_the_clients_not_texted_and_why(lite: World) -> None:
    ana = lite.user()
    view = ana.slash_command()
    ana.choose_range(view["id"], "today+1")
    assert "2 will not be texted: " in block_text(ana.view(view["id"]), BlockId.SKIPPED_SUMMARY)
    pushed = ana.click_in_view(view["id"], BlockId.SKIPPED_SUMMARY, ActionId.SEE_WHO, "see_who")
    text = all_text(pushed)
    assert "Olive Optout" in text and "Opted out" in text
    assert "Nora Nophone" in text and "No mobile number" in text


def test_an_admin_of_several_clinics_picks_one_and_the_count_follows(lite: World) -> None:
    with lite.sessions() as session, session.begin():
        b = Builder(session)
        riverside = b.clinic(
            name="Happy Paws, Riverside",
            tz="America/Chicago",
            sms_from="+15005550006",
            slack_team_id=lite.slack.team_id,
            slack_channel_id="C0RIVER",
        )
        b.user(riverside, "ana@happypaws.test", Role.ADMIN, name="Dr. Ana Lee")
        b.visit(b.pet(b.client(riverside, "River Client", "+13125550177")), tomorrow_at(10))
        riverside_id = riverside.id
    ana = lite.user()
    view = ana.slash_command()
    picker = next(b for b in view["blocks"] if b.get("block_id") == BlockId.CLINIC)
    assert (
        picker["element"]["initial_option"]["text"]["text"] == "Happy Paws, Downtown"
    )  # the channel's clinic
    ana.choose_range(view["id"], "today+1")
    assert "5 clients will be texted" in block_text(ana.view(view["id"]), BlockId.RECIPIENTS)
    ana.choose_clinic(view["id"], riverside_id, "Happy Paws, Riverside")
    assert "1 client will be texted" in block_text(ana.view(view["id"]), BlockId.RECIPIENTS)


def test_app_home_lists_recent_alerts_with_their_report(lite: World) -> None:
    ana = lite.user()
    alert_id = send(lite, ana)
    done = lite.wait_finished(alert_id)
    home = ana.open_home()
    text = all_text(home)
    assert "Recent mass text alerts: Happy Paws, Downtown" in text
    assert f"*#{alert_id} · Happy Paws, Downtown*" in text and "Dr. Ana Lee" in text and "5 texted" in text
    buttons = [b["accessory"] for b in home["blocks"] if (b.get("accessory") or {}).get("url")]
    assert [b["url"] for b in buttons] == [done.report_permalink]
    stranger_home = lite.user(STRANGER, OTHER_CHANNEL).open_home()
    assert "not linked to a clinic user yet" in all_text(stranger_home)


def test_staff_follow_the_history_read_only_and_the_filter_republishes_it(lite: World) -> None:
    alert_id = send(lite, lite.user())
    lite.wait_finished(alert_id)
    sam = lite.user(STAFF)
    home = sam.open_home()
    text = all_text(home)
    assert f"*#{alert_id} · Happy Paws, Downtown*" in text and "5 texted · 2 failed" in text
    assert all(b.get("block_id") != BlockId.HOME_ACTIONS for b in home["blocks"])  # no New alert button
    before = len(lite.slack.calls_to("views.publish"))
    choice = action("static_select", ActionId.HOME_CLINIC_FILTER, BlockId.HOME_FILTER, f"{lite.clinic_id}:0")
    assert sam.act_in_home(home, choice) == 200
    lite.wait_for(lambda: len(lite.slack.calls_to("views.publish")) > before, "the filtered Home tab")
    filtered = lite.slack.calls_to("views.publish")[before]
    assert filtered.response["ok"] and f"*#{alert_id} · Happy Paws, Downtown*" in all_text(
        filtered.params["view"]
    )


def test_an_unexpected_failure_shows_a_code_the_person_can_quote(
    lite: World, caplog: pytest.LogCaptureFixture
) -> None:
    lite.slack.fail_next("views.update", "internal_error")  # the form cannot replace the loading modal
    view = lite.user().slash_command()
    text = all_text(view)
    assert view["callback_id"] == CallbackId.REFUSED and "Something went wrong on our side (error " in text
    code = text.split("(error ", 1)[1][:8]
    assert any(code in record.getMessage() and record.exc_info for record in caplog.records)


def test_a_rate_limited_post_is_retried_after_retry_after(lite: World) -> None:
    lite.slack.ratelimit_next("chat.postMessage", retry_after=1)
    alert_id = send(lite, lite.user(), "today+1")
    lite.wait_finished(alert_id)
    posts = lite.slack.calls_to("chat.postMessage")
    assert posts[0].response == {"ok": False, "error": "ratelimited"}
    assert posts[1].response["ok"] and posts[1].params["channel"] == CHANNEL
    assert len([m for m in lite.messages() if not m.get("thread_ts")]) == 1


def test_a_hash_conflict_never_reaches_the_person(lite: World) -> None:
    ana = lite.user()
    view = ana.slash_command()
    lite.slack.fail_next("views.update", "hash_conflict")  # a newer update won the race
    ana.type_message(view["id"], "Closing", wait=False)
    lite.wait_for(
        lambda: any(c.response.get("error") == "hash_conflict" for c in lite.slack.calls_to("views.update")),
        "the conflicting update",
    )
    ana.type_message(view["id"], "Closing early")  # the next keystroke's update goes through
    shown = ana.view(view["id"])
    assert shown["callback_id"] == CallbackId.COMPOSE
    assert "characters left" in block_text(shown, BlockId.MESSAGE_STATS)
    assert lite.slack.ephemerals == {} and lite.slack.calls_to("chat.postMessage") == []


def test_the_global_shortcut_and_the_home_button_open_the_same_form(lite: World) -> None:
    from sandbox.slack_requests import action, shortcut_payload

    ana = lite.user()
    trigger = lite.slack.new_trigger_id()
    assert ana.send(shortcut_payload(user_id=ADMIN, trigger_id=trigger, team_id=lite.slack.team_id))[0] == 200
    home = ana.open_home()
    click = action("button", ActionId.HOME_NEW_ALERT, BlockId.HOME_ACTIONS, "new")
    body = block_actions_payload(
        user_id=ADMIN,
        trigger_id=lite.slack.new_trigger_id(),
        actions=[click],
        view=home,
        team_id=lite.slack.team_id,
    )
    assert ana.send(body)[0] == 200
    opened = lite.wait_for(
        lambda: len(lite.slack.calls_to("views.open")) == 2 and lite.slack.calls_to("views.open"),
        "two modals",
    )
    for call in opened:
        view = lite.wait_for(
            lambda call=call: (
                (v := lite.slack.views[call.response["view"]["id"]])["callback_id"] == CallbackId.COMPOSE
                and v
            ),
            "the form",
        )
        assert "clients will be texted" in all_text(view) or "No clients will be texted" in all_text(view)
