"""Sandbox Slack over real HTTP through slack_sdk's WebClient: shapes, errors, rate limits, uploads."""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.ids import ActionId, BlockId
from bot.views import ComposeState, compose_view, loading_view
from sandbox.slack import SandboxSlack
from sandbox.slack_events import (
    EventSender,
    app_uninstalled_event,
    bot_message_event,
    channel_join_event,
    channel_mention,
    escape,
    file_share_event,
    link,
    message_changed_event,
    message_deleted_event,
    message_event,
    tokens_revoked_event,
    user_mention,
)
from sandbox.slack_requests import event_body, sign
from sandbox.slack_tiers import RateLimits
from sandbox.slack_user import SlackUser
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


def simple_modal(title: str = "Mass Text Alert") -> dict[str, Any]:
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
    assert (sandbox.message(CHANNEL, reply["ts"]) or {}).get("thread_ts") == posted["ts"]
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
    body = f"channel={CHANNEL}&text=hi&blocks={urllib.parse.quote(json.dumps(blocks))}".encode()
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


# ----- Events API deliveries with retries ---------------------------------------------------------


class EventApp:
    """A stand-in for the app's /slack/events: checks the signature, answers `statuses` in turn."""

    def __init__(self, secret: str, statuses: list[int], delays: list[float] | None = None) -> None:
        self.seen: list[tuple[dict[str, str], dict[str, Any]]] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stamp = int(self.headers["X-Slack-Request-Timestamp"])
                valid = sign(secret, body, stamp)["X-Slack-Signature"] == self.headers["X-Slack-Signature"]
                index = len(app.seen)
                app.seen.append((dict(self.headers), json.loads(body)))
                if delays and index < len(delays):
                    threading.Event().wait(delays[index])  # the app being slow, server side
                status = statuses[min(index, len(statuses) - 1)] if valid else 401
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack/events"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SECRET = "sandbox-signing-secret"


def test_slack_retries_a_failed_event_with_retry_headers_and_the_same_event_id() -> None:
    app = EventApp(SECRET, [500, 200])
    try:
        sender = EventSender(app.url, SECRET)
        body = event_body(message_event(CHANNEL, ADMIN, "Max &amp; Bella are fine"))
        answers = sender.deliver_like_slack(body)
        assert [(a.status, a.retry_num, a.retry_reason) for a in answers] == [
            (500, 0, None),
            (200, 1, "http_error"),
        ]
        assert answers[-1].acknowledged and not answers[0].acknowledged
        first, retry = (headers for headers, _ in app.seen)
        assert "X-Slack-Retry-Num" not in first
        assert (retry["X-Slack-Retry-Num"], retry["X-Slack-Retry-Reason"]) == ("1", "http_error")
        assert len({payload["event_id"] for _, payload in app.seen}) == 1
        forced = sender.deliver(body, retries=2)
        assert [a.retry_num for a in forced] == [0, 1, 2]
        assert [h.get("X-Slack-Retry-Reason") for h, _ in app.seen[2:]] == [
            None,
            "http_timeout",
            "http_timeout",
        ]
        assert len(sender.answers) == 5
    finally:
        app.close()


def test_a_slow_answer_is_recorded_as_a_timeout_and_retried() -> None:
    app = EventApp(SECRET, [200], delays=[0.5])
    try:
        sender = EventSender(app.url, SECRET, timeout=0.2)
        answers = sender.deliver_like_slack(event_body(message_event(CHANNEL, ADMIN, "hi")))
        assert answers[0].status is None and "timed out" in answers[0].text.lower()
        assert (answers[1].status, answers[1].retry_reason) == (200, "http_timeout")
    finally:
        app.close()


# ----- rate tiers ---------------------------------------------------------------------------------


class Ticker:
    """A hand-set monotonic clock for the rate windows."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_tier_3_refuses_chat_update_past_its_budget_per_workspace(
    sandbox: SandboxSlack, client: WebClient
) -> None:
    ticker = Ticker()
    limits = sandbox.enable_rate_limits(window=60, limits={"chat.update": 3}, post_limit=10, clock=ticker)
    assert RateLimits().limit_of("chat.update") == (50, 60.0)  # Tier 3 as Slack documents it
    posted = client.chat_postMessage(channel=CHANNEL, text="alert #1")
    for n in range(3):
        client.chat_update(channel=CHANNEL, ts=posted["ts"], text=f"{n} sent")
    with pytest.raises(SlackApiError) as caught:
        client.chat_update(channel=CHANNEL, ts=posted["ts"], text="too soon")
    assert caught.value.response.status_code == 429 and caught.value.response["error"] == "ratelimited"
    assert caught.value.response.headers["Retry-After"] in ("60", ["60"])
    assert (sandbox.message(CHANNEL, posted["ts"]) or {}).get("text") == "2 sent"
    other = sandbox.add_workspace("T0OTHER", "Other Clinic")
    sandbox.add_channel("C0OTHER", "other-frontdesk", team_id="T0OTHER")
    other_client = WebClient(base_url=sandbox.url, token=other.bot_token)
    theirs = other_client.chat_postMessage(channel="C0OTHER", text="their alert")
    assert other_client.chat_update(channel="C0OTHER", ts=theirs["ts"], text="fine")["ok"]
    ticker.now += 45
    with pytest.raises(SlackApiError) as again:
        client.chat_update(channel=CHANNEL, ts=posted["ts"], text="still too soon")
    assert again.value.response.headers["Retry-After"] in ("15", ["15"])
    ticker.now += 15
    assert client.chat_update(channel=CHANNEL, ts=posted["ts"], text="later")["ok"]
    updates = sandbox.calls_to("chat.update")
    assert [c.status for c in updates] == [200, 200, 200, 429, 200, 429, 200]
    assert {c.token for c in updates} == {sandbox.bot_token, other.bot_token}
    assert [c.team_id for c in updates].count("T0OTHER") == 1
    assert len(sandbox.call_times("chat.update", sandbox.team_id, answered_ok=True)) == 4
    assert limits is sandbox.rate_limits


def test_chat_post_message_is_limited_per_channel(sandbox: SandboxSlack, client: WebClient) -> None:
    ticker = Ticker()
    sandbox.enable_rate_limits(post_limit=1, post_window=1.0, clock=ticker)
    client.chat_postMessage(channel=CHANNEL, text="first")
    assert error_of(client.chat_postMessage, channel=CHANNEL, text="second") == "ratelimited"
    client.chat_postMessage(channel=PRIVATE, text="another channel")
    ticker.now += 1.0
    client.chat_postMessage(channel=CHANNEL, text="a second later")
    assert [m["text"] for m in sandbox.messages[CHANNEL]] == ["first", "a second later"]


# ----- the bot outside a channel ------------------------------------------------------------------


def test_a_channel_the_bot_left_refuses_posts_and_uploads_and_says_so(
    sandbox: SandboxSlack, client: WebClient
) -> None:
    sandbox.add_user("U0STAFF", real_name="Sam Staff")
    assert client.conversations_info(channel=CHANNEL)["channel"]["is_member"] is True
    assert sandbox.bot_user_id in client.conversations_members(channel=CHANNEL)["members"]
    sandbox.remove_bot(CHANNEL)
    assert client.conversations_info(channel=CHANNEL)["channel"]["is_member"] is False
    members = client.conversations_members(channel=CHANNEL)["members"]
    assert sandbox.bot_user_id not in members and "U0STAFF" in members
    assert error_of(client.chat_postMessage, channel=CHANNEL, text="progress") == "not_in_channel"
    with pytest.raises(SlackApiError) as caught:
        client.files_upload_v2(channel=CHANNEL, content=b"a,b\r\n", filename="r.csv", title="r")
    assert caught.value.response["error"] == "not_in_channel"
    sandbox.invite_bot(CHANNEL)
    assert client.chat_postMessage(channel=CHANNEL, text="back")["ok"]


# ----- what people type and attach ----------------------------------------------------------------


def test_message_events_carry_text_escaped_and_marked_up_as_slack_does(sandbox: SandboxSlack) -> None:
    text = (
        f"{escape('Max & Bella <3 > all')} see {link('https://happypaws.test/a?b=1&c=2', 'our page')} "
        f"{user_mention(ADMIN)} in {channel_mention(CHANNEL, 'frontdesk')} :dog:"
    )
    assert text == (
        "Max &amp; Bella &lt;3 &gt; all see <https://happypaws.test/a?b=1&c=2|our page> "
        f"<@{ADMIN}> in <#{CHANNEL}|frontdesk> :dog:"
    )
    event = message_event(CHANNEL, ADMIN, text, thread_ts="1700000000.000100")
    assert (event["type"], event["thread_ts"], event["channel"]) == ("message", "1700000000.000100", CHANNEL)
    edited = message_changed_event(CHANNEL, event, "Max is fine")
    assert (edited["subtype"], edited["message"]["text"], edited["previous_message"]["text"]) == (
        "message_changed",
        "Max is fine",
        text,
    )
    assert (
        edited["message"]["thread_ts"] == "1700000000.000100" and edited["message"]["edited"]["user"] == ADMIN
    )
    deleted = message_deleted_event(CHANNEL, event)
    assert (deleted["subtype"], deleted["deleted_ts"], deleted["hidden"]) == (
        "message_deleted",
        event["ts"],
        True,
    )
    joined = channel_join_event(CHANNEL, "U0NEW", inviter=ADMIN)
    assert joined["subtype"] == "channel_join" and joined["text"] == "<@U0NEW> has joined the channel"
    bot = bot_message_event(CHANNEL, "B0OTHER", "Build passed")
    assert bot["subtype"] == "bot_message" and "user" not in bot
    assert json.loads(event_body(bot, team_id="T0OTHER"))["team_id"] == "T0OTHER"


def test_a_file_share_event_points_at_a_downloadable_file(sandbox: SandboxSlack, client: WebClient) -> None:
    photo = b"\x89PNG\r\n\x1a\n" + b"max" * 50
    file = sandbox.add_user_file(ADMIN, "max.png", photo, "image/png", title="Max")
    event = file_share_event(CHANNEL, ADMIN, "Here is Max", [file], thread_ts="1700000000.000100")
    assert event["subtype"] == "file_share" and event["files"][0]["mimetype"] == "image/png"
    assert event["files"][0]["user"] == ADMIN and event["files"][0]["size"] == len(photo)
    with urllib.request.urlopen(event["files"][0]["url_private"], timeout=5) as response:
        assert response.read() == photo
    assert client.files_info(file=file["id"])["file"]["name"] == "max.png"


def test_users_info_gives_display_names(sandbox: SandboxSlack, client: WebClient) -> None:
    sandbox.add_user("U0NOEL", real_name="Noel Park", display_name="Dr. Noel")
    sandbox.add_user("U0PLAIN", real_name="Pat Plain", display_name="")
    assert client.users_info(user="U0NOEL")["user"]["profile"]["display_name"] == "Dr. Noel"
    plain = client.users_info(user="U0PLAIN")["user"]
    assert plain["profile"]["display_name"] == "" and plain["profile"]["real_name"] == "Pat Plain"


# ----- workspaces, OAuth and revoked tokens -------------------------------------------------------


def test_every_token_answers_for_its_own_workspace(sandbox: SandboxSlack, client: WebClient) -> None:
    other = sandbox.add_workspace("T0OTHER", "Other Clinic", enterprise_id="E0GRID")
    sandbox.add_channel("C0OTHER", "other-frontdesk", team_id="T0OTHER")
    other_client = WebClient(base_url=sandbox.url, token=other.bot_token)
    mine, theirs = client.auth_test(), other_client.auth_test()
    assert (mine["team_id"], theirs["team_id"]) == (sandbox.team_id, "T0OTHER")
    assert theirs["user_id"] == other.bot_user_id != mine["user_id"] and theirs["enterprise_id"] == "E0GRID"
    assert error_of(client.chat_postMessage, channel="C0OTHER", text="x") == "channel_not_found"
    assert error_of(other_client.chat_postMessage, channel=CHANNEL, text="x") == "channel_not_found"
    posted = other_client.chat_postMessage(channel="C0OTHER", text="theirs")
    assert posted["message"]["user"] == other.bot_user_id
    assert [c.team_id for c in sandbox.calls_to("chat.postMessage")] == [
        sandbox.team_id,
        "T0OTHER",
        "T0OTHER",
    ]


def test_oauth_v2_access_exchanges_a_code_for_a_bot_token(sandbox: SandboxSlack) -> None:
    sandbox.add_workspace("T0NEW", "New Clinic", installed=False)
    anonymous = WebClient(base_url=sandbox.url)
    code = sandbox.issue_oauth_code(
        "T0NEW", user_id="U0INSTALL", redirect_uri="https://app.test/slack/oauth_redirect"
    )
    answer = anonymous.oauth_v2_access(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        code=code,
        redirect_uri="https://app.test/slack/oauth_redirect",
    )
    assert answer["token_type"] == "bot" and answer["access_token"].startswith("xoxb-")
    assert answer["team"] == {"id": "T0NEW", "name": "New Clinic"} and answer["enterprise"] is None
    assert answer["bot_user_id"] == sandbox.workspace("T0NEW").bot_user_id
    assert answer["app_id"] == sandbox.app_id and answer["authed_user"]["id"] == "U0INSTALL"
    assert "chat:write" in answer["scope"].split(",") and answer["is_enterprise_install"] is False
    installed = WebClient(base_url=sandbox.url, token=answer["access_token"])
    assert installed.auth_test()["team_id"] == "T0NEW"
    again = {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret, "code": code}
    assert error_of(anonymous.oauth_v2_access, **again) == "invalid_code"
    fresh = sandbox.issue_oauth_code("T0NEW")
    wrong = {"client_id": sandbox.client_id, "client_secret": "nope", "code": fresh}
    assert error_of(anonymous.oauth_v2_access, **wrong) == "bad_client_secret"


def test_uninstall_and_revoked_tokens(sandbox: SandboxSlack, client: WebClient) -> None:
    other = sandbox.add_workspace("T0OTHER", "Other Clinic")
    other_client = WebClient(base_url=sandbox.url, token=other.bot_token)
    assert other_client.apps_uninstall(client_id=sandbox.client_id, client_secret=sandbox.client_secret)["ok"]
    assert error_of(other_client.auth_test) == "token_revoked"
    assert sandbox.workspace("T0OTHER").installed is False
    assert client.auth_test()["ok"]  # the other workspace is untouched
    code = sandbox.issue_oauth_code("T0OTHER")
    reinstalled = WebClient(base_url=sandbox.url).oauth_v2_access(
        client_id=sandbox.client_id, client_secret=sandbox.client_secret, code=code
    )
    assert (
        WebClient(base_url=sandbox.url, token=reinstalled["access_token"]).auth_test()["team_id"] == "T0OTHER"
    )
    sandbox.revoke_token(sandbox.bot_token)
    assert error_of(client.auth_test) == "token_revoked"
    assert error_of(WebClient(base_url=sandbox.url, token="xoxb-never-issued").auth_test) == "invalid_auth"


def test_install_events_are_delivered_signed() -> None:
    app = EventApp(SECRET, [200])
    try:
        sender = EventSender(app.url, SECRET)
        sender.send(event_body(app_uninstalled_event(), team_id="T0OTHER"))
        sender.send(event_body(tokens_revoked_event(bot=["U0BOTOTHER"]), team_id="T0OTHER"))
        assert [a.status for a in sender.answers] == [200, 200]
        kinds = [(payload["team_id"], payload["event"]) for _, payload in app.seen]
        assert kinds == [
            ("T0OTHER", {"type": "app_uninstalled"}),
            ("T0OTHER", {"type": "tokens_revoked", "tokens": {"bot": ["U0BOTOTHER"]}}),
        ]
    finally:
        app.close()


def test_a_slack_user_delivers_events_with_retries_and_keeps_the_answers(sandbox: SandboxSlack) -> None:
    app = EventApp(SECRET, [200])
    try:
        user = SlackUser(sandbox, app.url, SECRET, user_id=ADMIN, channel_id=CHANNEL)
        answers = user.event(message_event(CHANNEL, ADMIN, "Thanks!"), retries=1)
        assert [(a.status, a.retry_num) for a in answers] == [(200, 0), (200, 1)]
        assert all(a.acknowledged and a.elapsed >= 0 for a in answers)
        assert [payload["team_id"] for _, payload in app.seen] == [sandbox.team_id] * 2
        assert user.events.answers == answers
    finally:
        app.close()
