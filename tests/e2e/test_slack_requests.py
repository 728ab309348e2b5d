"""How the served app takes Slack's requests: every event answered, refusals answered once, the
confirmation answered before the heavy work, bad requests refused early, nothing trusted from a view.

Over HTTP with signed requests as Slack sends them, against sandbox Slack (issue 12, items 1-3, 8, 9).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import event, text

from bot.ids import ActionId, BlockId, CallbackId
from sandbox.slack_events import (
    bot_message_event,
    channel_join_event,
    message_changed_event,
    message_deleted_event,
    message_event,
)
from sandbox.slack_requests import (
    action,
    block_actions_payload,
    event_body,
    post,
    shortcut_payload,
    slash_command_body,
    view_submission_payload,
)
from sandbox.slack_user import Answer, SlackUser
from services.models import Clinic
from tests.blockkit import all_text
from tests.e2e.slack_world import (
    ADMIN,
    CHANNEL,
    OTHER_CHANNEL,
    SECRET,
    STAFF,
    STRANGER,
    World,
    running_world,
    tomorrow_at,
)
from tests.integration.recipient_builders import Builder

MESSAGE = "Happy Paws closes at 3 PM today because of the storm. Please call 555-0100 to reschedule."
#: What Slack is shown by the app when a request reached a listener or the error handler.
SLACK_OUTPUT = ("chat.postMessage", "chat.postEphemeral", "views.open", "views.update", "views.push")


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    """On SQLite and PostgreSQL."""
    with running_world(db_url, tmp_path / "reports") as running:
        yield running


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[World]:
    """On SQLite only (no database is involved in what these cases check)."""
    with running_world(f"sqlite:///{tmp_path / 'e2e.db'}", tmp_path / "reports") as running:
        yield running


def shown_to_slack(world: World) -> list[str]:
    return [c.method for c in list(world.slack.calls) if c.method in SLACK_OUTPUT]


def review(user: SlackUser) -> dict[str, Any]:
    """Open the modal, pick tomorrow, type, click Review: the confirmation view Slack shows."""
    view = user.slash_command()
    user.choose_range(view["id"], "today+1")
    user.type_message(view["id"], MESSAGE)
    answer = user.submit(view["id"])
    assert answer.body["response_action"] == "push" and answer.shown is not None
    return answer.shown


def forge_metadata(world: World, view_id: str, change: dict[str, Any]) -> None:
    """Change what a view carries in private_metadata, as a forger holding the signing secret could."""
    with world.slack._lock:
        view = world.slack.views[view_id]
        view["private_metadata"] = json.dumps({**json.loads(view["private_metadata"]), **change})


# ----- 1. every event answered, retries act once --------------------------------------------------


def test_every_kind_of_message_event_and_its_retry_is_answered_200(world: World) -> None:
    ana = world.user()
    top = message_event(CHANNEL, ADMIN, "Closing early today &amp; tomorrow")
    events = [
        top,
        message_changed_event(CHANNEL, top, "Closing early today"),
        message_deleted_event(CHANNEL, top),
        channel_join_event(CHANNEL, STAFF, inviter=ADMIN),
        message_event(CHANNEL, STAFF, "on it", thread_ts=top["ts"]),  # a thread that is no conversation
        bot_message_event(CHANNEL, "B0DEPLOYS", "deploy finished"),
        message_event("G0PRIVATE", ADMIN, "private group", channel_type="group"),
    ]
    for each in events:
        answers = ana.event(each, retries=2)
        assert [a.status for a in answers] == [200, 200, 200], each.get("subtype", "message")
    assert shown_to_slack(world) == []  # answered, and nothing acted on


def test_an_event_delivered_like_slack_is_delivered_once(world: World) -> None:
    ana = world.user()
    answers = ana.event(message_event(CHANNEL, ADMIN, "hello"), like_slack=True)
    assert [a.status for a in answers] == [200]  # answered: Slack has no reason to retry


def test_a_retried_home_tab_event_publishes_once(world: World) -> None:
    ana = world.user()
    event = {
        "type": "app_home_opened",
        "user": ADMIN,
        "channel": world.slack.dm_channel(ADMIN),
        "tab": "home",
        "event_ts": f"{time.time():.6f}",
    }
    answers = ana.event(event, retries=3, retry_reason="http_timeout")
    assert [a.status for a in answers] == [200] * 4
    world.wait_for(lambda: world.slack.calls_to("views.publish"), "the Home tab")
    assert len(world.slack.calls_to("views.publish")) == 1


def test_simultaneous_retries_of_one_event_act_once(world: World) -> None:
    """Two web processes (or threads) receiving the same event_id: one of them acts."""
    event = {"type": "app_home_opened", "user": ADMIN, "tab": "home", "event_ts": f"{time.time():.6f}"}
    body = event_body(event, team_id=world.slack.team_id, api_app_id=world.slack.app_id)
    statuses: list[int] = []
    sends = [
        threading.Thread(target=lambda: statuses.append(post(world.served.events_url, body, SECRET)[0]))
        for _ in range(4)
    ]
    for send in sends:
        send.start()
    for send in sends:
        send.join()
    assert statuses == [200] * 4
    world.wait_for(lambda: world.slack.calls_to("views.publish"), "the Home tab")
    assert len(world.slack.calls_to("views.publish")) == 1


# ----- 2. refusals on time, once -------------------------------------------------------------------


@pytest.mark.parametrize(("user_id", "channel"), [(STAFF, CHANNEL), (STRANGER, OTHER_CHANNEL)])
def test_thirty_refused_tries_in_a_row_are_each_answered_once(
    lite: World, user_id: str, channel: str
) -> None:
    person = lite.user(user_id, channel)
    for _ in range(30):
        shown = person.slash_command()  # raises unless the app answered 200
        assert shown["callback_id"] == CallbackId.REFUSED
        updates = [c for c in lite.slack.calls_to("views.update") if c.params.get("view_id") == shown["id"]]
        assert len(updates) == 1  # the refusal, shown once


def test_a_refused_shortcut_is_answered_and_the_refusal_shown_once(lite: World) -> None:
    person = lite.user(STRANGER, OTHER_CHANNEL)
    trigger = lite.slack.new_trigger_id()
    status, _ = person.send(
        shortcut_payload(user_id=STRANGER, trigger_id=trigger, team_id=lite.slack.team_id)
    )
    assert status == 200
    refused = lite.wait_for(
        lambda: [
            c for c in lite.slack.calls_to("views.update") if "not linked" in all_text(c.params["view"])
        ],
        "the refusal",
    )
    assert len(refused) == 1


# ----- 3. the confirmation answered before the alert is created ------------------------------------


@contextmanager
def alert_insert_held(world: World) -> Iterator[threading.Event]:
    """Hold the app's INSERT of a new alert row until the block ends; the event is set once one waits.

    A listener on the app's own engine (SQLAlchemy's before_cursor_execute), so the app under test is
    unchanged and every other statement runs as usual.
    """
    engine = world.context.engine
    assert engine is not None
    release, waiting = threading.Event(), threading.Event()

    def hold(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not release.is_set() and statement.lstrip().upper().startswith("INSERT INTO MASS_ALERTS"):
            waiting.set()
            release.wait(timeout=30)

    # Never removed: removing a listener while another thread runs the engine's listeners breaks them.
    event.listen(engine, "before_cursor_execute", hold)
    try:
        yield waiting
    finally:
        release.set()


def test_confirm_is_answered_before_the_alert_is_created_and_a_second_click_makes_no_other(
    world: World,
) -> None:
    ana = world.user()
    confirm = review(ana)
    body = ana.submission_body(confirm["id"])
    answers: list[tuple[int, str]] = []
    with alert_insert_held(world) as waiting:
        click = threading.Thread(target=lambda: answers.append(ana.send(body)))
        click.start()
        world.wait_for(lambda: answers, "the click to be answered while the alert cannot be written yet")
        assert [(status, json.loads(reply)) for status, reply in answers] == [
            (200, {"response_action": "clear"})
        ]
        # The alert's row is written only now, after the answer (on SQLite this holds the database).
        world.wait_for(waiting.is_set, "the alert's creation, after the answer")
    click.join()
    (alert_id,) = world.wait_for(lambda: world.alert_ids() or None, "the alert, once it may be written")
    status, reply = ana.send(body)  # clicked again after the alert was made
    assert status == 200 and json.loads(reply) == {"response_action": "clear"}
    world.wait_finished(alert_id)
    assert world.alert_ids() == [alert_id]
    entries = [c for c in world.slack.calls_to("chat.postMessage") if c.params["channel"] == CHANNEL]
    assert len(entries) == 1


def test_a_refusal_found_after_the_answer_is_told_in_the_channel(world: World) -> None:
    """Everyone in the range cancelled between Review and Send: the modal is closed, the admin is told."""
    ana = world.user()
    confirm = review(ana)
    with world.sessions() as session, session.begin():
        session.execute(text("UPDATE appointments SET status = 'cancelled'"))
    answer = ana.submit(confirm["id"])
    assert answer.body == {"response_action": "clear"}
    told = world.wait_for(lambda: world.slack.calls_to("chat.postEphemeral"), "the refusal in the channel")
    assert told[0].params["channel"] == CHANNEL and told[0].params["user"] == ADMIN
    assert "Nobody" in told[0].params["text"] or "no client" in told[0].params["text"].lower()
    assert world.alert_ids() == []


# ----- 8. refused early: signature, size, syntax ---------------------------------------------------


def signed_with(body: bytes, timestamp: str) -> dict[str, str]:
    """Slack's two headers, signed over whatever `timestamp` says (integer or not)."""
    digest = hmac.new(SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest.hexdigest()}"}


@pytest.mark.parametrize("timestamp", ["abc", "1.7e9", "{now}.5", " {now}", "-{now}", ""])
def test_a_timestamp_that_is_not_an_integer_is_refused_with_401_and_nothing_runs(
    lite: World, timestamp: str
) -> None:
    stamp = timestamp.format(now=int(time.time()))
    command = slash_command_body(
        user_id=ADMIN, channel_id=CHANNEL, trigger_id=lite.slack.new_trigger_id(), team_id=lite.slack.team_id
    )
    status, _ = post(lite.served.events_url, command, SECRET, headers=signed_with(command, stamp))
    assert status == 401
    assert shown_to_slack(lite) == []


def raw_request(world: World, head: str, chunks: list[bytes] | None = None) -> str:
    """Send a request by hand (the headers, then `chunks` if any); the status line of the answer."""
    url = urlsplit(world.served.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
        conn.sendall(head.encode())
        try:
            for chunk in chunks or []:
                conn.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the whole body was sent
        return conn.makefile("rb").readline().decode()


@pytest.mark.parametrize("path", ["/slack/events", "/twilio/inbound", "/twilio/status"])
def test_a_declared_oversize_body_is_refused_with_413_before_it_is_sent(lite: World, path: str) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {100 * 1024 * 1024}\r\n\r\n"
    )
    assert raw_request(lite, head).split()[1] == "413"  # answered with not one byte of the body sent


@pytest.mark.parametrize("path", ["/slack/events", "/twilio/inbound"])
def test_an_oversize_chunked_body_is_refused_with_413(lite: World, path: str) -> None:
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    piece = b"a" * 65536
    chunks = [b"%x\r\n" % len(piece) + piece + b"\r\n" for _ in range(17)] + [b"0\r\n\r\n"]  # 1.06 MiB
    assert raw_request(lite, head, chunks).split()[1] == "413"


def test_a_body_under_the_cap_is_still_served(lite: World) -> None:
    padding = "x" * (512 * 1024)
    command = slash_command_body(
        user_id=ADMIN,
        channel_id=CHANNEL,
        trigger_id=lite.slack.new_trigger_id(),
        team_id=lite.slack.team_id,
        text=padding,
    )
    assert post(lite.served.events_url, command, SECRET)[0] == 200


def _view_submission(world: World, view: dict[str, Any]) -> bytes:
    return view_submission_payload(
        user_id=ADMIN, view=view, trigger_id=world.slack.new_trigger_id(), team_id=world.slack.team_id
    )


def malformed_bodies(world: World) -> dict[str, bytes]:
    team = world.slack.team_id
    confirm_view = {
        "id": "V0FORGED",
        "type": "modal",
        "callback_id": CallbackId.CONFIRM,
        "private_metadata": "{not json",
        "state": {"values": {}},
    }
    compose_view = {**confirm_view, "callback_id": CallbackId.COMPOSE, "private_metadata": '{"k": "x"}'}
    return {
        "bad JSON in payload": urlencode({"payload": '{"type": "block_actions", '}).encode(),
        "a JSON list": b"[1, 2, 3]",
        "a JSON body that is not JSON": b"{oops",
        "view_submission without a view": urlencode(
            {"payload": json.dumps({"type": "view_submission", "user": {"id": ADMIN}, "trigger_id": "1.2"})}
        ).encode(),
        "block_actions without actions": block_actions_payload(
            user_id=ADMIN, trigger_id="1.2.3", actions=[], view=compose_view, team_id=team
        ),
        "a confirmation whose metadata is not JSON": _view_submission(world, confirm_view),
        "a compose view whose metadata lacks its fields": block_actions_payload(
            user_id=ADMIN,
            trigger_id="1.2.3",
            actions=[{"type": "button", "action_id": ActionId.SEE_WHO, "block_id": BlockId.RECIPIENTS}],
            view=compose_view,
            team_id=team,
        ),
        "a command without its user": urlencode(
            {"command": "/mass-alert", "team_id": team, "trigger_id": "1.2.3", "channel_id": CHANNEL}
        ).encode(),
        "an event_callback without its event": json.dumps(
            {"type": "event_callback", "team_id": team, "event_id": "Ev0BROKEN"}
        ).encode(),
        "a Cancel click without the alert": block_actions_payload(
            user_id=ADMIN,
            trigger_id="1.2.3",
            actions=[{"type": "button", "action_id": ActionId.CANCEL_ALERT, "block_id": "b"}],
            channel_id=CHANNEL,
            message={"ts": "1.000001", "text": "entry"},
            team_id=team,
        ),
    }


def test_signed_but_malformed_payloads_are_refused_with_400_and_nothing_runs(lite: World) -> None:
    for name, body in malformed_bodies(lite).items():
        status, _ = post(lite.served.events_url, body, SECRET)
        assert status == 400, name
    assert shown_to_slack(lite) == []
    assert lite.alert_ids() == []


# ----- 9. nothing carried in a view is trusted ------------------------------------------------------


def test_a_signed_confirm_carrying_a_thirty_day_range_is_refused(world: World) -> None:
    ana = world.user()
    confirm = review(ana)
    carried = json.loads(confirm["private_metadata"])
    forge_metadata(world, confirm["id"], {"e": carried["s"] + timedelta(days=30).total_seconds()})
    answer: Answer = ana.submit(confirm["id"])
    assert answer.status == 200 and answer.body["response_action"] == "update"
    assert "at most 7 days" in all_text(answer.body["view"])
    assert world.alert_ids() == []


def _uptown_clients(world: World, *, reachable: bool = True) -> None:
    """Two Uptown clients with an appointment tomorrow (without a usable phone unless `reachable`)."""
    with world.sessions() as session, session.begin():
        uptown = session.get(Clinic, world.uptown_id)
        assert uptown is not None
        uptown.two_way_texting = True
        b = Builder(session)
        for index, name in enumerate(("Uma Uptown", "Ulf Uptown")):
            phone = f"+1312555020{index}" if reachable else None
            client = b.client(
                uptown,
                name,
                phone,
                raw=None if reachable else "none",
                error=None if reachable else "no number",
            )
            b.visit(b.pet(client), tomorrow_at(10 + index))


def test_a_range_change_carrying_another_clinics_id_shows_nothing_of_it(world: World) -> None:
    _uptown_clients(world)
    ana = world.user()  # an admin of Downtown only
    view = ana.slash_command()
    forge_metadata(world, view["id"], {"k": world.uptown_id, "o": [[world.uptown_id, "Happy Paws, Uptown"]]})
    ana.choose_range(view["id"], "today+2")
    shown = all_text(ana.view(view["id"]))
    assert "2 clients will be texted" not in shown
    assert "not a clinic user of that clinic" in shown
    for call in world.slack.calls_to("views.update"):
        assert "2 clients will be texted" not in all_text(call.params["view"])


def test_see_who_carrying_another_clinics_id_lists_nobody_of_it(world: World) -> None:
    _uptown_clients(world, reachable=False)
    ana = world.user()
    view = ana.slash_command()
    forge_metadata(world, view["id"], {"k": world.uptown_id})
    entry = action("button", ActionId.SEE_WHO, BlockId.SKIPPED_SUMMARY, "see_who")
    status, _ = ana.send(ana.block_actions_body(view["id"], entry))
    assert status == 200
    ana.wait_for(lambda: "not a clinic user of that clinic" in all_text(ana.view(view["id"])), "the refusal")
    assert not any("Uptown" in all_text(call.params["view"]) for call in world.slack.calls_to("views.push"))
