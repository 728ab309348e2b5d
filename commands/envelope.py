"""Every request checked once before any listener: its shape (400 when Slack would never send it), and
Events API retries (the same event_id acts once, answered 200 like the first delivery).

Shapes: https://docs.slack.dev/interactivity/handling-user-interaction (slash commands, block_actions,
view_submission, view_closed, shortcuts) and https://docs.slack.dev/apis/events-api (event_callback).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltResponse

from bot.ids import CallbackId
from commands.compose_state import ComposeMeta, ConfirmMeta
from commands.context import app_context
from commands.errors import MalformedRequest
from services.slack_receipts import MAX_EVENT_ID, first_delivery

log = logging.getLogger(__name__)


def _text(container: Any, key: str) -> str:
    value = container.get(key) if isinstance(container, dict) else None
    if not isinstance(value, str) or not value:
        raise MalformedRequest(f"{key} is missing or not a string")
    return value


def _object(container: dict[str, Any], key: str) -> dict[str, Any]:
    value = container.get(key)
    if not isinstance(value, dict):
        raise MalformedRequest(f"{key} is missing or not an object")
    return value


def _check_view(view: dict[str, Any], *, submitted: bool) -> None:
    _text(view, "id")
    if submitted:
        state = _object(view, "state")
        if not isinstance(state.get("values"), dict):
            raise MalformedRequest("view.state.values is missing")
    metadata = view.get("private_metadata") or ""
    if not isinstance(metadata, str):
        raise MalformedRequest("view.private_metadata is not a string")
    callback = str(view.get("callback_id"))
    parsers: dict[str, Callable[[str], object]] = {
        CallbackId.COMPOSE: ComposeMeta.loads,
        CallbackId.CONFIRM: ConfirmMeta.loads,
    }
    parser = parsers.get(callback)
    if parser is not None:
        try:
            parser(metadata)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError, OSError) as error:
            raise MalformedRequest(f"the {callback} view's private_metadata: {error!r}") from None


def _check_interaction(body: dict[str, Any]) -> None:
    kind = body["type"]
    _text(_object(body, "user"), "id")
    if kind == "block_actions":
        _text(body, "trigger_id")
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            raise MalformedRequest("block_actions without actions")
        for entry in actions:
            _text(entry, "action_id")
        if isinstance(body.get("view"), dict):
            _check_view(body["view"], submitted=False)
        elif not isinstance(body.get("channel"), dict):
            raise MalformedRequest("block_actions from neither a view nor a channel")
    elif kind == "view_submission":
        _text(body, "trigger_id")
        _check_view(_object(body, "view"), submitted=True)
    elif kind == "view_closed":
        _text(_object(body, "view"), "id")
    elif kind in ("shortcut", "message_action"):
        _text(body, "callback_id")
        _text(body, "trigger_id")


def check_shape(body: dict[str, Any]) -> None:
    """MalformedRequest naming the first field a request of this kind must carry and does not."""
    if "command" in body:
        for key in ("command", "team_id", "user_id", "trigger_id"):
            _text(body, key)
        return
    kind = body.get("type")
    if kind == "event_callback":
        if len(_text(body, "event_id")) > MAX_EVENT_ID:
            raise MalformedRequest(f"event_id longer than {MAX_EVENT_ID} characters")
        _text(_object(body, "event"), "type")
    elif kind in ("block_actions", "view_submission", "view_closed", "shortcut", "message_action"):
        _check_interaction(body)
    elif not isinstance(kind, str):
        raise MalformedRequest("a request with neither a command nor a type")


def checked_once(
    body: dict[str, Any], context: dict[str, Any], next: Callable[[], None]
) -> BoltResponse | None:
    """Global middleware: a malformed request gets 400; a redelivered event 200; the rest goes on."""
    try:
        check_shape(body)
    except MalformedRequest as refused:
        log.warning("refused a malformed Slack request: %s", refused)
        return BoltResponse(status=400, body=f"malformed request: {refused}")
    if body.get("type") == "event_callback":
        ctx = app_context(context)
        if not first_delivery(ctx.sessions, body["event_id"], ctx.clock.now()):
            log.info("event %s was delivered before; not acting again", body["event_id"])
            return BoltResponse(status=200, body="")
    next()
    return None


def ignore_event() -> None:
    """The last event listener: an event nothing else handled (an edit, a join, a top-level message,
    a bot's post, a reply outside conversation threads) is acknowledged and left alone.

    Slack counts a non-2xx answer as a failed delivery, retries it, and turns event delivery off for an
    app that keeps failing (https://docs.slack.dev/apis/events-api, "Failure limits").
    """
