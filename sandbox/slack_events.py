"""Events API deliveries as Slack makes them: message subtypes, escaped text, install events, and retries.

Shapes: https://docs.slack.dev/reference/events/message (subtypes file_share, message_changed,
message_deleted, channel_join, bot_message), https://docs.slack.dev/messaging/formatting-message-text
(escaping `&`, `<`, `>`; `<https://...|label>`, `<@U...>`, `<#C...|name>`, `:emoji:`), app_uninstalled
and tokens_revoked. Retries: https://docs.slack.dev/apis/events-api — Slack expects 2xx within 3 seconds,
else retries up to three times with `X-Slack-Retry-Num` (1, 2, 3) and `X-Slack-Retry-Reason`
(`http_timeout`, `http_error`, `too_many_redirects`, `connection_failed`, ...); each retry carries the
same event_id.
"""

from __future__ import annotations

import itertools
import threading
import time
import urllib.error
from dataclasses import dataclass
from typing import Any

from sandbox.slack_requests import post

RETRY_NUM = "X-Slack-Retry-Num"
RETRY_REASON = "X-Slack-Retry-Reason"
#: Slack waits this long for the app's answer before it counts the delivery as failed.
ACK_DEADLINE_SECONDS = 3.0
_TS = itertools.count(1)


# ----- text as Slack sends it ------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape `&`, `<` and `>` as Slack does in message text (`&amp;`, `&lt;`, `&gt;`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str | None = None) -> str:
    """A link as Slack writes it in text: `<https://...>` or `<https://...|label>`."""
    return f"<{url}|{escape(label)}>" if label else f"<{url}>"


def user_mention(user_id: str) -> str:
    """A user mention: `<@U123>`."""
    return f"<@{user_id}>"


def channel_mention(channel_id: str, name: str | None = None) -> str:
    """A channel mention: `<#C123|name>` (or `<#C123>`)."""
    return f"<#{channel_id}|{name}>" if name else f"<#{channel_id}>"


def _ts() -> str:
    return f"{time.time():.0f}.{next(_TS):06d}"


# ----- message events --------------------------------------------------------------------------


def message_event(
    channel: str,
    user: str,
    text: str,
    *,
    ts: str | None = None,
    thread_ts: str | None = None,
    team: str = "T0SANDBOX",
    channel_type: str = "channel",
) -> dict[str, Any]:
    """A person's plain message (`text` already in Slack's escaped form; see escape, link, user_mention)."""
    stamp = ts or _ts()
    event: dict[str, Any] = {
        "type": "message",
        "user": user,
        "text": text,
        "ts": stamp,
        "team": team,
        "channel": channel,
        "event_ts": stamp,
        "channel_type": channel_type,
        "client_msg_id": f"{stamp.replace('.', '')}-msg",
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def file_share_event(
    channel: str,
    user: str,
    text: str,
    files: list[dict[str, Any]],
    *,
    thread_ts: str | None = None,
    team: str = "T0SANDBOX",
) -> dict[str, Any]:
    """A message with files attached (subtype file_share); `files` as SandboxSlack.add_user_file returns."""
    event = message_event(channel, user, text, thread_ts=thread_ts, team=team)
    event.update(subtype="file_share", files=files, upload=False, display_as_bot=False)
    return event


def message_changed_event(
    channel: str, previous: dict[str, Any], new_text: str, *, editor: str | None = None
) -> dict[str, Any]:
    """An edit of `previous` (a message event) to `new_text` (subtype message_changed, hidden)."""
    stamp = _ts()
    message = {k: v for k, v in previous.items() if k not in ("channel", "event_ts", "channel_type")}
    message.update(text=new_text, edited={"user": editor or previous.get("user"), "ts": stamp})
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "message": message,
        "channel": channel,
        "previous_message": {k: v for k, v in previous.items() if k not in ("channel", "event_ts")},
        "event_ts": stamp,
        "ts": stamp,
        "channel_type": "channel",
    }


def message_deleted_event(channel: str, previous: dict[str, Any]) -> dict[str, Any]:
    """The deletion of `previous` (subtype message_deleted, hidden)."""
    stamp = _ts()
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "deleted_ts": previous["ts"],
        "channel": channel,
        "previous_message": {k: v for k, v in previous.items() if k not in ("channel", "event_ts")},
        "event_ts": stamp,
        "ts": stamp,
        "channel_type": "channel",
    }


def channel_join_event(channel: str, user: str, *, inviter: str | None = None) -> dict[str, Any]:
    """`user` joined the channel (subtype channel_join)."""
    event = message_event(channel, user, f"{user_mention(user)} has joined the channel")
    event["subtype"] = "channel_join"
    event.pop("client_msg_id", None)
    if inviter:
        event["inviter"] = inviter
    return event


def bot_message_event(
    channel: str, bot_id: str, text: str, *, username: str = "bot", thread_ts: str | None = None
) -> dict[str, Any]:
    """A message posted by an integration (subtype bot_message: bot_id, no user)."""
    stamp = _ts()
    event: dict[str, Any] = {
        "type": "message",
        "subtype": "bot_message",
        "text": text,
        "ts": stamp,
        "username": username,
        "bot_id": bot_id,
        "channel": channel,
        "event_ts": stamp,
        "channel_type": "channel",
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def app_uninstalled_event() -> dict[str, Any]:
    """The app was removed from the workspace (the wrapper's team_id names it)."""
    return {"type": "app_uninstalled"}


def tokens_revoked_event(*, bot: list[str] | None = None, oauth: list[str] | None = None) -> dict[str, Any]:
    """Tokens were revoked: user ids per token kind, never the token strings."""
    tokens: dict[str, list[str]] = {}
    if oauth:
        tokens["oauth"] = list(oauth)
    if bot:
        tokens["bot"] = list(bot)
    return {"type": "tokens_revoked", "tokens": tokens}


# ----- delivery with retries -------------------------------------------------------------------


@dataclass(frozen=True)
class EventAnswer:
    """The app's answer to one delivery attempt: HTTP status (None on timeout or refused connection)."""

    retry_num: int
    retry_reason: str | None
    status: int | None
    text: str
    #: time.monotonic() when the request was sent and when the answer (or failure) came.
    sent_at: float
    answered_at: float

    @property
    def elapsed(self) -> float:
        """Seconds the app took to answer."""
        return self.answered_at - self.sent_at

    @property
    def acknowledged(self) -> bool:
        """2xx within Slack's 3-second deadline."""
        return self.status is not None and 200 <= self.status < 300 and self.elapsed <= ACK_DEADLINE_SECONDS


class EventSender:
    """Posts signed Events API bodies to the app as Slack does and records every answer in `answers`."""

    def __init__(self, url: str, signing_secret: str, *, timeout: float = ACK_DEADLINE_SECONDS) -> None:
        self.url = url
        self.secret = signing_secret
        self.timeout = timeout
        self.answers: list[EventAnswer] = []
        self._lock = threading.Lock()

    def send(self, body: bytes, *, retry_num: int = 0, retry_reason: str = "http_timeout") -> EventAnswer:
        """One attempt; `retry_num` > 0 adds X-Slack-Retry-Num and X-Slack-Retry-Reason."""
        headers = {RETRY_NUM: str(retry_num), RETRY_REASON: retry_reason} if retry_num else {}
        started = time.monotonic()
        try:
            status: int | None
            status, text = post(self.url, body, self.secret, timeout=self.timeout, headers=headers)
        except (TimeoutError, urllib.error.URLError, ConnectionError) as failure:
            status, text = None, f"{type(failure).__name__}: {failure}"
        answer = EventAnswer(
            retry_num, retry_reason if retry_num else None, status, text, started, time.monotonic()
        )
        with self._lock:
            self.answers.append(answer)
        return answer

    def deliver(
        self, body: bytes, *, retries: int = 0, retry_reason: str = "http_timeout"
    ) -> list[EventAnswer]:
        """The first attempt, then `retries` retries (numbered 1, 2, ...) of the same body."""
        return [self.send(body)] + [
            self.send(body, retry_num=n, retry_reason=retry_reason) for n in range(1, retries + 1)
        ]

    def deliver_like_slack(self, body: bytes, *, max_retries: int = 3) -> list[EventAnswer]:
        """Retry only while the app fails to acknowledge (non-2xx, error or over 3 s), as Slack does."""
        answers = [self.send(body)]
        while not answers[-1].acknowledged and len(answers) <= max_retries:
            reason = "http_timeout" if answers[-1].status is None else "http_error"
            answers.append(self.send(body, retry_num=len(answers), retry_reason=reason))
        return answers
