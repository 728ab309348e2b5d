"""The Slack relay's bookkeeping: which thread is a conversation's, who posts what, what a thread shows.

Each inbound message is posted to Slack once. A message's (and a thread's first message's) state is one of:
not posted and unclaimed (`slack_ts` / `Conversation.slack_thread_ts` and the claim time both NULL); claimed
by a relayer that is posting it (`ConversationMessage.relay_claimed_at` / `Conversation.thread_claimed_at`
set, the ts NULL), a claim older than CLAIM_SECONDS being taken over; posted (the Slack ts set, the claim
cleared). A staff answer's `slack_ts` is the ts of the thread message acknowledging it, and `shown_status`
the delivery status that message shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.conversations.common import INBOUND, OUTBOUND, ClientRow, ClinicRow, ConversationRow
from services.conversations.retry import retried
from services.errors import NotFound
from services.models import (
    Client,
    Clinic,
    ClinicUser,
    Conversation,
    ConversationMessage,
    MassAlert,
    Patient,
    Role,
)

#: A relay claim older than this is taken over (the relayer that made it died or gave up).
CLAIM_SECONDS = 60.0
#: How far back the relay looks for messages that were never posted to Slack.
RELAY_WINDOW = timedelta(days=2)
#: Outbound statuses whose change is shown in the thread (queued and in-flight ones are not).
SHOWN_STATUSES = ("accepted", "sent", "delivered", "undelivered", "failed")
#: After the channel refuses a post, the relay waits at least this long before trying it again, then as long
#: as the oldest forwarded reply has waited (doubling), at most RETRY_MAX.
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(minutes=30)


def stale(claimed_at: datetime | None, now: datetime) -> bool:
    """True when nobody holds a claim made at `claimed_at`: none made, or made over CLAIM_SECONDS ago."""
    return claimed_at is None or (now - claimed_at).total_seconds() > CLAIM_SECONDS


@dataclass(frozen=True)
class ThreadHeader:
    """What the first message of a conversation's thread says."""

    conversation_id: int
    clinic_id: int
    clinic_name: str
    timezone: str
    channel_id: str | None
    thread_ts: str | None
    status: str
    phone: str
    unknown_contact: bool
    client_name: str | None
    pets: tuple[str, ...]
    other_clients: tuple[str, ...]
    alert_id: int | None
    alert_message: str | None
    opted_out: bool
    closed_at: datetime | None
    root_body: str | None


_PETS = (
    select(Patient.name)
    .where(Patient.client_id == bindparam("client"), Patient.deceased.is_(False))
    .order_by(Patient.id)
)
_ALERT_MESSAGE = select(MassAlert.message).where(MassAlert.id == bindparam("alert"))


def read_header(
    session: Session,
    conversation: Conversation | ConversationRow,
    clinic: Clinic | ClinicRow,
    client: Client | ClientRow | None,
    *,
    details: bool,
    opted_out: bool | None = None,
    others: tuple[str, ...] | None = None,
) -> ThreadHeader:
    """A ThreadHeader read in `session` (`opted_out` and `others` when the caller knows them already)."""
    pets: tuple[str, ...] = ()
    alert_message = root_body = None
    thread = conversation.slack_thread_ts
    if opted_out is None:
        opted_out = (
            session.scalars(
                select(Client.id)
                .where(
                    Client.clinic_id == clinic.id,
                    Client.phone_e164 == conversation.phone_e164,
                    Client.opted_out_at.is_not(None),
                )
                .limit(1)
            ).first()
            is not None
        )
    if details:
        if client is not None:
            pets = tuple(session.connection().execute(_PETS, {"client": client.id}).scalars())
        if others is None:
            others = tuple(
                session.scalars(
                    select(Client.full_name)
                    .where(
                        Client.clinic_id == clinic.id,
                        Client.phone_e164 == conversation.phone_e164,
                        Client.id != (client.id if client else -1),
                    )
                    .order_by(Client.id)
                )
            )
        if conversation.alert_id is not None:
            alert_message = (
                session.connection().execute(_ALERT_MESSAGE, {"alert": conversation.alert_id}).scalar()
            )
        if thread is not None:
            root_body = session.scalar(
                select(ConversationMessage.body).where(
                    ConversationMessage.conversation_id == conversation.id,
                    ConversationMessage.slack_ts == thread,
                )
            )
    return ThreadHeader(
        conversation_id=conversation.id,
        clinic_id=clinic.id,
        clinic_name=clinic.name,
        timezone=clinic.timezone,
        channel_id=conversation.slack_channel_id or clinic.slack_channel_id,
        thread_ts=thread,
        status=conversation.status,
        phone=conversation.phone_e164,
        unknown_contact=conversation.unknown_contact,
        client_name=client.full_name if client else None,
        pets=pets,
        other_clients=others or (),
        alert_id=conversation.alert_id,
        alert_message=alert_message,
        opted_out=opted_out,
        closed_at=conversation.closed_at,
        root_body=root_body,
    )


def thread_header(sessions: sessionmaker[Session], conversation_id: int) -> ThreadHeader:
    """The conversation as the relay shows it: client, pets, the alert it answers, where its thread is."""
    with sessions() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            raise NotFound("This conversation no longer exists.")
        clinic = session.get(Clinic, conversation.clinic_id)
        assert clinic is not None
        client = session.get(Client, conversation.client_id) if conversation.client_id else None
        return read_header(session, conversation, clinic, client, details=True)


def clinic_channel(sessions: sessionmaker[Session], clinic_id: int) -> tuple[str | None, str]:
    """(linked Slack channel, time zone) of a clinic."""
    with sessions() as session:
        clinic = session.get(Clinic, clinic_id)
        if clinic is None:
            raise NotFound(f"No clinic with id {clinic_id}.")
        return clinic.slack_channel_id, clinic.timezone


def find_by_thread(sessions: sessionmaker[Session], channel_id: str, thread_ts: str) -> int | None:
    """The conversation whose Slack thread this is, or None."""
    with sessions() as session:
        return session.scalar(
            select(Conversation.id).where(
                Conversation.slack_thread_ts == thread_ts, Conversation.slack_channel_id == channel_id
            )
        )


@dataclass(frozen=True)
class RelayItem:
    """An inbound message to post to Slack."""

    message_id: int
    body: str
    created_at: datetime


@retried
def claim_thread(sessions: sessionmaker[Session], conversation_id: int, now: datetime) -> bool:
    """Take the right to post the thread's first message (none posted, and no claim or a stale one)."""
    with sessions() as session, session.begin():
        row = session.execute(
            select(Conversation.slack_thread_ts, Conversation.thread_claimed_at).where(
                Conversation.id == conversation_id
            )
        ).first()
        if row is None or row.slack_thread_ts is not None or not stale(row.thread_claimed_at, now):
            return False
        result = session.connection().execute(
            update(Conversation)
            .where(
                Conversation.id == conversation_id,
                Conversation.slack_thread_ts.is_(None),
                Conversation.thread_claimed_at.is_(None)
                if row.thread_claimed_at is None
                else Conversation.thread_claimed_at == row.thread_claimed_at,
            )
            .values(thread_claimed_at=now)
        )
        return bool(result.rowcount)


@retried
def claim_unposted(
    sessions: sessionmaker[Session], conversation_id: int, now: datetime, limit: int = 50
) -> list[RelayItem]:
    """Take the conversation's inbound messages that nobody posted (or whose claim is stale), oldest first."""
    taken: list[RelayItem] = []
    with sessions() as session, session.begin():
        rows = session.execute(
            select(
                ConversationMessage.id,
                ConversationMessage.body,
                ConversationMessage.created_at,
                ConversationMessage.relay_claimed_at,
            )
            .where(
                ConversationMessage.conversation_id == conversation_id,
                ConversationMessage.direction == INBOUND,
                ConversationMessage.slack_ts.is_(None),
            )
            .order_by(ConversationMessage.id)
            .limit(limit)
        ).all()
        for row in rows:
            if not stale(row.relay_claimed_at, now):
                continue
            result = session.connection().execute(
                update(ConversationMessage)
                .where(
                    ConversationMessage.id == row.id,
                    ConversationMessage.slack_ts.is_(None),
                    ConversationMessage.relay_claimed_at.is_(None)
                    if row.relay_claimed_at is None
                    else ConversationMessage.relay_claimed_at == row.relay_claimed_at,
                )
                .values(relay_claimed_at=now)
            )
            if result.rowcount:
                taken.append(RelayItem(row.id, row.body, row.created_at))
    return taken


def relay_item(sessions: sessionmaker[Session], message_id: int) -> RelayItem:
    """One inbound message (already claimed by the caller)."""
    with sessions() as session:
        message = session.get(ConversationMessage, message_id)
        if message is None:
            raise NotFound(f"No conversation message {message_id}.")
        return RelayItem(message.id, message.body, message.created_at)


_SET_MESSAGE_TS = (
    update(ConversationMessage)
    .where(ConversationMessage.id == bindparam("message"))
    .values(slack_ts=bindparam("ts"), relay_claimed_at=None)
)
_SET_THREAD = (
    update(Conversation)
    .where(Conversation.id == bindparam("conversation"))
    .values(slack_thread_ts=bindparam("ts"), slack_channel_id=bindparam("channel"), thread_claimed_at=None)
)


@retried
def posted(
    sessions: sessionmaker[Session],
    *,
    message_id: int | None,
    slack_ts: str,
    conversation_id: int | None = None,
    channel_id: str | None = None,
) -> None:
    """Store where a message went (its claim is over); with `conversation_id`, that ts is the thread's
    first message."""
    with sessions() as session, session.begin():
        conn = session.connection()
        if message_id is not None:
            conn.execute(_SET_MESSAGE_TS, {"message": message_id, "ts": slack_ts})
        if conversation_id is not None:
            conn.execute(
                _SET_THREAD, {"conversation": conversation_id, "ts": slack_ts, "channel": channel_id}
            )


@retried
def posted_many(sessions: sessionmaker[Session], done: list[tuple[int, str]]) -> None:
    """Store where several inbound messages went, (message id, Slack ts) each, in one transaction."""
    if not done:
        return
    with sessions() as session, session.begin():
        # In id order: the order inbound replies lock these rows in too (no deadlock between them).
        rows = [{"message": m, "ts": ts} for m, ts in sorted(done)]
        session.connection().execute(_SET_MESSAGE_TS, rows)


@retried
def release(
    sessions: sessionmaker[Session], *, message_ids: list[int], conversation_id: int | None = None
) -> None:
    """Give claims back after a failed post so the next relay run tries again."""
    with sessions() as session, session.begin():
        if message_ids:
            session.execute(
                update(ConversationMessage)
                .where(
                    ConversationMessage.id.in_(message_ids),
                    ConversationMessage.slack_ts.is_(None),
                    ConversationMessage.relay_claimed_at.is_not(None),
                )
                .values(relay_claimed_at=None)
            )
        if conversation_id is not None:
            session.execute(
                update(Conversation)
                .where(
                    Conversation.id == conversation_id,
                    Conversation.slack_thread_ts.is_(None),
                    Conversation.thread_claimed_at.is_not(None),
                )
                .values(thread_claimed_at=None)
            )


def _conversations_with_unposted(
    sessions: sessionmaker[Session], now: datetime, limit: int, *conditions: ColumnElement[bool]
) -> list[int]:
    """Conversations with inbound messages of the last RELAY_WINDOW not yet in Slack that meet
    `conditions`, the one waiting longest first."""
    with sessions() as session:
        return list(
            session.scalars(
                select(ConversationMessage.conversation_id)
                .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
                .where(
                    ConversationMessage.direction == INBOUND,
                    ConversationMessage.created_at >= now - RELAY_WINDOW,
                    ConversationMessage.slack_ts.is_(None),
                    *conditions,
                )
                .group_by(ConversationMessage.conversation_id)
                .order_by(func.min(ConversationMessage.id))
                .limit(limit)
            )
        )


def relay_backlog(sessions: sessionmaker[Session], now: datetime, limit: int = 100) -> list[int]:
    """Conversations with inbound messages not yet in Slack (unclaimed, or claimed too long ago), except
    those whose channel refused a post less than their back-off ago (see `defer`)."""
    stale_before = now - timedelta(seconds=CLAIM_SECONDS)
    return _conversations_with_unposted(
        sessions,
        now,
        limit,
        or_(Conversation.relay_retry_at.is_(None), Conversation.relay_retry_at <= now),
        or_(
            ConversationMessage.relay_claimed_at.is_(None),
            ConversationMessage.relay_claimed_at < stale_before,
        ),
    )


@dataclass(frozen=True)
class StaffReply:
    """A staff answer as its thread shows it."""

    message_id: int
    conversation_id: int
    status: str
    error_message: str | None
    ack_ts: str | None
    shown: str | None
    channel_id: str | None
    thread_ts: str | None
    client_name: str | None
    phone: str
    timezone: str
    requested_at: datetime | None


def staff_reply(sessions: sessionmaker[Session], message_id: int) -> StaffReply:
    """One outbound conversation text and where its thread is."""
    with sessions() as session:
        row = session.execute(
            select(ConversationMessage, Conversation, Clinic.timezone, Client.full_name)
            .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
            .join(Clinic, Clinic.id == Conversation.clinic_id)
            .outerjoin(Client, Client.id == Conversation.client_id)
            .where(ConversationMessage.id == message_id)
        ).first()
        if row is None:
            raise NotFound(f"No conversation message {message_id}.")
        message, conversation, tz, name = row
        return StaffReply(
            message.id,
            conversation.id,
            message.status,
            message.error_message,
            message.slack_ts,
            message.shown_status,
            conversation.slack_channel_id,
            conversation.slack_thread_ts,
            name,
            conversation.phone_e164,
            tz,
            message.requested_at,
        )


@retried
def record_ack(sessions: sessionmaker[Session], message_id: int, ack_ts: str, shown: str) -> None:
    """Remember the thread message that shows a staff answer's status, and which status it shows."""
    with sessions() as session, session.begin():
        session.execute(
            update(ConversationMessage)
            .where(ConversationMessage.id == message_id)
            .values(slack_ts=ack_ts, shown_status=shown)
        )


def replies_to_update(sessions: sessionmaker[Session], now: datetime, limit: int = 100) -> list[int]:
    """Staff answers whose status moved on since their thread last showed it."""
    with sessions() as session:
        return list(
            session.scalars(
                select(ConversationMessage.id)
                .where(
                    ConversationMessage.direction == OUTBOUND,
                    ConversationMessage.status.in_(SHOWN_STATUSES),
                    ConversationMessage.created_at >= now - RELAY_WINDOW,
                    ConversationMessage.slack_ts.is_not(None),
                    ConversationMessage.shown_status.is_distinct_from(ConversationMessage.status),
                )
                .order_by(ConversationMessage.id)
                .limit(limit)
            )
        )


@retried
def mark_shown(
    sessions: sessionmaker[Session], message_id: int, ack_ts: str, old: str | None, new: str
) -> bool:
    """Move a staff answer's shown status from `old` to `new` (False when another run already did)."""
    with sessions() as session, session.begin():
        result = session.connection().execute(
            update(ConversationMessage)
            .where(
                ConversationMessage.id == message_id,
                ConversationMessage.slack_ts == ack_ts,
                ConversationMessage.shown_status.is_(None)
                if old is None
                else ConversationMessage.shown_status == old,
            )
            .values(shown_status=new)
        )
        return bool(result.rowcount)


# --- replies the channel refused ------------------------------------------------------------------------

_UNPOSTED = (
    ConversationMessage.direction == INBOUND,
    ConversationMessage.slack_ts.is_(None),
)


def defer(
    sessions: sessionmaker[Session], conversation_id: int, message_ids: list[int], now: datetime
) -> datetime:
    """The channel refused a post: give back the claims (the messages' and the thread's) and keep `sync`
    away from the conversation until the time returned (RETRY_FIRST, then as long as its oldest forwarded
    reply has waited, at most RETRY_MAX)."""
    release(sessions, message_ids=message_ids, conversation_id=conversation_id)
    with sessions() as session, session.begin():
        oldest = session.scalar(
            select(func.min(ConversationMessage.forwarded_at)).where(
                ConversationMessage.conversation_id == conversation_id, *_UNPOSTED
            )
        )
        waited = now - oldest if oldest is not None else RETRY_FIRST
        retry_at = now + min(max(waited, RETRY_FIRST), RETRY_MAX)
        session.execute(
            update(Conversation).where(Conversation.id == conversation_id).values(relay_retry_at=retry_at)
        )
        return retry_at


def take_unforwarded(sessions: sessionmaker[Session], conversation_id: int, now: datetime) -> list[RelayItem]:
    """Mark the conversation's replies that are neither posted, claimed nor forwarded as forwarded now, and
    return them oldest first (two relayers never forward the same reply)."""
    with sessions() as session, session.begin():
        rows = session.execute(
            update(ConversationMessage)
            .where(
                ConversationMessage.conversation_id == conversation_id,
                *_UNPOSTED,
                ConversationMessage.relay_claimed_at.is_(None),
                ConversationMessage.forwarded_at.is_(None),
            )
            .values(forwarded_at=now)
            .returning(ConversationMessage.id, ConversationMessage.body, ConversationMessage.created_at)
        ).all()
    return sorted((RelayItem(r.id, r.body, r.created_at) for r in rows), key=lambda item: item.message_id)


def unforward(sessions: sessionmaker[Session], message_ids: list[int]) -> None:
    """The direct messages reached nobody: forward these replies again next time."""
    if message_ids:
        with sessions() as session, session.begin():
            session.execute(
                update(ConversationMessage)
                .where(ConversationMessage.id.in_(message_ids))
                .values(forwarded_at=None)
            )


def waiting_to_forward(sessions: sessionmaker[Session], now: datetime, limit: int = 100) -> list[int]:
    """Conversations in back-off (see `defer`) with replies nobody forwarded yet (they arrived meanwhile)."""
    return _conversations_with_unposted(
        sessions,
        now,
        limit,
        Conversation.relay_retry_at > now,
        ConversationMessage.relay_claimed_at.is_(None),
        ConversationMessage.forwarded_at.is_(None),
    )


def forward_recipients(sessions: sessionmaker[Session], conversation_id: int) -> tuple[str, ...]:
    """Who gets a reply the channel refused: the Slack user who sent the alert it answers, else every admin
    of the clinic with a linked Slack account."""
    with sessions() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            return ()
        if conversation.alert_id is not None:
            sender = session.scalar(
                select(MassAlert.slack_user_id).where(MassAlert.id == conversation.alert_id)
            )
            if sender:
                return (sender,)
        return tuple(
            session.scalars(
                select(ClinicUser.slack_user_id)
                .where(
                    ClinicUser.clinic_id == conversation.clinic_id,
                    ClinicUser.role == Role.ADMIN,
                    ClinicUser.slack_user_id.is_not(None),
                )
                .order_by(ClinicUser.id)
            )
        )
