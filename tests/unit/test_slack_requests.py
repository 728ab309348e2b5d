"""Requests signed and shaped as Slack sends them, checked with slack_sdk's own verifier."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.ids import ActionId, BlockId
from sandbox.slack_requests import (
    action,
    block_actions_payload,
    event_body,
    post,
    shortcut_payload,
    sign,
    slash_command_body,
    state_value,
    view_closed_payload,
    view_submission_payload,
    with_state,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def payload_of(body: bytes) -> dict[str, Any]:
    fields = parse_qs(body.decode())
    assert list(fields) == ["payload"]
    return json.loads(fields["payload"][0])


def test_signature_is_what_slack_sdk_verifies() -> None:
    body = slash_command_body(user_id="U0ADMIN", channel_id="C0FRONT", trigger_id="1.2.3")
    now = int(time.time())
    headers = sign(SECRET, body, now)
    assert headers["X-Slack-Signature"].startswith("v0=")
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + b"&text=forged", headers)
    assert not verifier.is_valid_request(body, sign(SECRET, body, now - 600))  # stale


def test_slash_command_body_has_slacks_fields() -> None:
    body = slash_command_body(user_id="U0ADMIN", channel_id="C0FRONT", trigger_id="1.2.3", text="help")
    fields = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    assert fields["command"] == "/mass-alert" and fields["text"] == "help"
    assert (fields["user_id"], fields["channel_id"], fields["trigger_id"]) == ("U0ADMIN", "C0FRONT", "1.2.3")
    for name in (
        "token",
        "team_id",
        "team_domain",
        "channel_name",
        "user_name",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
    ):
        assert fields[name]


def test_block_actions_from_a_modal() -> None:
    view = {
        "id": "V1",
        "hash": "1.a",
        "callback_id": "mass_alert_compose",
        "private_metadata": "{}",
        "state": {"values": {}},
    }
    selected = state_value("static_select", "today+1", text="Tomorrow")
    values = {BlockId.RANGE: {ActionId.RANGE_SELECT: selected}}
    body = block_actions_payload(
        user_id="U0ADMIN",
        trigger_id="9.9.9",
        view=with_state(view, values),
        actions=[action("static_select", ActionId.RANGE_SELECT, BlockId.RANGE, "today+1", text="Tomorrow")],
    )
    payload = payload_of(body)
    assert payload["type"] == "block_actions" and payload["container"] == {"type": "view", "view_id": "V1"}
    assert payload["user"]["id"] == "U0ADMIN" and payload["team"]["id"] and payload["api_app_id"]
    assert payload["actions"][0]["selected_option"]["value"] == "today+1"
    in_state = payload["view"]["state"]["values"]["range"]["range_select"]["selected_option"]
    assert in_state["value"] == "today+1"
    assert view["state"] == {"values": {}}  # with_state copies


def test_typing_and_datetime_actions_have_slacks_shapes() -> None:
    typed = action("plain_text_input", ActionId.MESSAGE_INPUT, BlockId.MESSAGE, "Closed")
    assert typed["value"] == "Closed" and typed["type"] == "plain_text_input"
    picked = action("datetimepicker", ActionId.CUSTOM_START, BlockId.CUSTOM_START, 1_796_223_600)
    assert picked["selected_date_time"] == 1_796_223_600
    button = action("button", ActionId.CANCEL_ALERT, "activity_status", 12, text="Cancel alert")
    assert button["value"] == "12" and button["text"]["text"] == "Cancel alert"


def test_block_actions_from_a_channel_message() -> None:
    message = {"ts": "1700000000.000100", "text": "alert", "history": [], "channel": "C0FRONT"}
    payload = payload_of(
        block_actions_payload(
            user_id="U0ADMIN",
            trigger_id="1.1.1",
            channel_id="C0FRONT",
            message=message,
            actions=[action("button", ActionId.CANCEL_ALERT, "activity_status", 12)],
        )
    )
    assert payload["container"]["message_ts"] == "1700000000.000100"
    assert payload["channel"]["id"] == "C0FRONT" and "history" not in payload["message"]
    with pytest.raises(ValueError):
        block_actions_payload(user_id="U", trigger_id="t", actions=[])


def test_submission_closed_shortcut_and_event_bodies() -> None:
    view = {"id": "V1", "callback_id": "mass_alert_confirm", "state": {"values": {}}}
    submitted = payload_of(view_submission_payload(user_id="U0ADMIN", view=view, trigger_id="2.2.2"))
    assert submitted["type"] == "view_submission" and submitted["view"]["id"] == "V1"
    closed = payload_of(view_closed_payload(user_id="U0ADMIN", view=view))
    assert closed["type"] == "view_closed" and closed["is_cleared"] is False
    shortcut = payload_of(shortcut_payload(user_id="U0ADMIN", trigger_id="3.3.3"))
    assert shortcut["type"] == "shortcut" and shortcut["callback_id"] == "mass_alert_shortcut"
    event = json.loads(event_body({"type": "app_home_opened", "user": "U0ADMIN", "tab": "home"}))
    assert event["type"] == "event_callback" and event["event"]["tab"] == "home" and event["event_id"]


class _Echo(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        valid = SignatureVerifier(SECRET).is_valid_request(body, dict(self.headers))
        answer = json.dumps({"content_type": self.headers["Content-Type"], "body": body.decode()}).encode()
        self.send_response(200 if valid else 401)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    server.shutdown()
    server.server_close()


def test_post_sends_signed_requests_and_reports_refusals(echo_url: str) -> None:
    body = slash_command_body(user_id="U0ADMIN", channel_id="C0FRONT", trigger_id="1.2.3")
    status, text = post(echo_url, body, SECRET)
    assert status == 200
    assert json.loads(text)["content_type"] == "application/x-www-form-urlencoded"
    status, text = post(echo_url, event_body({"type": "app_home_opened"}), SECRET)
    assert status == 200 and json.loads(text)["content_type"] == "application/json"
    assert post(echo_url, body, "forged-secret")[0] == 401
    assert post(echo_url, body, SECRET, timestamp=int(time.time()) - 3600)[0] == 401


def test_bolt_routes_each_body_to_its_listener() -> None:
    from slack_bolt import App
    from slack_sdk import WebClient

    from sandbox.slack import SandboxSlack

    with SandboxSlack() as slack:  # Bolt's authorization middleware calls auth.test once
        app = App(signing_secret=SECRET, client=WebClient(base_url=slack.url, token=slack.bot_token))
        seen = _dispatch_all(app)
        assert [c.method for c in slack.calls] == ["auth.test"]
    assert seen == ["command:C0FRONT", "range:V1", "open_report:7", "submit:V1", "shortcut"]


def _dispatch_all(app: Any) -> list[str]:
    from slack_bolt import BoltRequest

    from bot.ids import CallbackId, keyed, keyed_pattern

    seen: list[str] = []
    app.command("/mass-alert")(lambda ack, command: (ack(), seen.append(f"command:{command['channel_id']}")))
    app.action(ActionId.RANGE_SELECT)(lambda ack, body: (ack(), seen.append(f"range:{body['view']['id']}")))
    app.action(keyed_pattern(ActionId.OPEN_REPORT))(
        lambda ack, action: (ack(), seen.append(action["action_id"]))
    )
    app.view(CallbackId.COMPOSE)(lambda ack, view: (ack(), seen.append(f"submit:{view['id']}")))
    app.shortcut(CallbackId.SHORTCUT)(lambda ack: (ack(), seen.append("shortcut")))
    view = {"id": "V1", "callback_id": CallbackId.COMPOSE, "state": {"values": {}}, "type": "modal"}
    bodies = [
        slash_command_body(user_id="U0ADMIN", channel_id="C0FRONT", trigger_id="1.2.3"),
        block_actions_payload(
            user_id="U0ADMIN",
            trigger_id="t",
            view=view,
            actions=[action("static_select", ActionId.RANGE_SELECT, BlockId.RANGE, "today+1")],
        ),
        block_actions_payload(
            user_id="U0ADMIN",
            trigger_id="t",
            view={**view, "type": "home"},
            actions=[action("button", keyed(ActionId.OPEN_REPORT, 7), "home_alert:7")],
        ),
        view_submission_payload(user_id="U0ADMIN", view=view, trigger_id="t"),
        shortcut_payload(user_id="U0ADMIN", trigger_id="t"),
    ]
    for body in bodies:
        response = app.dispatch(BoltRequest(body=body.decode(), headers=sign(SECRET, body, int(time.time()))))
        assert response.status == 200, response.body
    forged_headers = sign("forged", bodies[0], int(time.time()))
    forged = app.dispatch(BoltRequest(body=bodies[0].decode(), headers=forged_headers))
    assert forged.status == 401
    return seen
