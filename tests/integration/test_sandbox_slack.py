"""Sandbox Slack over real HTTP through slack_sdk's WebClient: shapes, errors, rate limits, uploads."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.ids import ActionId, BlockId
from bot.views import ComposeState, compose_view, loading_view
from sandbox.slack import SandboxSlack
from services.clock import ManualClock

CHANNEL = "C0FRONTDESK"
PRIVATE = "G0MANAGERS"
OUTSIDE = "C0OUTSIDE"
ADMIN = "U0ADMIN"


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[SandboxSlack]:
    with SandboxSlack(clock=clock) as slack:
        slack.add_channel(CHANNEL, "frontdesk")
        slack.add_channel(PRIVATE, "managers", private=True)
        slack.add_channel(OUTSIDE, "random", member=False)
        slack.add_user(ADMIN, email="ana@happypaws.test", real_name="Dr. Ana Lee")
        yield slack


@pytest.fixture
def client(sandbox: SandboxSlack) -> WebClient:
    return WebClient(base_url=sandbox.url, token=sandbox.bot_token, timeout=5)


def error_of(method: Callable[..., Any], **kwargs: Any) -> str:
    """The Slack error code `method(**kwargs)` fails with."""
    with pytest.raises(SlackApiError) as caught:
        method(**kwargs)
    return str(caught.value.response["error"])


def simple_modal(title: str = "Mass Text Alert") -> dict:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "blocks": [{"type": "section", "block_id": "b", "text": {"type": "mrkdwn", "text": "hi"}}],
    }


def test_auth_test_and_token_checks(sandbox: SandboxSlack, client: WebClient) -> None:
    answer = client.auth_test()
    assert answer["user_id"] == sandbox.bot_user_id and answer["team_id"] == sandbox.team_id
    wrong = WebClient(base_url=sandbox.url, token="xoxb-forged")
    assert error_of(wrong.auth_test) == "invalid_auth"
    anonymous = WebClient(base_url=sandbox.url)
    assert error_of(anonymous.auth_test) == "not_authed"
    # the token may also come as a form field, as older clients send it
    body = f"token={sandbox.bot_token}".encode()
    request = urllib.request.Request(
        f"{sandbox.url}auth.test", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read())["ok"] is True
    assert [c.method for c in sandbox.calls] == ["auth.test"] * 4
    assert error_of(client.api_call, api_method="no.such.method") == "unknown_method"


def test_views_open_needs_a_fresh_trigger(
    sandbox: SandboxSlack, client: WebClient, clock: ManualClock
) -> None:
    trigger = sandbox.new_trigger_id()
    opened = client.views_open(trigger_id=trigger, view=loading_view())["view"]
    assert opened["id"].startswith("V") and opened["hash"]
    assert sandbox.views[opened["id"]]["callback_id"] == "mass_alert_loading"
    assert error_of(client.views_open, trigger_id=trigger, view=loading_view()) == "exchanged_trigger_id"
    assert error_of(client.views_open, trigger_id="123.456.abc", view=loading_view()) == "expired_trigger_id"
    stale = sandbox.new_trigger_id()
    clock.advance(3.5)
    assert error_of(client.views_open, trigger_id=stale, view=loading_view()) == "expired_trigger_id"
    listed = sandbox.new_trigger_id()
    sandbox.expired_triggers.add(listed)
    assert error_of(client.views_open, trigger_id=listed, view=loading_view()) == "expired_trigger_id"


def test_views_open_refuses_a_malformed_view(sandbox: SandboxSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as caught:
        too_long = simple_modal("A title far too long for Slack")
        client.views_open(trigger_id=sandbox.new_trigger_id(), view=too_long)
    assert caught.value.response["error"] == "invalid_arguments"
    assert "title" in caught.value.response["response_metadata"]["messages"][0]


def test_views_update_checks_the_hash_and_keeps_typed_text(sandbox: SandboxSlack, client: WebClient) -> None:
    state = ComposeState(tz="America/Chicago", recipients=3, message="")
    opened = client.views_open(trigger_id=sandbox.new_trigger_id(), view=compose_view(state))["view"]
    sandbox.set_input(
        opened["id"],
        BlockId.MESSAGE,
        ActionId.MESSAGE_INPUT,
        {"type": "plain_text_input", "value": "Closed today"},
    )
    updated = client.views_update(
        view_id=opened["id"],
        hash=opened["hash"],
        view=compose_view(ComposeState(tz="America/Chicago", recipients=5)),
    )["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert updated["state"]["values"][BlockId.MESSAGE][ActionId.MESSAGE_INPUT]["value"] == "Closed today"
    assert "5 clients" in json.dumps(sandbox.views[opened["id"]]["blocks"])
    stale = {"view_id": opened["id"], "hash": opened["hash"], "view": simple_modal()}
    assert error_of(client.views_update, **stale) == "hash_conflict"
    # without a hash the update always wins; a view that drops the input drops its state
    client.views_update(view_id=opened["id"], view=simple_modal())
    assert sandbox.views[opened["id"]]["state"]["values"] == {}
    assert error_of(client.views_update, view_id="V404", view=simple_modal()) == "not_found"


def test_views_update_by_external_id(sandbox: SandboxSlack, client: WebClient) -> None:
    view = {**simple_modal(), "external_id": "alert-draft-1"}
    opened = client.views_open(trigger_id=sandbox.new_trigger_id(), view=view)["view"]
    updated = client.views_update(
        external_id="alert-draft-1", view={**simple_modal("Updated"), "external_id": "alert-draft-1"}
    )["view"]
    assert updated["id"] == opened["id"] and updated["title"]["text"] == "Updated"


def test_views_push_stacks_on_the_modal_of_the_trigger(sandbox: SandboxSlack, client: WebClient) -> None:
    root = client.views_open(trigger_id=sandbox.new_trigger_id(), view=simple_modal())["view"]
    second_trigger = sandbox.new_trigger_id(root["id"])
    second = client.views_push(trigger_id=second_trigger, view=simple_modal("Confirm"))["view"]
    assert second["root_view_id"] == root["id"] and second["previous_view_id"] == root["id"]
    third_trigger = sandbox.new_trigger_id(second["id"])
    third = client.views_push(trigger_id=third_trigger, view=simple_modal("Who"))["view"]
    assert third["previous_view_id"] == second["id"]
    fourth = sandbox.new_trigger_id(third["id"])
    assert error_of(client.views_push, trigger_id=fourth, view=simple_modal()) == "push_limit_reached"


def test_views_publish_home(sandbox: SandboxSlack, client: WebClient) -> None:
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Activity"}}]}
    first = client.views_publish(user_id=ADMIN, view=home)["view"]
    second = client.views_publish(user_id=ADMIN, view=home, hash=first["hash"])["view"]
    assert second["id"] == first["id"] and sandbox.home_views[ADMIN]["hash"] == second["hash"]
    assert error_of(client.views_publish, user_id=ADMIN, view=home, hash=first["hash"]) == "hash_conflict"
    assert error_of(client.views_publish, user_id="U0NOBODY", view=home) == "user_not_found"


def test_post_update_and_permalink(sandbox: SandboxSlack, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "📣 alert #1"}}]
    posted = client.chat_postMessage(channel=CHANNEL, text="alert #1", blocks=blocks)
    assert posted["channel"] == CHANNEL and posted["message"]["blocks"] == blocks
    client.chat_update(channel=CHANNEL, ts=posted["ts"], text="alert #1: 1 of 2 sent", blocks=blocks)
    client.chat_update(channel=CHANNEL, ts=posted["ts"], text="All 2 texts sent", blocks=blocks)
    message = sandbox.messages[CHANNEL][0]
    assert message["text"] == "All 2 texts sent" and message["ts"] == posted["ts"]
    assert [h["text"] for h in message["history"]] == ["alert #1", "alert #1: 1 of 2 sent"]
    reply = client.chat_postMessage(channel=CHANNEL, text="report", thread_ts=posted["ts"])
    assert sandbox.message(CHANNEL, reply["ts"])["thread_ts"] == posted["ts"]
    link = client.chat_getPermalink(channel=CHANNEL, message_ts=posted["ts"])["permalink"]
    assert link == f"https://sandbox.slack.com/archives/{CHANNEL}/p{posted['ts'].replace('.', '')}"
    assert error_of(client.chat_update, channel=CHANNEL, ts="1.000001", text="x") == "message_not_found"
    assert error_of(client.chat_getPermalink, channel=CHANNEL, message_ts="1.2") == "message_not_found"
    with pytest.warns(UserWarning, match="text"):
        assert error_of(client.chat_postMessage, channel=CHANNEL) == "no_text"


def test_posting_where_the_bot_is_not_a_member(sandbox: SandboxSlack, client: WebClient) -> None:
    assert error_of(client.chat_postMessage, channel=OUTSIDE, text="hi") == "not_in_channel"
    assert error_of(client.chat_postMessage, channel="C0NOWHERE", text="hi") == "channel_not_found"
    sandbox.members.discard(PRIVATE)  # a private channel the bot left is invisible
    assert error_of(client.chat_postMessage, channel=PRIVATE, text="hi") == "channel_not_found"
    assert error_of(client.chat_postEphemeral, channel=OUTSIDE, user=ADMIN, text="hi") == "not_in_channel"
    assert OUTSIDE not in sandbox.messages
    joined = client.conversations_join(channel=OUTSIDE)
    assert joined["channel"]["is_member"] is True
    client.chat_postMessage(channel=OUTSIDE, text="now I can")
    assert sandbox.messages[OUTSIDE][0]["text"] == "now I can"


def test_ephemeral_and_direct_messages(sandbox: SandboxSlack, client: WebClient) -> None:
    notice = "Invite me with /invite @Mass Text Alerts"
    answer = client.chat_postEphemeral(channel=CHANNEL, user=ADMIN, text=notice)
    assert answer["message_ts"]
    assert sandbox.ephemerals[CHANNEL][0]["user"] == ADMIN
    sandbox.add_channel("C0SMALL", "small", user_ids={"U0SOMEONE"})
    assert (
        error_of(client.chat_postEphemeral, channel="C0SMALL", user=ADMIN, text="x") == "user_not_in_channel"
    )
    dm = client.conversations_open(users=ADMIN)["channel"]["id"]
    assert dm.startswith("D") and dm == sandbox.dm_channel(ADMIN)
    again = client.conversations_open(users=ADMIN)
    assert again["channel"]["id"] == dm and again["already_open"] is True
    client.chat_postMessage(channel=dm, text="Your alert #3 finished: all 5 texts sent")
    assert sandbox.messages[dm][0]["text"].startswith("Your alert #3")
    assert error_of(client.conversations_open, users="U0NOBODY") == "user_not_found"


def test_conversations_info(sandbox: SandboxSlack, client: WebClient) -> None:
    info = client.conversations_info(channel=CHANNEL)["channel"]
    assert info["name"] == "frontdesk" and info["is_member"] is True and info["is_private"] is False
    assert client.conversations_info(channel=OUTSIDE)["channel"]["is_member"] is False
    assert error_of(client.conversations_info, channel="C0NOWHERE") == "channel_not_found"
    assert error_of(client.conversations_join, channel=PRIVATE) == "method_not_supported_for_channel_type"


def test_users_info(sandbox: SandboxSlack, client: WebClient) -> None:
    user = client.users_info(user=ADMIN)["user"]
    assert user["profile"]["email"] == "ana@happypaws.test"
    assert user["tz"] == "America/Chicago" and user["real_name"] == "Dr. Ana Lee"
    assert user["team_id"] == sandbox.team_id
    assert error_of(client.users_info, user="U0NOBODY") == "user_not_found"


def test_upload_v2_end_to_end(sandbox: SandboxSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel=CHANNEL, text="alert #12")
    report = b"Client Full Name,Client Phone Number,SMS Status,Error Details,Message Text,Timestamp\r\n"
    done = client.files_upload_v2(
        channel=CHANNEL,
        content=report,
        filename="mass-alert-12-2026-12-02.csv",
        title="Mass alert #12 report",
        initial_comment="Report for alert #12",
        thread_ts=posted["ts"],
    )
    file = done["file"]
    assert file["name"] == "mass-alert-12-2026-12-02.csv" and file["title"] == "Mass alert #12 report"
    assert file["permalink"].startswith("https://sandbox.slack.com/files/")
    assert sandbox.uploaded_files[file["id"]].content == report
    shared = sandbox.messages[CHANNEL][-1]
    assert shared["files"][0]["id"] == file["id"] and shared["thread_ts"] == posted["ts"]
    assert shared["text"] == "Report for alert #12"
    assert file["shares"]["public"][CHANNEL][0]["thread_ts"] == posted["ts"]
    with urllib.request.urlopen(file["url_private"], timeout=5) as response:
        assert response.read() == report
    assert client.files_info(file=file["id"])["file"]["id"] == file["id"]
    methods = [c.method for c in sandbox.calls]
    assert methods == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
        "files.info",
    ]


def test_upload_into_a_channel_without_the_bot_fails_but_the_file_can_go_by_dm(
    sandbox: SandboxSlack, client: WebClient
) -> None:
    with pytest.raises(SlackApiError) as caught:
        client.files_upload_v2(channel=OUTSIDE, content=b"a,b\r\n", filename="r.csv", title="r")
    assert caught.value.response["error"] == "not_in_channel"
    assert OUTSIDE not in sandbox.messages
    dm = client.conversations_open(users=ADMIN)["channel"]["id"]
    client.files_upload_v2(channel=dm, content=b"a,b\r\n", filename="r.csv", title="r")
    assert sandbox.messages[dm][-1]["files"][0]["name"] == "r.csv"


def test_complete_upload_without_the_bytes_is_refused(sandbox: SandboxSlack, client: WebClient) -> None:
    ticket = client.files_getUploadURLExternal(filename="r.csv", length=3)
    error = error_of(
        client.files_completeUploadExternal,
        files=[{"id": ticket["file_id"], "title": "r"}],
        channel_id=CHANNEL,
    )
    assert error == "file_not_found"


def test_fail_next_injects_errors_in_order(sandbox: SandboxSlack, client: WebClient) -> None:
    sandbox.fail_next("chat.postMessage", "channel_is_archived", count=2)
    assert error_of(client.chat_postMessage, channel=CHANNEL, text="a") == "channel_is_archived"
    assert error_of(client.chat_postMessage, channel=CHANNEL, text="b") == "channel_is_archived"
    assert client.chat_postMessage(channel=CHANNEL, text="c")["ok"] is True
    assert [m["text"] for m in sandbox.messages[CHANNEL]] == ["c"]
    assert [c.response["ok"] for c in sandbox.calls_to("chat.postMessage")] == [False, False, True]


def test_ratelimited_answers_429_with_retry_after(sandbox: SandboxSlack, client: WebClient) -> None:
    sandbox.ratelimit_next("chat.update", retry_after=7)
    posted = client.chat_postMessage(channel=CHANNEL, text="a")
    with pytest.raises(SlackApiError) as caught:
        client.chat_update(channel=CHANNEL, ts=posted["ts"], text="b")
    assert caught.value.response.status_code == 429
    assert caught.value.response["error"] == "ratelimited"
    assert caught.value.response.headers["Retry-After"] in ("7", ["7"])


def test_rate_limit_retry_handler_retries_after_the_wait(sandbox: SandboxSlack) -> None:
    client = WebClient(
        base_url=sandbox.url,
        token=sandbox.bot_token,
        timeout=5,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    sandbox.ratelimit_next("chat.postMessage", retry_after=0)
    assert client.chat_postMessage(channel=CHANNEL, text="eventually")["ok"] is True
    assert [c.response.get("error") for c in sandbox.calls_to("chat.postMessage")] == ["ratelimited", None]
    assert [m["text"] for m in sandbox.messages[CHANNEL]] == ["eventually"]


def test_form_encoded_bodies_with_json_fields_are_understood(sandbox: SandboxSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    body = f"channel={CHANNEL}&text=hi&blocks={urllib.request.quote(json.dumps(blocks))}".encode()
    request = urllib.request.Request(
        f"{sandbox.url}chat.postMessage",
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Bearer {sandbox.bot_token}",
        },
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read())["ok"] is True
    assert sandbox.messages[CHANNEL][0]["blocks"] == blocks
    assert sandbox.calls_to("chat.postMessage")[0].params["blocks"] == blocks
