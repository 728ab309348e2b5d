"""Conversation threads: a clinic user's reply in a thread is texted to the client as the plain text they
meant (bot.slack_text); files attached to it are not texted and the author is told; an edit or deletion of an
answer already texted gets a thread note that a text cannot be recalled. Close closes the conversation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.container import AppContext
from bot.conversation_relay import ConversationRelay
from bot.views.conversation import attachment_note
from commands.context import app_context
from services import conversations as conv
from services.errors import DomainError

#: Message subtypes that are a person typing in a thread (plain, "also send to channel", or with files).
TYPED_SUBTYPES = (None, "thread_broadcast", "file_share")
#: Message subtypes that change a message already posted (https://docs.slack.dev/reference/events/message).
EDITED, DELETED = "message_changed", "message_deleted"
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
    #: How many files were attached (subtype file_share).
    files: int = 0

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
            len(event.get("files") or ()),
        )

    @property
    def dedupe_key(self) -> str:
        """Identifies this Slack message across Slack's retries."""
        return f"slack:{self.channel_id}:{self.ts}"


@dataclass(frozen=True)
class ThreadEdit:
    """An edit (message_changed) or deletion (message_deleted) of a person's message in a thread."""

    channel_id: str
    ts: str
    event_ts: str
    deleted: bool

    @classmethod
    def parse(cls, event: dict[str, Any]) -> ThreadEdit | None:
        """The edit or deletion in `event`; None for other events, bots' messages, top-level messages and
        changes that leave the text as it was (Slack adds link previews with message_changed too)."""
        subtype, channel = event.get("subtype"), event.get("channel")
        if event.get("type") != "message" or subtype not in (EDITED, DELETED) or not channel:
            return None
        before: dict[str, Any] = event.get("previous_message") or {}
        message: dict[str, Any] = (event.get("message") or {}) if subtype == EDITED else before
        if subtype == EDITED and message.get("text") == before.get("text"):
            return None
        ts = event.get("deleted_ts") if subtype == DELETED else message.get("ts")
        thread_ts, stamp = message.get("thread_ts"), event.get("event_ts") or event.get("ts")
        if message.get("bot_id") or not (ts and thread_ts and stamp) or ts == thread_ts:
            return None
        return cls(str(channel), str(ts), str(stamp), subtype == DELETED)

    @property
    def dedupe_key(self) -> str:
        """Identifies this edit or deletion across Slack's retries."""
        return f"slack-{'del' if self.deleted else 'edit'}:{self.channel_id}:{self.event_ts}"


#: Bolt context keys the membership middleware fills for the listener.
THREAD_MESSAGE = "thread_message"
CONVERSATION = "conversation_id"
NOT_ALLOWED_TO_CLOSE = "Only users of this clinic can close its conversations."


def _email(client: WebClient, user_id: str) -> str | None:
    try:
        email = client.users_info(user=user_id)["user"]["profile"].get("email")
    except (SlackApiError, KeyError, TypeError):
        return None
    return str(email) if email else None


def is_member(
    ctx: AppContext, client: WebClient, conversation_id: int, team_id: str | None, user_id: str
) -> bool:
    """A clinic user of the conversation's clinic: by the Slack link, else by email (users:read.email)."""
    if conv.is_clinic_user(ctx.sessions, conversation_id, team_id=team_id, user_id=user_id):
        return True
    email = _email(client, user_id)
    return bool(email) and conv.is_clinic_user(
        ctx.sessions, conversation_id, team_id=team_id, user_id=user_id, email=email
    )


def _relay(ctx: AppContext) -> ConversationRelay:
    if ctx.relay is None:
        raise RuntimeError("no conversation relay: SLACK_BOT_TOKEN is not configured for this process")
    return ctx.relay


def is_thread_reply(body: dict[str, Any]) -> bool:
    """Matcher: a message a person typed in a thread (not a bot post, an edit or a top-level message)."""
    return ThreadMessage.parse(body.get("event") or {}, body.get("team_id")) is not None


def thread_of_clinic_user(
    body: dict[str, Any], client: WebClient, context: dict[str, Any], next: Callable[[], None]
) -> BoltResponse | None:
    """Listener middleware: the reply is in a conversation's thread and its author is a user of that clinic.

    Outside a conversation thread the listener does not run (the request stays unhandled, as any other
    message); a person who is not a clinic user is told so in the thread and the listener does not run.
    """
    ctx = app_context(context)
    message = ThreadMessage.parse(body.get("event") or {}, body.get("team_id"))
    if message is None:
        return None
    conversation_id = conv.find_by_thread(ctx.sessions, message.channel_id, message.thread_ts)
    if conversation_id is None:
        return None
    if not is_member(ctx, client, conversation_id, message.team_id, message.user_id):
        _relay(ctx).tell(message.channel_id, message.user_id, message.thread_ts, NOT_A_CLINIC_USER)
        return BoltResponse(status=200, body="")
    context[THREAD_MESSAGE] = message
    context[CONVERSATION] = conversation_id
    next()
    return None


def closer_is_clinic_user(
    body: dict[str, Any], client: WebClient, context: dict[str, Any], next: Callable[[], None]
) -> BoltResponse | None:
    """Listener middleware for Close: only a user of the conversation's clinic may close it (others told)."""
    ctx = app_context(context)
    user_id, team_id = body["user"]["id"], (body.get("team") or {}).get("id")
    value = str(((body.get("actions") or [{}])[0]).get("value") or "")
    conversation_id = int(value) if value.isdigit() else 0
    if not is_member(ctx, client, conversation_id, team_id, user_id):
        channel_id = (body.get("channel") or {}).get("id", "")
        _relay(ctx).tell(channel_id, user_id, None, NOT_ALLOWED_TO_CLOSE)
        return BoltResponse(status=200, body="")
    context[CONVERSATION] = conversation_id
    next()
    return None


def queue_thread_reply(client: WebClient, context: dict[str, Any]) -> None:
    """A clinic user's reply in a conversation thread: queue the plain text they meant as a text to the
    client, show its status; attached files are not texted, and the author is told so."""
    ctx = app_context(context)
    message: ThreadMessage = context[THREAD_MESSAGE]
    relay = _relay(ctx)
    text = relay.directory.plain(client, message.team_id, message.text)
    if message.files and not text.strip():
        relay.tell(message.channel_id, message.user_id, message.thread_ts, attachment_note(texted=False))
        return
    try:
        message_id = conv.queue_staff_reply(
            ctx.sessions,
            conversation_id=context[CONVERSATION],
            body=text,
            author_slack_user_id=message.user_id,
            now=ctx.clock.now(),
            dedupe_key=message.dedupe_key,
            author_slack_ts=message.ts,
        )
    except conv.AlreadyHandled:
        return
    except DomainError as error:
        relay.tell(message.channel_id, message.user_id, message.thread_ts, str(error))
        return
    relay.acknowledge_staff_reply(message_id)
    if message.files:
        relay.tell(message.channel_id, message.user_id, message.thread_ts, attachment_note(texted=True))


def is_thread_edit(body: dict[str, Any]) -> bool:
    """Matcher: an edit or deletion of a person's message in a thread."""
    return ThreadEdit.parse(body.get("event") or {}) is not None


def note_edited_answer(body: dict[str, Any], context: dict[str, Any]) -> None:
    """An answer already texted was edited or deleted in Slack: say in its thread that it cannot be
    recalled (once per edit, whatever Slack retries); other edits change nothing."""
    ctx = app_context(context)
    edit = ThreadEdit.parse(body.get("event") or {})
    if edit is None:
        return
    message_id = conv.answer_typed_as(
        ctx.sessions, channel_id=edit.channel_id, ts=edit.ts, dedupe_key=edit.dedupe_key, now=ctx.clock.now()
    )
    if message_id is not None:
        _relay(ctx).note_recall(message_id, deleted=edit.deleted)


def close_conversation(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
    """Close: the client's next text opens a new conversation; the thread's first message loses its button."""
    ack()
    ctx = app_context(context)
    user_id = body["user"]["id"]
    conversation_id: int = context[CONVERSATION]
    relay = _relay(ctx)
    try:
        conv.close_conversation(ctx.sessions, conversation_id=conversation_id, now=ctx.clock.now())
    except DomainError as error:
        relay.tell((body.get("channel") or {}).get("id", ""), user_id, None, str(error))
        return
    relay.show_closed(conversation_id, closed_by=user_id)
