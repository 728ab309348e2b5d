"""Sandbox Slack: a loopback Web API speaking Slack's wire format, for tests and `mass-alert demo`.

Point `slack_sdk.WebClient(base_url=sandbox.url, token=sandbox.bot_token)` at it. Every answer is HTTP 200
with `{"ok": true, ...}` or `{"ok": false, "error": "..."}`, except `ratelimited` (HTTP 429 with
Retry-After), as Slack does. Every call is recorded in `calls`.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple

from sandbox.slack_errors import SlackApiFailure
from sandbox.slack_http import decode_json_fields, handler_for
from sandbox.slack_tiers import RateLimits
from sandbox.slack_views import TRIGGER_TTL_SECONDS, ViewsMixin, _Trigger
from sandbox.slack_workspaces import DEFAULT_SCOPES, Installations, Workspace
from services.clock import Clock, SystemClock


class SlackCall(NamedTuple):
    """One recorded Web API call: what was asked, the answer, the token and team, when and the HTTP status."""

    method: str
    params: dict[str, Any]
    response: dict[str, Any]
    token: str | None = None
    team_id: str | None = None
    #: time.monotonic() when the call arrived.
    at: float = 0.0
    status: int = 200


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


class _Failure(NamedTuple):
    error: str
    retry_after: int | None  # set for ratelimited


class SandboxSlack(ViewsMixin):
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
        client_id: str = "1111.2222",
        client_secret: str = "sandbox-client-secret",
    ) -> None:
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
        #: Every workspace and its bot token, OAuth codes, revoked tokens (add_workspace, issue_oauth_code).
        self.installations = Installations(client_id, client_secret, app_id)
        self.installations.add(
            Workspace(team_id, team_name, team_domain, bot_token, bot_user_id, bot_id, scopes=DEFAULT_SCOPES)
        )
        self._ws = self.installations.workspaces[team_id]
        #: Slack's rate tiers, enforced once enable_rate_limits() is called (off by default).
        self.rate_limits: RateLimits | None = None
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
            "conversations.members": self._conversations_members,
            "apps.uninstall": self._apps_uninstall,
            "auth.revoke": self._auth_revoke,
            "oauth.v2.access": lambda params: {},  # answered in handle(): no bot token involved
        }

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT` of the running server."""
        if self._server is None:
            raise RuntimeError("the Slack sandbox is not started; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        """The Web API base URL for `WebClient(base_url=...)` and SLACK_API_URL."""
        return f"{self.base_url}/api/"

    def start(self) -> SandboxSlack:
        """Serve on a daemon thread; returns self."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(self._address, handler_for(self))
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

    @property
    def bot_token(self) -> str:
        """The bot token of the default workspace (a new one after it is reinstalled through OAuth)."""
        return self.installations.workspaces[self.team_id].bot_token

    @property
    def client_id(self) -> str:
        """The app's OAuth client id (for oauth.v2.access and apps.uninstall)."""
        return self.installations.client_id

    @property
    def client_secret(self) -> str:
        """The app's OAuth client secret."""
        return self.installations.client_secret

    # ----------------------------------------------------------------- workspaces and OAuth

    def add_workspace(
        self,
        team_id: str,
        team_name: str,
        *,
        team_domain: str | None = None,
        bot_token: str | None = None,
        bot_user_id: str | None = None,
        bot_id: str | None = None,
        enterprise_id: str | None = None,
        installed: bool = True,
    ) -> Workspace:
        """Another Slack team: installed with a bot token, or with `installed=False` waiting for OAuth."""
        workspace = Workspace(
            team_id=team_id,
            team_name=team_name,
            team_domain=team_domain or team_name.lower().replace(" ", "-"),
            bot_token=bot_token or f"xoxb-{team_id}-{secrets.token_hex(8)}",
            bot_user_id=bot_user_id or f"U0BOT{team_id[1:]}",
            bot_id=bot_id or f"B0BOT{team_id[1:]}",
            enterprise_id=enterprise_id,
            installed=installed,
        )
        with self._lock:
            return self.installations.add(workspace)

    def workspace(self, team_id: str) -> Workspace:
        """The workspace `team_id` (its current bot token, install state)."""
        with self._lock:
            return self.installations.workspaces[team_id]

    def issue_oauth_code(
        self,
        team_id: str,
        *,
        user_id: str = "U0INSTALLER",
        scopes: str = DEFAULT_SCOPES,
        redirect_uri: str | None = None,
    ) -> str:
        """What Slack appends to the redirect URL (`?code=...`) after `user_id` approves the install."""
        with self._lock:
            return self.installations.issue_code(team_id, user_id, scopes, redirect_uri)

    def revoke_token(self, token: str) -> None:
        """The token stops working: every call with it answers token_revoked."""
        with self._lock:
            self.installations.revoke(token)

    def uninstall(self, team_id: str) -> None:
        """The app is removed from the workspace (as from Slack's admin pages): its token is revoked."""
        with self._lock:
            self.installations.uninstall(team_id)

    def enable_rate_limits(
        self,
        *,
        window: float = 60.0,
        limits: dict[str, int] | None = None,
        post_limit: int = 1,
        post_window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> RateLimits:
        """Enforce Slack's tiers from now on: per method per workspace over `window` seconds (Tier 3 = 50),
        chat.postMessage `post_limit` per `post_window` seconds per channel; `limits` overrides a method's
        calls per window. Refused calls answer HTTP 429 `ratelimited` with Retry-After (whole seconds)."""
        with self._lock:
            self.rate_limits = RateLimits(window, dict(limits or {}), post_limit, post_window, clock)
            return self.rate_limits

    def call_times(
        self, method: str, team_id: str | None = None, *, answered_ok: bool = False
    ) -> list[float]:
        """time.monotonic() of each call of `method` (in one workspace; only ok answers if asked)."""
        with self._lock:
            return [
                call.at
                for call in self.calls
                if call.method == method
                and team_id in (None, call.team_id)
                and (call.response.get("ok") or not answered_ok)
            ]

    # ----------------------------------------------------------------- configuration

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        private: bool = False,
        member: bool = True,
        user_ids: set[str] | None = None,
        team_id: str | None = None,
    ) -> dict[str, Any]:
        """Register a channel of `team_id` (default workspace when None); `member` says whether the bot is in
        it (invite_bot / remove_bot change that); `user_ids` None means everyone."""
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
                "context_team_id": team_id or self.team_id,
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
        display_name: str | None = None,
        is_bot: bool = False,
    ) -> dict[str, Any]:
        """Register a workspace member that users.info can describe (profile.display_name, real_name)."""
        handle = name or real_name.lower().replace(" ", ".")
        user: dict[str, Any] = {
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
                "display_name": handle if display_name is None else display_name,
                "email": email,
                "real_name_normalized": real_name,
                "display_name_normalized": handle if display_name is None else display_name,
                "team": team_id or self.team_id,
            },
        }
        if email is None:
            del user["profile"]["email"]
        with self._lock:
            self.users[user_id] = user
        return user

    def invite_bot(self, channel_id: str) -> None:
        """The bot is now a member of the channel (as after `/invite @app`)."""
        with self._lock:
            self.members.add(channel_id)

    def remove_bot(self, channel_id: str) -> None:
        """The bot is no longer in the channel: posts answer not_in_channel, is_member is false."""
        with self._lock:
            self.members.discard(channel_id)

    def add_user_file(
        self, user_id: str, filename: str, content: bytes, mimetype: str, *, title: str | None = None
    ) -> dict[str, Any]:
        """A file a person uploaded, as a `file_share` message event lists it (download at url_private)."""
        with self._lock:
            upload = UploadedFile(self._new_id("F"), filename, len(content), content, title or filename)
            upload.completed = True
            upload.info = self._file_info(upload)
            upload.info.update(user=user_id, mimetype=mimetype, mode="hosted", size=len(content))
            self.uploaded_files[upload.id] = upload
            return dict(upload.info)

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

    def file_content(self, file_id: str) -> bytes | None:
        """The bytes uploaded for a file."""
        with self._lock:
            upload = self.uploaded_files.get(file_id)
            return None if upload is None else upload.content

    # ----------------------------------------------------------------- dispatch

    def handle(
        self,
        method: str,
        params: dict[str, Any],
        token: str | None,
        *,
        basic: tuple[str, str] | None = None,
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Answer one Web API call: (HTTP status, extra headers, JSON body); records it.

        The token picks the workspace (a revoked one answers token_revoked, an unknown one invalid_auth);
        oauth.v2.access takes the app's client id and secret instead (HTTP Basic auth or form fields).
        """
        arrived = time.monotonic()
        headers: dict[str, str] = {}
        status = 200
        team: str | None = None
        with self._lock:
            handler = self._methods.get(method)
            workspace, auth_error = (None, None) if not token else self.installations.team_of(token)
            if handler is None:
                response: dict[str, Any] = {"ok": False, "error": "unknown_method"}
            elif method == "oauth.v2.access":
                response = self._oauth_v2_access(params, basic)
            elif not token:
                response = {"ok": False, "error": "not_authed"}
            elif method == "apps.connections.open" and token != self.app_token:
                error = "not_allowed_token_type" if workspace is not None else "invalid_auth"
                response = {"ok": False, "error": error}
            elif method != "apps.connections.open" and workspace is None:
                response = {"ok": False, "error": auth_error or "invalid_auth"}
            elif (failure := self._take_failure(method)) is not None:
                response = {"ok": False, "error": failure.error}
                if failure.retry_after is not None:
                    status = 429
                    headers["Retry-After"] = str(failure.retry_after)
            elif (refusal := self._over_limit(method, params, workspace)) is not None:
                status, response = 429, {"ok": False, "error": "ratelimited"}
                headers["Retry-After"] = str(refusal)
            else:
                self._ws = workspace or self.installations.workspaces[self.team_id]
                try:
                    params = decode_json_fields(params)
                    response = {"ok": True, **handler(params)}
                except SlackApiFailure as failure_:
                    response = {"ok": False, "error": failure_.error, **failure_.extra}
                finally:
                    self._ws = self.installations.workspaces[self.team_id]
            if workspace is not None:
                team = workspace.team_id
                headers["x-oauth-scopes"] = workspace.scopes  # Slack names the token's scopes on each answer
            self.calls.append(SlackCall(method, dict(params), response, token, team, arrived, status))
            return status, headers, response

    def _over_limit(self, method: str, params: dict[str, Any], workspace: Workspace | None) -> int | None:
        """Retry-After seconds when the rate tier refuses this call (lock held); None when it may run."""
        if self.rate_limits is None or workspace is None:
            return None
        channel = params.get("channel") if method == "chat.postMessage" else None
        refusal = self.rate_limits.check(workspace.team_id, method, str(channel) if channel else None)
        return None if refusal is None else refusal.retry_after

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

    def _resolve_channel(self, channel: Any, *, need_member: bool = True) -> str:
        if not channel or not isinstance(channel, str):
            raise SlackApiFailure("channel_not_found")
        if channel in self.users:
            return self.dm_channel(channel)
        info = self.channels.get(channel)
        if info is None or info.get("context_team_id", self._ws.team_id) != self._ws.team_id:
            raise SlackApiFailure("channel_not_found")  # another workspace's channel is not visible
        if info.get("is_private") and channel not in self.members:
            raise SlackApiFailure("channel_not_found")  # private channels are invisible to non-members
        if need_member and channel not in self.members:
            raise SlackApiFailure("not_in_channel")
        return channel

    def _message_out(self, message: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if k not in ("history", "channel")}

    # ----------------------------------------------------------------- methods

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self._ws.team_domain}.slack.com/",
            "team": self._ws.team_name,
            "user": "mass_text_alerts",
            "team_id": self._ws.team_id,
            "user_id": self._ws.bot_user_id,
            "bot_id": self._ws.bot_id,
            "is_enterprise_install": False,
            **({"enterprise_id": self._ws.enterprise_id} if self._ws.enterprise_id else {}),
        }

    def _oauth_v2_access(self, params: dict[str, Any], basic: tuple[str, str] | None) -> dict[str, Any]:
        """Exchange an OAuth code for a bot token (lock held); Slack's error when it cannot."""
        client_id, client_secret = basic or (params.get("client_id") or "", params.get("client_secret") or "")
        try:
            answer = self.installations.exchange(
                str(client_id), str(client_secret), str(params.get("code") or ""), params.get("redirect_uri")
            )
        except LookupError as refused:
            return {"ok": False, "error": str(refused.args[0])}
        return {"ok": True, **answer}

    def _apps_uninstall(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("client_id") != self.client_id:
            raise SlackApiFailure("invalid_client_id")
        if params.get("client_secret") != self.client_secret:
            raise SlackApiFailure("bad_client_secret")
        self.installations.uninstall(self._ws.team_id)
        return {}

    def _auth_revoke(self, params: dict[str, Any]) -> dict[str, Any]:
        if str(params.get("test") or "").lower() in ("1", "true"):
            return {"revoked": False}
        self.installations.revoke(self._ws.bot_token)
        return {"revoked": True}

    def _conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"), need_member=False)
        info = self.channels[channel]
        people = sorted(info.get("_users") or [u for u, d in self.users.items() if not d.get("is_bot")])
        if channel in self.members:
            people.append(self._ws.bot_user_id)
        return {"members": people, "response_metadata": {"next_cursor": ""}}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.socket_url is None:
            raise SlackApiFailure("socket_mode_not_enabled")
        return {"url": f"{self.socket_url}?ticket={secrets.token_hex(16)}&app_id={self.app_id}"}

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
            "user": self._ws.bot_user_id,
            "bot_id": self._ws.bot_id,
            "app_id": self.app_id,
            "team": self._ws.team_id,
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
        if message.get("user") != self._ws.bot_user_id:
            raise SlackApiFailure("cant_update_message")
        blocks = params.get("blocks")
        if blocks is not None and (not isinstance(blocks, list) or len(blocks) > 50):
            raise SlackApiFailure("invalid_blocks")
        message["history"].append({k: message.get(k) for k in ("text", "blocks")})
        if "text" in params:
            message["text"] = params.get("text") or ""
        if blocks is not None:
            message["blocks"] = blocks
        message["edited"] = {"user": self._ws.bot_user_id, "ts": self._now_ts()}
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
        link = (
            f"https://{self._ws.team_domain}.slack.com/archives/{channel}/p{message['ts'].replace('.', '')}"
        )
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
                "user": self._ws.bot_user_id,
                "bot_id": self._ws.bot_id,
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
            "user": self._ws.bot_user_id,
            "size": len(upload.content or b""),
            "is_public": False,
            "url_private": f"{self.base_url}/files/{upload.id}/{name}",
            "url_private_download": f"{self.base_url}/files/{upload.id}/download/{name}",
            "permalink": f"https://{self._ws.team_domain}.slack.com/files/{self._ws.bot_user_id}/{upload.id}/{name}",
            "channels": [c for c in upload.channels if not self.channels[c].get("is_private")],
            "groups": [c for c in upload.channels if self.channels[c].get("is_private")],
            "shares": {},
        }

    def _files_info(self, params: dict[str, Any]) -> dict[str, Any]:
        upload = self.uploaded_files.get(str(params.get("file") or ""))
        if upload is None or not upload.completed:
            raise SlackApiFailure("file_not_found")
        return {"file": upload.info}
