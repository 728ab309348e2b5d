"""What clinic staff do in a conversation's thread: answer the client (a text on the priority lane), close it.

Only clinic users of the conversation's clinic may do either (`is_clinic_user`). An answer is refused, with
the reason shown to whoever typed it, when the conversation is closed, the client opted out (replied STOP),
the clinic has no SMS number or Messaging Service, or the text is empty or over MAX_TEXT_CHARS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.conversations.common import ACTIVE, CLOSED, OUTBOUND
from services.delivery.pacing import ensure_sender
from services.errors import DomainError, InvalidInput, NotFound
from services.models import Client, Clinic, ClinicUser, Conversation, ConversationMessage, InboundEvent

#: The longest answer accepted, in characters (Twilio's limit on a message body).
MAX_TEXT_CHARS = 1600


class AlreadyHandled(DomainError):
    """The same request arrived again (a retry); it was handled the first time."""


def queue_staff_reply(
    sessions: sessionmaker[Session],
    *,
    conversation_id: int,
    body: str,
    author_slack_user_id: str | None,
    now: datetime,
    dedupe_key: str | None = None,
    author_slack_ts: str | None = None,
) -> int:
    """Queue a staff answer as a conversation text (the priority lane); the new message's id.

    `author_slack_ts` is the ts of the Slack message it was typed as (see `answer_typed_as`).
    """
    text = body.strip()
    if not text:
        raise InvalidInput("Type the answer to send.", field="body")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(
            f"The answer is {len(text)} characters; a text can hold at most {MAX_TEXT_CHARS}. "
            "Shorten it and send it again.",
            field="body",
        )
    with sessions() as session, session.begin():
        if dedupe_key is not None and not _first_time(session, dedupe_key, now):
            raise AlreadyHandled("This answer was already queued.")
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            raise NotFound("This conversation no longer exists.")
        clinic = session.get(Clinic, conversation.clinic_id)
        assert clinic is not None
        who = "this number"
        if conversation.client_id is not None:
            client = session.get(Client, conversation.client_id)
            if client is not None:
                who = client.full_name
        if conversation.status != ACTIVE:
            raise DomainError(
                f"Not sent: this conversation with {who} is closed. Their next text opens a "
                "new conversation; to write first, text them from the clinic's usual tools."
            )
        opted_out = session.scalars(
            select(Client.full_name).where(
                Client.clinic_id == clinic.id,
                Client.phone_e164 == conversation.phone_e164,
                Client.opted_out_at.is_not(None),
            )
        ).first()
        if opted_out is not None:
            raise DomainError(
                f"Not sent: {opted_out} opted out of texts from {clinic.name} (replied STOP). "
                "They must reply START before the clinic can text them again."
            )
        key = clinic.sender_key
        if key is None:
            raise DomainError(f"Not sent: {clinic.name} has no SMS number or Messaging Service configured.")
        try:
            with session.begin_nested():
                ensure_sender(session, key, now)
        except IntegrityError:
            pass  # another answer created the sender row at the same moment
        message = ConversationMessage(
            conversation_id=conversation.id,
            direction=OUTBOUND,
            body=text,
            sender_key=key,
            to_phone=conversation.phone_e164,
            status="queued",
            author_slack_user_id=author_slack_user_id,
            author_slack_ts=author_slack_ts,
            created_at=now,
        )
        session.add(message)
        session.flush()
        return message.id


def _first_time(session: Session, key: str, now: datetime) -> bool:
    """Record `key` (a Slack message or event, as InboundEvent records a MessageSid); False when it was
    recorded before (Slack retried the event)."""
    try:
        with session.begin_nested():
            session.add(InboundEvent(message_sid=key[:64], received_at=now))
            session.flush()
    except IntegrityError:
        return False
    return True


def answer_typed_as(
    sessions: sessionmaker[Session], *, channel_id: str, ts: str, dedupe_key: str, now: datetime
) -> int | None:
    """The staff answer typed as the Slack message `ts` in `channel_id` (its thread's channel); None when
    that message was not an answer, or when `dedupe_key` (the edit or deletion event) was seen before."""
    with sessions() as session, session.begin():
        found = session.scalar(
            select(ConversationMessage.id)
            .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
            .where(
                ConversationMessage.direction == OUTBOUND,
                ConversationMessage.author_slack_ts == ts,
                Conversation.slack_channel_id == channel_id,
            )
        )
        if found is None or not _first_time(session, dedupe_key, now):
            return None
        return found


@dataclass(frozen=True)
class ClosedConversation:
    """The conversation after a Close: where its thread is, and whether it was already closed."""

    conversation_id: int
    already_closed: bool
    channel_id: str | None
    thread_ts: str | None
    closed_at: datetime | None


def close_conversation(
    sessions: sessionmaker[Session], *, conversation_id: int, now: datetime
) -> ClosedConversation:
    """Close a conversation (closing a closed one changes nothing); the client's next text opens a new one."""
    with sessions() as session, session.begin():
        conversation = session.get(Conversation, conversation_id, with_for_update=True)
        if conversation is None:
            raise NotFound("This conversation no longer exists.")
        already = conversation.status != ACTIVE
        if not already:
            conversation.status = CLOSED
            conversation.closed_at = now
        return ClosedConversation(
            conversation.id,
            already,
            conversation.slack_channel_id,
            conversation.slack_thread_ts,
            conversation.closed_at,
        )


def is_clinic_user(
    sessions: sessionmaker[Session],
    conversation_id: int,
    *,
    team_id: str | None,
    user_id: str,
    email: str | None = None,
) -> bool:
    """True when the Slack user is a clinic user (any role) of the conversation's clinic."""
    with sessions() as session:
        found = session.execute(
            select(Conversation.clinic_id, Clinic.slack_team_id)
            .join(Clinic, Clinic.id == Conversation.clinic_id)
            .where(Conversation.id == conversation_id)
        ).first()
        if found is None:
            return False
        clinic_id, clinic_team = found
        if team_id and clinic_team and clinic_team != team_id:
            return False  # workspace isolation: a clinic linked to another workspace (issue 16)
        conditions = [ClinicUser.slack_user_id == user_id]
        if email:
            conditions.append(func.lower(ClinicUser.email) == email.strip().lower())
        query = select(ClinicUser.id).where(ClinicUser.clinic_id == clinic_id, or_(*conditions))
        if team_id:
            query = query.where(or_(ClinicUser.slack_team_id.is_(None), ClinicUser.slack_team_id == team_id))
        return session.scalars(query.limit(1)).first() is not None
