"""Sandbox Slack: a loopback Web API speaking Slack's wire format, for tests and `mass-alert demo`.

Point `slack_sdk.WebClient(base_url=sandbox.url, token=sandbox.bot_token)` at it. Every answer is HTTP 200
with `{"ok": true, ...}` or `{"ok": false, "error": "..."}`, except `ratelimited` (HTTP 429 with
Retry-After), as Slack does. Every call is recorded in `calls`.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from services.clock import Clock, SystemClock

JSON_FIELDS = ("view", "blocks", "attachments", "files")
TRIGGER_TTL_SECONDS = 3.0
VIEW_STACK_MAX = 3


class SlackCall(NamedTuple):
    """One recorded Web API call."""

    method: str
    params: dict[str, Any]
    response: dict[str, Any]


@dataclass
class UploadedFile:
    """A file uploaded with files.getUploadURLExternal + the upload URL + files.completeUploadExternal."""

    id: str
    filename: str
    length: int
    content: bytes | None = None
    title: str | None = None
    completed: bool = False
    channels: list[str] = field(default_factory=list)
    thread_ts: str | None = None
    initial_comment: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Trigger:
    issued_at: datetime
    view_id: str | None
    used: bool = False


class _Failure(NamedTuple):
    error: str
    retry_after: int | None  # set for ratelimited


class SlackApiFailure(Exception):
    """Raised inside a method handler: the response becomes {"ok": false, "error": error}."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


class SandboxSlack:
    """A loopback Slack Web API with Slack's response shapes, errors and rate limits; records every call."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox-bot-token",
        app_token: str = "xapp-1-A0MASSALERT-1-sandbox",
        team_id: str = "T0SANDBOX",
        team_domain: str = "sandbox",
        team_name: str = "Sandbox Clinic Group",
        bot_user_id: str = "U0MASSALERT",
        bot_id: str = "B0MASSALERT",
        app_id: str = "A0MASSALERT",
        clock: Clock | None = None,
        trigger_ttl_seconds: float = TRIGGER_TTL_SECONDS,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.bot_token = bot_token
        #: The app-level token (Socket Mode); `socket_url` is the ws:// link apps.connections.open hands out.
        self.app_token = app_token
        self.socket_url: str | None = None
        self.team_id = team_id
        self.team_domain = team_domain
        self.team_name = team_name
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.clock: Clock = clock or SystemClock()
        self.trigger_ttl_seconds = trigger_ttl_seconds
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._ids = itertools.count(1)

        self.calls: list[SlackCall] = []
        self.channels: dict[str, dict[str, Any]] = {}
        self.members: set[str] = set()
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.ephemerals: dict[str, list[dict[str, Any]]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self.closed_views: dict[str, dict[str, Any]] = {}
        self.view_errors: dict[str, dict[str, str]] = {}
        self.uploaded_files: dict[str, UploadedFile] = {}
        self.expired_triggers: set[str] = set()
        self._triggers: dict[str, _Trigger] = {}
        self._dms: dict[str, str] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
            "apps.connections.open": self._apps_connections_open,
        }

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT` of the running server."""
        if self._server is None:
            raise RuntimeError("the Slack sandbox is not started; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The Web API base URL for `WebClient(base_url=...)` and SLACK_API_URL."""
        return f"{self.base_url}/api/"

    def start(self) -> SandboxSlack:
        """Serve on a daemon thread; returns self."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(self._address, _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> SandboxSlack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------- configuration

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        private: bool = False,
        member: bool = True,
        user_ids: set[str] | None = None,
    ) -> dict[str, Any]:
        """Register a channel; `member` says whether the bot is in it; `user_ids` None means everyone."""
        with self._lock:
            channel = {
                "id": channel_id,
                "name": name,
                "is_channel": not private,
                "is_group": private,
                "is_im": False,
                "is_mpim": False,
                "is_private": private,
                "is_archived": False,
                "is_general": False,
                "created": 1_700_000_000,
                "creator": "U0CREATOR",
                "name_normalized": name,
                "context_team_id": self.team_id,
            }
            self.channels[channel_id] = channel
            if user_ids is not None:
                channel["_users"] = set(user_ids)
            if member:
                self.members.add(channel_id)
            else:
                self.members.discard(channel_id)
            return channel

    def add_user(
        self,
        user_id: str,
        team_id: str | None = None,
        email: str | None = None,
        real_name: str = "Sandbox User",
        tz: str = "America/Chicago",
        *,
        name: str | None = None,
        is_bot: bool = False,
    ) -> dict[str, Any]:
        """Register a workspace member that users.info can describe."""
        handle = name or real_name.lower().replace(" ", ".")
        user = {
            "id": user_id,
            "team_id": team_id or self.team_id,
            "name": handle,
            "real_name": real_name,
            "deleted": False,
            "is_bot": is_bot,
            "is_admin": False,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": 0,
            "profile": {
                "real_name": real_name,
                "display_name": handle,
                "email": email,
                "real_name_normalized": real_name,
                "display_name_normalized": handle,
                "team": team_id or self.team_id,
            },
        }
        if email is None:
            del user["profile"]["email"]
        with self._lock:
            self.users[user_id] = user
        return user

    def new_trigger_id(self, view_id: str | None = None) -> str:
        """A fresh trigger id, valid for the TTL from now by the sandbox's clock (for views.open/push)."""
        with self._lock:
            number = next(self._ids)
            trigger = f"{number}.{self.team_id[1:]}.{secrets.token_hex(16)}"
            self._triggers[trigger] = _Trigger(self.clock.now(), view_id)
            return trigger

    def fail_next(self, method: str, error: str, count: int = 1) -> None:
        """The next `count` calls of `method` answer {"ok": false, "error": error}."""
        with self._lock:
            queue = self._failures.setdefault(method, deque())
            queue.extend(_Failure(error, None) for _ in range(count))

    def ratelimit_next(self, method: str, retry_after: int = 1, count: int = 1) -> None:
        """The next `count` calls of `method` answer HTTP 429 with Retry-After."""
        with self._lock:
            queue = self._failures.setdefault(method, deque())
            queue.extend(_Failure("ratelimited", retry_after) for _ in range(count))

    # ----------------------------------------------------------------- inspection

    def calls_to(self, method: str) -> list[SlackCall]:
        """The recorded calls of one method, oldest first."""
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def dm_channel(self, user_id: str) -> str:
        """The id of the bot's direct-message channel with `user_id` (opened if needed)."""
        with self._lock:
            if user_id not in self._dms:
                channel_id = "D" + user_id.lstrip("UW")[:10].rjust(10, "0")
                self._dms[user_id] = channel_id
                self.channels[channel_id] = {
                    "id": channel_id,
                    "is_im": True,
                    "is_channel": False,
                    "is_group": False,
                    "is_private": True,
                    "user": user_id,
                    "created": 1_700_000_000,
                    "is_open": True,
                }
                self.members.add(channel_id)
            return self._dms[user_id]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The current version of one message, or None."""
        with self._lock:
            return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

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

    def file_content(self, file_id: str) -> bytes | None:
        """The bytes uploaded for a file."""
        with self._lock:
            upload = self.uploaded_files.get(file_id)
            return None if upload is None else upload.content

    # ----------------------------------------------------------------- dispatch

    def handle(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Answer one Web API call: (HTTP status, extra headers, JSON body); records it."""
        headers: dict[str, str] = {}
        status = 200
        with self._lock:
            handler = self._methods.get(method)
            if handler is None:
                response: dict[str, Any] = {"ok": False, "error": "unknown_method"}
            elif not token:
                response = {"ok": False, "error": "not_authed"}
            elif method == "apps.connections.open" and token != self.app_token:
                response = {
                    "ok": False,
                    "error": "not_allowed_token_type" if token == self.bot_token else "invalid_auth",
                }
            elif method != "apps.connections.open" and token != self.bot_token:
                response = {"ok": False, "error": "invalid_auth"}
            elif (failure := self._take_failure(method)) is not None:
                response = {"ok": False, "error": failure.error}
                if failure.retry_after is not None:
                    status = 429
                    headers["Retry-After"] = str(failure.retry_after)
            else:
                try:
                    params = _decode_json_fields(params)
                    response = {"ok": True, **handler(params)}
                except SlackApiFailure as failure_:
                    response = {"ok": False, "error": failure_.error, **failure_.extra}
            self.calls.append(SlackCall(method, dict(params), response))
            return status, headers, response

    def handle_upload(self, file_id: str, body: bytes) -> tuple[int, str]:
        """Store the bytes POSTed to an upload URL."""
        with self._lock:
            upload = self.uploaded_files.get(file_id)
            if upload is None:
                return 404, "file not found"
            upload.content = body
            return 200, f"OK - {len(body)}"

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        return queue.popleft() if queue else None

    # ----------------------------------------------------------------- helpers

    def _now_ts(self) -> str:
        seconds = int(self.clock.now().timestamp())
        return f"{seconds}.{next(self._ids):06d}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):010d}"

    def _hash(self) -> str:
        return f"{int(self.clock.now().timestamp())}.{secrets.token_hex(4)}"

    def _resolve_channel(self, channel: Any, *, need_member: bool = True) -> str:
        if not channel or not isinstance(channel, str):
            raise SlackApiFailure("channel_not_found")
        if channel in self.users:
            return self.dm_channel(channel)
        info = self.channels.get(channel)
        if info is None:
            raise SlackApiFailure("channel_not_found")
        if info.get("is_private") and channel not in self.members:
            raise SlackApiFailure("channel_not_found")  # private channels are invisible to non-members
        if need_member and channel not in self.members:
            raise SlackApiFailure("not_in_channel")
        return channel

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
            "team_id": self.team_id,
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
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
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

    def _message_out(self, message: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if k not in ("history", "channel")}

    # ----------------------------------------------------------------- methods

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": "mass_text_alerts",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.socket_url is None:
            raise SlackApiFailure("socket_mode_not_enabled")
        return {"url": f"{self.socket_url}?ticket={secrets.token_hex(16)}&app_id={self.app_id}"}

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

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        text, blocks = params.get("text") or "", params.get("blocks")
        if not text and not blocks and not params.get("attachments"):
            raise SlackApiFailure("no_text")
        if blocks is not None and (not isinstance(blocks, list) or len(blocks) > 50):
            raise SlackApiFailure("invalid_blocks")
        ts = self._now_ts()
        message: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "ts": ts,
            "text": text,
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "history": [],
        }
        if blocks is not None:
            message["blocks"] = blocks
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        if params.get("metadata"):
            message["metadata"] = params["metadata"]
        self.messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": ts, "message": self._message_out(message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        message = self.message(channel, str(params.get("ts") or ""))
        if message is None:
            raise SlackApiFailure("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise SlackApiFailure("cant_update_message")
        blocks = params.get("blocks")
        if blocks is not None and (not isinstance(blocks, list) or len(blocks) > 50):
            raise SlackApiFailure("invalid_blocks")
        message["history"].append({k: message.get(k) for k in ("text", "blocks")})
        if "text" in params:
            message["text"] = params.get("text") or ""
        if blocks is not None:
            message["blocks"] = blocks
        message["edited"] = {"user": self.bot_user_id, "ts": self._now_ts()}
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": self._message_out(message),
        }

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        user = params.get("user")
        if not user:
            raise SlackApiFailure("user_not_found")
        allowed = self.channels.get(channel, {}).get("_users")
        if allowed is not None and user not in allowed:
            raise SlackApiFailure("user_not_in_channel")
        if not params.get("text") and not params.get("blocks"):
            raise SlackApiFailure("no_text")
        ts = self._now_ts()
        self.ephemerals.setdefault(channel, []).append(
            {
                "ts": ts,
                "user": user,
                "text": params.get("text") or "",
                "blocks": params.get("blocks"),
                "thread_ts": params.get("thread_ts"),
            }
        )
        return {"message_ts": ts}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"), need_member=False)
        message = self.message(channel, str(params.get("message_ts") or ""))
        if message is None:
            raise SlackApiFailure("message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{message['ts'].replace('.', '')}"
        if message.get("thread_ts"):
            link += f"?thread_ts={message['thread_ts']}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _channel_out(self, channel_id: str) -> dict[str, Any]:
        info = {k: v for k, v in self.channels[channel_id].items() if not k.startswith("_")}
        info["is_member"] = channel_id in self.members
        return info

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"), need_member=False)
        return {"channel": self._channel_out(channel)}

    def _conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"), need_member=False)
        info = self.channels[channel]
        if info.get("is_private") or info.get("is_im"):
            raise SlackApiFailure("method_not_supported_for_channel_type")
        extra: dict[str, Any] = {}
        if channel in self.members:
            extra = {
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        self.members.add(channel)
        return {"channel": self._channel_out(channel), **extra}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = params.get("users")
        if isinstance(users, list):
            users = ",".join(users)
        ids = [u for u in str(users or "").split(",") if u]
        if len(ids) != 1:
            raise SlackApiFailure("invalid_arguments" if not ids else "not_supported")
        if ids[0] not in self.users:
            raise SlackApiFailure("user_not_found")
        existed = ids[0] in self._dms
        channel_id = self.dm_channel(ids[0])
        out: dict[str, Any] = {"channel": {"id": channel_id}}
        if existed:
            out.update(no_op=True, already_open=True)
        return out

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user") or ""))
        if user is None:
            raise SlackApiFailure("user_not_found")
        return {"user": user}

    def _files_get_upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = params.get("filename")
        try:
            length = int(params.get("length"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            length = -1
        if not filename or length < 0:
            raise SlackApiFailure("invalid_arguments")
        file_id = self._new_id("F")
        self.uploaded_files[file_id] = UploadedFile(file_id, str(filename), length)
        return {"upload_url": f"{self.base_url}/upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        entries = params.get("files")
        if not isinstance(entries, list) or not entries:
            raise SlackApiFailure("invalid_arguments")
        uploads: list[tuple[UploadedFile, str | None]] = []
        for entry in entries:
            upload = self.uploaded_files.get(str(entry.get("id") if isinstance(entry, dict) else ""))
            if upload is None or upload.content is None or upload.completed:
                raise SlackApiFailure("file_not_found")
            uploads.append((upload, entry.get("title")))
        targets = [params["channel_id"]] if params.get("channel_id") else []
        if params.get("channels"):
            targets += [c for c in str(params["channels"]).split(",") if c]
        channels = [self._resolve_channel(c) for c in targets]
        thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
        comment = params.get("initial_comment") or ""
        out: list[dict[str, Any]] = []
        for upload, title in uploads:
            upload.completed = True
            upload.title = title or upload.filename
            upload.channels = channels
            upload.thread_ts = thread_ts
            upload.initial_comment = comment or None
            upload.info = self._file_info(upload)
            out.append(upload.info)
        for channel in channels:
            ts = self._now_ts()
            message = {
                "type": "message",
                "channel": channel,
                "ts": ts,
                "text": comment,
                "user": self.bot_user_id,
                "bot_id": self.bot_id,
                "upload": True,
                "files": out,
                "history": [],
            }
            if thread_ts:
                message["thread_ts"] = thread_ts
            self.messages.setdefault(channel, []).append(message)
            for info in out:
                scope = "private" if self.channels[channel].get("is_private") else "public"
                share = {"ts": ts, **({"thread_ts": thread_ts} if thread_ts else {})}
                info["shares"].setdefault(scope, {}).setdefault(channel, []).append(share)
        return {"files": out}

    def _file_info(self, upload: UploadedFile) -> dict[str, Any]:
        name = upload.filename
        return {
            "id": upload.id,
            "created": int(self.clock.now().timestamp()),
            "name": name,
            "title": upload.title,
            "mimetype": "text/csv" if name.endswith(".csv") else "application/octet-stream",
            "filetype": name.rsplit(".", 1)[-1] if "." in name else "binary",
            "user": self.bot_user_id,
            "size": len(upload.content or b""),
            "is_public": False,
            "url_private": f"{self.base_url}/files/{upload.id}/{name}",
            "url_private_download": f"{self.base_url}/files/{upload.id}/download/{name}",
            "permalink": f"https://{self.team_domain}.slack.com/files/{self.bot_user_id}/{upload.id}/{name}",
            "channels": [c for c in upload.channels if not self.channels[c].get("is_private")],
            "groups": [c for c in upload.channels if self.channels[c].get("is_private")],
            "shares": {},
        }

    def _files_info(self, params: dict[str, Any]) -> dict[str, Any]:
        upload = self.uploaded_files.get(str(params.get("file") or ""))
        if upload is None or not upload.completed:
            raise SlackApiFailure("file_not_found")
        return {"file": upload.info}


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


def _decode_json_fields(params: dict[str, Any]) -> dict[str, Any]:
    decoded = dict(params)
    for key in JSON_FIELDS:
        value = decoded.get(key)
        if isinstance(value, str) and value:
            try:
                decoded[key] = json.loads(value)
            except json.JSONDecodeError:
                raise SlackApiFailure("invalid_blocks" if key == "blocks" else "invalid_arguments") from None
    return decoded


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        data = json.loads(body.decode("utf-8"))
        return data if isinstance(data, dict) else {}
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


def _handler_for(sandbox: SandboxSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(
            self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _read(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _api(self, method: str, params: dict[str, Any]) -> None:
            auth = self.headers.get("Authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
            token = token or params.pop("token", None)
            params.pop("token", None)
            status, headers, payload = sandbox.handle(method, params, token)
            self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8", headers)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path.startswith("/api/"):
                self._api(unquote(parts.path[5:]), dict(parse_qsl(parts.query, keep_blank_values=True)))
            elif parts.path.startswith("/files/"):
                file_id = parts.path.split("/")[2]
                content = sandbox.file_content(file_id)
                if content is None:
                    self._send(404, b"not found", "text/plain")
                else:
                    self._send(200, content, "application/octet-stream")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            body = self._read()
            if parts.path.startswith("/upload/v1/"):
                status, text = sandbox.handle_upload(parts.path.rsplit("/", 1)[-1], body)
                self._send(status, text.encode(), "text/plain")
                return
            if not parts.path.startswith("/api/"):
                self._send(404, b"not found", "text/plain")
                return
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            try:
                params.update(_parse_body(self.headers.get("Content-Type", ""), body))
            except (ValueError, UnicodeDecodeError):
                self._send(200, b'{"ok": false, "error": "invalid_json"}', "application/json")
                return
            self._api(unquote(parts.path[5:]), params)

    return Handler
