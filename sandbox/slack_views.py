"""Slack's modal and App Home surfaces for the sandbox: trigger ids, views.open/push/update/publish, and
what Slack does with a view_submission answer (errors, update, push, clear).

Limits from https://docs.slack.dev/surfaces/modals: a trigger id works once within 3 seconds, at most
3 views stacked, modal titles up to 24 characters, up to 100 blocks, private_metadata up to 3,000 chars.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandbox.slack_errors import SlackApiFailure
from sandbox.slack_workspaces import Workspace
from services.clock import Clock

TRIGGER_TTL_SECONDS = 3.0
VIEW_STACK_MAX = 3


@dataclass
class _Trigger:
    issued_at: datetime
    view_id: str | None
    used: bool = False


class ViewsMixin:
    """The views part of SandboxSlack (state lives on the sandbox; every method runs with its lock held)."""

    _lock: threading.RLock
    _ids: itertools.count[int]
    _triggers: dict[str, _Trigger]
    _ws: Workspace
    clock: Clock
    trigger_ttl_seconds: float
    team_id: str
    app_id: str
    users: dict[str, dict[str, Any]]
    views: dict[str, dict[str, Any]]
    home_views: dict[str, dict[str, Any]]
    closed_views: dict[str, dict[str, Any]]
    view_errors: dict[str, dict[str, str]]
    expired_triggers: set[str]

    def new_trigger_id(self, view_id: str | None = None) -> str:
        """A fresh trigger id, valid for the TTL from now by the sandbox's clock (for views.open/push)."""
        with self._lock:
            number = next(self._ids)
            trigger = f"{number}.{self.team_id[1:]}.{secrets.token_hex(16)}"
            self._triggers[trigger] = _Trigger(self.clock.now(), view_id)
            return trigger

    def set_input(self, view_id: str, block_id: str, action_id: str, value: dict[str, Any]) -> None:
        """Simulate the user filling an input: `value` like {"type": "plain_text_input", "value": "hi"}."""
        with self._lock:
            view = self.views[view_id]
            view["state"]["values"].setdefault(block_id, {})[action_id] = value

    def apply_view_response(self, view_id: str, response: dict[str, Any] | None) -> dict[str, Any] | None:
        """Do what Slack does with a view_submission's answer; returns the view now shown (None when closed).

        `errors` shows inline errors (keys must be input blocks), `update` replaces the view, `push` stacks a
        new one, `clear` closes the whole stack, and an empty answer closes the submitted view.
        """
        with self._lock:
            current = self.views[view_id]
            action = (response or {}).get("response_action")
            if action == "errors":
                errors = dict((response or {}).get("errors") or {})
                inputs = {block for block, _ in _input_keys(current)}
                if not errors or not set(errors) <= inputs:
                    raise SlackApiFailure(
                        "invalid_arguments",
                        response_metadata={
                            "messages": [
                                f"[ERROR] errors must name input blocks of the view, got {sorted(errors)}"
                            ]
                        },
                    )
                self.view_errors[view_id] = errors
                return current
            self.view_errors.pop(view_id, None)
            if action == "update":
                view = self._check_view((response or {}).get("view"), "modal")
                return self._store_view(
                    view,
                    view_id=view_id,
                    root=current["root_view_id"],
                    previous=current["previous_view_id"],
                    state=_surviving_state(current, view),
                )
            if action == "push":
                view = self._check_view((response or {}).get("view"), "modal")
                depth, cursor = 1, current
                while cursor.get("previous_view_id") in self.views:
                    depth += 1
                    cursor = self.views[cursor["previous_view_id"]]
                if depth >= VIEW_STACK_MAX:
                    raise SlackApiFailure("push_limit_reached")
                return self._store_view(view, root=current["root_view_id"], previous=view_id)
            if action == "clear":
                root = current["root_view_id"]
                for stacked in [v for v, stored in self.views.items() if stored.get("root_view_id") == root]:
                    self.closed_views[stacked] = self.views.pop(stacked)
                return None
            self.closed_views[view_id] = self.views.pop(view_id)
            previous = current.get("previous_view_id")
            return self.views.get(previous) if previous else None

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):010d}"

    def _hash(self) -> str:
        return f"{int(self.clock.now().timestamp())}.{secrets.token_hex(4)}"

    def _consume_trigger(self, trigger_id: Any) -> _Trigger:
        if not trigger_id or not isinstance(trigger_id, str):
            raise SlackApiFailure("invalid_arguments")
        trigger = self._triggers.get(trigger_id)
        if trigger is None or trigger_id in self.expired_triggers:
            raise SlackApiFailure("expired_trigger_id")
        if (self.clock.now() - trigger.issued_at).total_seconds() > self.trigger_ttl_seconds:
            raise SlackApiFailure("expired_trigger_id")
        if trigger.used:
            raise SlackApiFailure("exchanged_trigger_id")
        trigger.used = True
        return trigger

    def _check_view(self, view: Any, kind: str) -> dict[str, Any]:
        if not isinstance(view, dict):
            messages = ["[ERROR] missing view"]
            raise SlackApiFailure("invalid_arguments", response_metadata={"messages": messages})
        problems: list[str] = []
        if view.get("type") != kind:
            problems.append(f"[ERROR] view type must be {kind}")
        blocks = view.get("blocks")
        if not isinstance(blocks, list) or len(blocks) > 100:
            problems.append("[ERROR] blocks must be a list of at most 100 items [json-pointer:/view/blocks]")
        else:
            ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id")]
            if len(ids) != len(set(ids)):
                problems.append("[ERROR] duplicate block_id [json-pointer:/view/blocks]")
        if kind == "modal":
            title = (view.get("title") or {}).get("text", "")
            if not title or len(title) > 24:
                problems.append("[ERROR] title must be 1-24 characters [json-pointer:/view/title/text]")
        if len(view.get("private_metadata") or "") > 3000:
            problems.append("[ERROR] private_metadata must be at most 3000 characters")
        if problems:
            raise SlackApiFailure("invalid_arguments", response_metadata={"messages": problems})
        return view

    def _store_view(
        self,
        view: dict[str, Any],
        *,
        view_id: str | None = None,
        root: str | None = None,
        previous: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        view_id = view_id or self._new_id("V")
        stored = {
            "id": view_id,
            "team_id": self._ws.team_id,
            "type": view["type"],
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": state or {}},
            "hash": self._hash(),
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous,
            "root_view_id": root or view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self._ws.team_id,
            "bot_id": self._ws.bot_id,
        }
        self.views[view_id] = stored
        return stored

    def _find_view(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = params.get("view_id"), params.get("external_id")
        if not view_id and not external_id:
            raise SlackApiFailure("invalid_arguments")
        if view_id:
            found = self.views.get(view_id)
        else:
            found = next((v for v in self.views.values() if v.get("external_id") == external_id), None)
        if found is None:
            raise SlackApiFailure("not_found")
        return found

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        view = self._check_view(params.get("view"), "modal")
        self._consume_trigger(params.get("trigger_id"))
        return {"view": self._store_view(view)}

    def _views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        view = self._check_view(params.get("view"), "modal")
        trigger = self._consume_trigger(params.get("trigger_id"))
        parent = self.views.get(trigger.view_id) if trigger.view_id else None
        if parent is None:
            return {"view": self._store_view(view)}
        depth, cursor = 1, parent
        while cursor.get("previous_view_id") and cursor["previous_view_id"] in self.views:
            depth += 1
            cursor = self.views[cursor["previous_view_id"]]
        if depth >= VIEW_STACK_MAX:
            raise SlackApiFailure("push_limit_reached")
        return {"view": self._store_view(view, root=parent["root_view_id"], previous=parent["id"])}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        current = self._find_view(params)
        view = self._check_view(params.get("view"), current["type"])
        expected = params.get("hash")
        if expected and expected != current["hash"]:
            raise SlackApiFailure("hash_conflict")
        kept = _surviving_state(current, view)
        return {
            "view": self._store_view(
                view,
                view_id=current["id"],
                root=current["root_view_id"],
                previous=current["previous_view_id"],
                state=kept,
            )
        }

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user_id")
        if not user_id:
            raise SlackApiFailure("invalid_arguments")
        if self.users and user_id not in self.users:
            raise SlackApiFailure("user_not_found")
        view = self._check_view(params.get("view"), "home")
        current = self.home_views.get(user_id)
        if params.get("hash") and current is not None and params["hash"] != current["hash"]:
            raise SlackApiFailure("hash_conflict")
        view_id = current["id"] if current else None
        stored = self._store_view(view, view_id=view_id)
        self.home_views[user_id] = stored
        return {"view": stored}


def _input_keys(view: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for block in view.get("blocks") or []:
        if isinstance(block, dict) and block.get("type") == "input":
            element = block.get("element") or {}
            if block.get("block_id") and element.get("action_id"):
                yield block["block_id"], element["action_id"]


def _surviving_state(current: dict[str, Any], new_view: dict[str, Any]) -> dict[str, Any]:
    """Slack keeps what the user entered in inputs whose block_id and action_id did not change."""
    old = current.get("state", {}).get("values", {})
    kept: dict[str, Any] = {}
    for block_id, action_id in _input_keys(new_view):
        if action_id in old.get(block_id, {}):
            kept.setdefault(block_id, {})[action_id] = old[block_id][action_id]
    return kept
