"""Conversation threads: a clinic user's reply in a thread is texted to the client; Close closes it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from bot.container import AppContext
from bot.conversation_relay import ConversationRelay
from bot.ids import ActionId, keyed_pattern
from services import conversations as conv
from services.errors import DomainError

log = logging.getLogger(__name__)

#: Message subtypes that are a person typing in a thread (plain, or "also send to channel").
TYPED_SUBTYPES = (None, "thread_broadcast")
NOT_A_CLINIC_USER = (
    "Not sent: only users of this clinic can answer its clients. Ask a clinic admin to add "
    "you as a clinic user (or to link your Slack account)."
)


@dataclass(frozen=True)
class ThreadMessage:
    """A message a person typed in a thread, parsed once from the event."""

    team_id: str | None
    channel_id: str
    thread_ts: str
    ts: str
    user_id: str
    text: str

    @classmethod
    def parse(cls, event: dict[str, Any], team_id: str | None = None) -> ThreadMessage | None:
        """The typed thread reply in `event`; None for bot posts, edits, deletions and top-level messages."""
        if event.get("type") != "message" or event.get("bot_id"):
            return None
        if event.get("subtype") not in TYPED_SUBTYPES:
            return None
        thread_ts, ts, user, channel = (event.get(k) for k in ("thread_ts", "ts", "user", "channel"))
        if not (thread_ts and ts and user and channel) or thread_ts == ts:
            return None
        return cls(
            event.get("team") or team_id,
            str(channel),
            str(thread_ts),
            str(ts),
            str(user),
            str(event.get("text") or ""),
        )

    @property
    def dedupe_key(self) -> str:
        """Identifies this Slack message across Slack's retries."""
        return f"slack:{self.channel_id}:{self.ts}"


def _email(client: Any, user_id: str) -> str | None:
    try:
        return client.users_info(user=user_id)["user"]["profile"].get("email")
    except (SlackApiError, KeyError, TypeError):
        return None


def _member(ctx: AppContext, conversation_id: int, team_id: str | None, user_id: str) -> bool:
    """A clinic user of the conversation's clinic: by the Slack link, else by email."""
    if conv.is_clinic_user(ctx.sessions, conversation_id, team_id=team_id, user_id=user_id):
        return True
    email = _email(ctx.client, user_id)
    return bool(email) and conv.is_clinic_user(
        ctx.sessions, conversation_id, team_id=team_id, user_id=user_id, email=email
    )


def _thread_matcher(ctx: AppContext) -> Callable[..., bool]:
    def matches(body: dict[str, Any]) -> bool:
        message = ThreadMessage.parse(body.get("event") or {}, body.get("team_id"))
        return (
            message is not None
            and conv.find_by_thread(ctx.sessions, message.channel_id, message.thread_ts) is not None
        )

    return matches


def register(app: App, ctx: AppContext, relay: ConversationRelay | None = None) -> None:
    """Add the thread-reply and Close listeners to `app`."""
    relay = relay or ConversationRelay(ctx.sessions, ctx.client, ctx.clock)

    def on_thread_reply(body: dict[str, Any]) -> None:
        message = ThreadMessage.parse(body.get("event") or {}, body.get("team_id"))
        if message is None:
            return
        conversation_id = conv.find_by_thread(ctx.sessions, message.channel_id, message.thread_ts)
        if conversation_id is None:
            return
        if not _member(ctx, conversation_id, message.team_id, message.user_id):
            relay.tell(message.channel_id, message.user_id, message.thread_ts, NOT_A_CLINIC_USER)
            return
        try:
            message_id = conv.queue_staff_reply(
                ctx.sessions,
                conversation_id=conversation_id,
                body=message.text,
                author_slack_user_id=message.user_id,
                now=ctx.clock.now(),
                dedupe_key=message.dedupe_key,
            )
        except conv.AlreadyHandled:
            return
        except DomainError as error:
            relay.tell(message.channel_id, message.user_id, message.thread_ts, str(error))
            return
        relay.acknowledge_staff_reply(message_id)

    def on_close(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user_id, team_id = body["user"]["id"], (body.get("team") or {}).get("id")
        channel_id = (body.get("channel") or {}).get("id", "")
        value = str(action.get("value") or "")
        conversation_id = int(value) if value.isdigit() else 0
        if not _member(ctx, conversation_id, team_id, user_id):
            relay.tell(channel_id, user_id, None, "Only users of this clinic can close its conversations.")
            return
        try:
            conv.close_conversation(ctx.sessions, conversation_id=conversation_id, now=ctx.clock.now())
        except DomainError as error:
            relay.tell(channel_id, user_id, None, str(error))
            return
        relay.show_closed(conversation_id, closed_by=user_id)

    app.event("message", matchers=[_thread_matcher(ctx)])(on_thread_reply)
    app.action(keyed_pattern(ActionId.CLOSE_CONVERSATION))(on_close)
