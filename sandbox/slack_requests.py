"""Requests into the app exactly as Slack sends them: signed slash commands, interactivity and events.

Bodies follow Slack's shapes (https://docs.slack.dev/interactivity/handling-user-interaction): slash
commands are form-encoded fields, interactivity is a form field `payload=<json>`, events are JSON.
`sign` computes X-Slack-Signature (v0, HMAC-SHA256 of "v0:{timestamp}:{body}").
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

DEFAULT_TEAM_ID = "T0SANDBOX"
DEFAULT_TEAM_DOMAIN = "sandbox"
DEFAULT_APP_ID = "A0MASSALERT"
#: The legacy verification token Slack still sends in bodies (Bolt does not rely on it).
VERIFICATION_TOKEN = "sandbox-verification-token"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
_EVENT_NUMBERS = itertools.count(1)


def sign(signing_secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The two headers Slack adds to every request: the request timestamp and the v0 signature."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def _action_ts() -> str:
    return f"{time.time():.6f}"


def _user(user_id: str, team_id: str, user_name: str) -> dict[str, str]:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id}


def _team(team_id: str, team_domain: str) -> dict[str, str]:
    return {"id": team_id, "domain": team_domain}


def _payload_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def slash_command_body(
    *,
    user_id: str,
    channel_id: str,
    trigger_id: str,
    text: str = "",
    command: str = "/mass-alert",
    user_name: str = "clinic.admin",
    channel_name: str = "frontdesk",
    team_id: str = DEFAULT_TEAM_ID,
    team_domain: str = DEFAULT_TEAM_DOMAIN,
    api_app_id: str = DEFAULT_APP_ID,
    response_url: str = "https://hooks.slack.com/commands/T0SANDBOX/1/sandbox",
    token: str = VERIFICATION_TOKEN,
) -> bytes:
    """The form-encoded body Slack POSTs for a slash command."""
    fields = {
        "token": token,
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }
    return urlencode(fields).encode()


def state_value(element_type: str, value: Any, *, text: str | None = None) -> dict[str, Any]:
    """One entry of view.state.values as Slack reports it for an element type."""
    if element_type == "static_select":
        option = (
            None
            if value is None
            else {
                "text": {"type": "plain_text", "text": text or str(value), "emoji": True},
                "value": str(value),
            }
        )
        return {"type": element_type, "selected_option": option}
    if element_type == "datetimepicker":
        return {"type": element_type, "selected_date_time": value}
    if element_type == "datepicker":
        return {"type": element_type, "selected_date": value}
    if element_type == "checkboxes":  # `value`: the checked options' values
        checked = [{"text": {"type": "plain_text", "text": text or str(v)}, "value": str(v)} for v in value]
        return {"type": element_type, "selected_options": checked}
    return {"type": element_type, "value": value}


def with_state(view: dict[str, Any], values: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """A copy of a stored view (e.g. `sandbox.views[id]`) whose state holds `values` over its own."""
    merged: dict[str, dict[str, Any]] = {
        block: dict(actions) for block, actions in (view.get("state", {}).get("values") or {}).items()
    }
    for block, actions in values.items():
        merged.setdefault(block, {}).update(actions)
    copy = dict(view)
    copy["state"] = {"values": merged}
    return copy


def action(
    element_type: str,
    action_id: str,
    block_id: str,
    value: Any = None,
    *,
    text: str | None = None,
    style: str | None = None,
) -> dict[str, Any]:
    """One entry of `actions` in a block_actions payload, shaped like Slack's for the element type."""
    entry: dict[str, Any] = {
        "type": element_type,
        "action_id": action_id,
        "block_id": block_id,
        "action_ts": _action_ts(),
    }
    if element_type == "button":
        entry["text"] = {"type": "plain_text", "text": text or "Button", "emoji": True}
        if value is not None:
            entry["value"] = str(value)
        if style:
            entry["style"] = style
    elif element_type == "static_select":
        entry["selected_option"] = state_value("static_select", value, text=text)["selected_option"]
    elif element_type == "datetimepicker":
        entry["selected_date_time"] = value
    else:
        entry["value"] = value
    return entry


def block_actions_payload(
    *,
    user_id: str,
    trigger_id: str,
    actions: list[dict[str, Any]],
    view: dict[str, Any] | None = None,
    channel_id: str | None = None,
    channel_name: str = "frontdesk",
    message: dict[str, Any] | None = None,
    user_name: str = "clinic.admin",
    team_id: str = DEFAULT_TEAM_ID,
    team_domain: str = DEFAULT_TEAM_DOMAIN,
    api_app_id: str = DEFAULT_APP_ID,
    token: str = VERIFICATION_TOKEN,
) -> bytes:
    """`payload=` body of a block_actions interaction, from a modal/home `view` or a channel `message`."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, team_id, user_name),
        "api_app_id": api_app_id,
        "token": token,
        "trigger_id": trigger_id,
        "team": _team(team_id, team_domain),
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": actions,
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id")}
        payload["view"] = view
    elif message is not None and channel_id is not None:
        payload["container"] = {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        payload["channel"] = {"id": channel_id, "name": channel_name}
        payload["message"] = {k: v for k, v in message.items() if k not in ("history", "channel")}
        payload["state"] = {"values": {}}
        payload["response_url"] = f"https://hooks.slack.com/actions/{team_id}/1/sandbox"
    else:
        raise ValueError("block_actions needs a view or a channel message")
    return _payload_body(payload)


def view_submission_payload(
    *,
    user_id: str,
    view: dict[str, Any],
    trigger_id: str,
    user_name: str = "clinic.admin",
    team_id: str = DEFAULT_TEAM_ID,
    team_domain: str = DEFAULT_TEAM_DOMAIN,
    api_app_id: str = DEFAULT_APP_ID,
    token: str = VERIFICATION_TOKEN,
) -> bytes:
    """`payload=` body of a view_submission (the modal's submit button)."""
    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": _team(team_id, team_domain),
        "user": _user(user_id, team_id, user_name),
        "api_app_id": api_app_id,
        "token": token,
        "trigger_id": trigger_id,
        "view": view,
        "response_urls": [],
        "enterprise": None,
        "is_enterprise_install": False,
    }
    return _payload_body(payload)


def view_closed_payload(
    *,
    user_id: str,
    view: dict[str, Any],
    is_cleared: bool = False,
    user_name: str = "clinic.admin",
    team_id: str = DEFAULT_TEAM_ID,
    team_domain: str = DEFAULT_TEAM_DOMAIN,
    api_app_id: str = DEFAULT_APP_ID,
    token: str = VERIFICATION_TOKEN,
) -> bytes:
    """`payload=` body of a view_closed (sent only for views with notify_on_close)."""
    payload = {
        "type": "view_closed",
        "team": _team(team_id, team_domain),
        "user": _user(user_id, team_id, user_name),
        "api_app_id": api_app_id,
        "token": token,
        "view": view,
        "is_cleared": is_cleared,
        "enterprise": None,
        "is_enterprise_install": False,
    }
    return _payload_body(payload)


def shortcut_payload(
    *,
    user_id: str,
    trigger_id: str,
    callback_id: str = "mass_alert_shortcut",
    user_name: str = "clinic.admin",
    team_id: str = DEFAULT_TEAM_ID,
    team_domain: str = DEFAULT_TEAM_DOMAIN,
    api_app_id: str = DEFAULT_APP_ID,
    token: str = VERIFICATION_TOKEN,
) -> bytes:
    """`payload=` body of a global shortcut."""
    payload = {
        "type": "shortcut",
        "token": token,
        "action_ts": _action_ts(),
        "team": _team(team_id, team_domain),
        "user": _user(user_id, team_id, user_name),
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
    }
    return _payload_body(payload)


def event_body(
    event: dict[str, Any],
    *,
    team_id: str = DEFAULT_TEAM_ID,
    api_app_id: str = DEFAULT_APP_ID,
    token: str = VERIFICATION_TOKEN,
    bot_user_id: str = "U0MASSALERT",
    enterprise_id: str | None = None,
    event_id: str | None = None,
) -> bytes:
    """The JSON body of an Events API callback wrapping `event` (app_home_opened, message, ...).

    A retry of the same delivery carries the same `event_id` (Slack's deduplication key).
    """
    now = int(time.time())
    body = {
        "token": token,
        "team_id": team_id,
        "enterprise_id": enterprise_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{now}{next(_EVENT_NUMBERS):08d}",
        "event_time": now,
        "authorizations": [
            {
                "enterprise_id": enterprise_id,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
    if enterprise_id is None:
        del body["enterprise_id"]
    return json.dumps(body).encode()


def post(
    url: str,
    body: bytes,
    signing_secret: str,
    timestamp: int | None = None,
    content_type: str | None = None,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    """POST a signed request as Slack does; returns (HTTP status, response text), errors included.

    `headers` adds to Slack's own (e.g. X-Slack-Retry-Num and X-Slack-Retry-Reason on a retry).
    """
    stamp = int(time.time()) if timestamp is None else timestamp
    if content_type is None:
        content_type = JSON if body[:1] == b"{" else FORM
    headers = {
        "Content-Type": content_type,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        **sign(signing_secret, body, stamp),
        **(headers or {}),
    }
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", errors="replace")
