"""Client replies: active conversations, STOP/START/HELP, staff answers, the Slack relay's bookkeeping.

An inbound text is handled once per MessageSid (an `InboundEvent` row written in the same transaction).
The clinic is the one texted (Messaging Service SID, else the To number); the client is found by the
sender's number. A reply joins the active conversation of that number or opens one; the partial unique
index on (clinic, phone) WHERE status = 'active' keeps two simultaneous replies from opening two.

Opt-out keywords take effect in the same transaction: every client of the clinic with that number is
marked, their pending alert texts are skipped and queued staff answers are failed. A keyword joins an
active conversation (so staff see it) but never opens one.

The Slack relay posts each inbound message once. `ConversationMessage.slack_ts` and
`Conversation.slack_thread_ts` hold either the Slack ts, or a claim `pending:<epoch>` while a relayer
posts (a stale claim may be taken over), or NULL when nobody has posted it yet. An outbound message's
`slack_ts` is `<ts of the acknowledgement>|<status shown there>`.
"""

from __future__ import annotations

import enum
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.alerts import ensure_sender
from services.errors import DomainError, InvalidInput, NotFound
from services.models import (
    AlertDelivery,
    AlertState,
    Client,
    Clinic,
    ClinicUser,
    Conversation,
    ConversationMessage,
    DeliveryStatus,
    InboundEvent,
    MassAlert,
    Patient,
    SkipReason,
    sender_key_of,
)
from services.phones import normalize_phone

log = logging.getLogger(__name__)

ACTIVE = "active"
CLOSED = "closed"
INBOUND = "inbound"
OUTBOUND = "outbound"
#: How many of a clinic's latest alerts are searched for the one a reply answers.
RECENT_ALERTS = 20
#: A relay claim older than this is taken over (the relayer that made it died or gave up).
CLAIM_SECONDS = 60.0
#: How far back the relay looks for messages that were never posted to Slack.
RELAY_WINDOW = timedelta(days=2)
PENDING = "pending:"
MAX_TEXT_CHARS = 1600
#: Outbound statuses whose change is shown in the thread (queued and in-flight ones are not).
SHOWN_STATUSES = ("accepted", "sent", "delivered", "undelivered", "failed")
OPTED_OUT_DETAIL = "Opted out while the alert was sending"


class Keyword(enum.StrEnum):
    """What a keyword text asks for."""

    STOP = "stop"
    START = "start"
    HELP = "help"


STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_INNER = re.compile(r"[\s\-_.]+")


def parse_keyword(body: str) -> tuple[Keyword, str] | None:
    """The keyword a whole text is (any case, surrounding spaces or punctuation), with the word as typed."""
    word = _EDGES.sub("", body.strip())
    if not word or len(word) > 20:
        return None
    compact = _INNER.sub("", word).upper()
    if not compact.isalpha():
        return None
    if compact in STOP_WORDS:
        return Keyword.STOP, compact
    if compact in START_WORDS:
        return Keyword.START, compact
    if compact in HELP_WORDS:
        return Keyword.HELP, compact
    return None


class AlreadyHandled(DomainError):
    """The same request arrived again (a retry); it was handled the first time."""


@dataclass(frozen=True)
class InboundResult:
    """What one inbound text did; `reply` is the one confirmation text to answer with, if any."""

    duplicate: bool = False
    clinic_id: int | None = None
    clinic_name: str | None = None
    phone: str | None = None
    conversation_id: int | None = None
    message_id: int | None = None
    opened: bool = False
    unknown_contact: bool = False
    client_id: int | None = None
    client_name: str | None = None
    other_clients: tuple[str, ...] = ()
    keyword: Keyword | None = None
    keyword_text: str | None = None
    changed_clients: int = 0
    reply: str | None = None
    #: This call owns the Slack post of `message_id` (and of the thread's first message when `opened`).
    relay_claimed: bool = False
    body: str = ""
    #: What the relay needs to post the message (set when `relay_claimed`), read in the same transaction.
    header: ThreadHeader | None = None
    #: Earlier replies nobody had posted yet, claimed with this one so the thread stays in order.
    earlier: tuple[RelayItem, ...] = ()


def pending_marker(now: datetime) -> str:
    """A relay claim made at `now`."""
    return f"{PENDING}{int(now.timestamp())}"


def is_claim(value: str | None) -> bool:
    """True when the value is a relay claim rather than a Slack ts."""
    return value is not None and value.startswith(PENDING)


def _stale(value: str | None, now: datetime) -> bool:
    """True when nobody holds this slot: no value, or a claim older than CLAIM_SECONDS."""
    if value is None:
        return True
    if not is_claim(value):
        return False
    try:
        made = int(value[len(PENDING) :])
    except ValueError:
        return True
    return now.timestamp() - made > CLAIM_SECONDS


def _clean_number(number: str) -> str:
    text = number.strip()
    if text.startswith("+") and text[1:].isdigit():
        return text
    parsed = normalize_phone(text, mobile_only=False)
    return parsed.e164 or text


@dataclass(frozen=True)
class _ClinicRow:
    """The clinic fields an inbound text needs (read with the conversation and the clients)."""

    id: int
    name: str
    timezone: str
    sms_from: str | None
    messaging_service_sid: str | None
    contact_phone: str | None
    slack_channel_id: str | None

    @property
    def sender_key(self) -> str | None:
        """The identity pacing is kept for (as Clinic.sender_key)."""
        return sender_key_of(self.sms_from, self.messaging_service_sid)


@dataclass(frozen=True)
class _ClientRow:
    """A client on the texting number."""

    id: int
    full_name: str
    opted_out_at: datetime | None


@dataclass(frozen=True)
class _ConversationRow:
    """The conversation fields the inbound path and the thread header need."""

    id: int
    client_id: int | None
    phone_e164: str
    status: str
    unknown_contact: bool
    alert_id: int | None
    slack_channel_id: str | None
    slack_thread_ts: str | None
    closed_at: datetime | None


@dataclass(frozen=True)
class _Match:
    client: _ClientRow | None
    others: tuple[str, ...]
    all_ids: tuple[int, ...]
    alert_id: int | None
    opted_out: bool = False


# The hot path's statements are built once (bound parameters), so a webhook pays neither statement
# construction nor cache-key generation, and runs them on the session's Connection (no ORM layer).
_CONVERSATION_COLUMNS = (
    Conversation.id,
    Conversation.client_id,
    Conversation.phone_e164,
    Conversation.status,
    Conversation.unknown_contact,
    Conversation.alert_id,
    Conversation.slack_channel_id,
    Conversation.slack_thread_ts,
    Conversation.closed_at,
)
_UNPOSTED = (
    select(ConversationMessage.id)
    .where(
        ConversationMessage.conversation_id == Conversation.id,
        ConversationMessage.direction == INBOUND,
        ConversationMessage.slack_ts.is_(None),
    )
    .exists()
)
#: The clinic texted (its Messaging Service first, else its number), its active conversation with the
#: sender (and whether that has replies nobody posted), and the clients on the sender's number: one row
#: per client (one row with no client columns when none).
_LOOKUP = (
    select(
        Clinic.id,
        Clinic.name,
        Clinic.timezone,
        Clinic.sms_from,
        Clinic.messaging_service_sid,
        Clinic.contact_phone,
        Clinic.slack_channel_id,
        *_CONVERSATION_COLUMNS,
        _UNPOSTED,
        Client.id,
        Client.full_name,
        Client.opted_out_at,
    )
    .select_from(Clinic)
    .outerjoin(
        Conversation,
        and_(
            Conversation.clinic_id == Clinic.id,
            Conversation.phone_e164 == bindparam("phone"),
            Conversation.status == ACTIVE,
        ),
    )
    .outerjoin(Client, and_(Client.clinic_id == Clinic.id, Client.phone_e164 == bindparam("phone")))
    .where(or_(Clinic.messaging_service_sid == bindparam("sid"), Clinic.sms_from == bindparam("number")))
    .order_by(case((Clinic.messaging_service_sid == bindparam("sid"), 0), else_=1), Clinic.id, Client.id)
)
_ACTIVE = select(*_CONVERSATION_COLUMNS, _UNPOSTED).where(
    Conversation.clinic_id == bindparam("clinic"),
    Conversation.phone_e164 == bindparam("phone"),
    Conversation.status == ACTIVE,
)
_CLIENT = select(Client.id, Client.full_name, Client.opted_out_at).where(Client.id == bindparam("client"))
_RECENT_TEXTS = select(AlertDelivery.client_id, AlertDelivery.alert_id, AlertDelivery.requested_at).where(
    AlertDelivery.alert_id.in_(
        select(MassAlert.id)
        .where(MassAlert.clinic_id == bindparam("clinic"))
        .order_by(MassAlert.id.desc())
        .limit(RECENT_ALERTS)
        .scalar_subquery()
    ),
    AlertDelivery.client_id.in_(bindparam("clients", expanding=True)),
    AlertDelivery.requested_at.is_not(None),
)
_INSERT_EVENT = insert(InboundEvent)
_INSERT_CONVERSATION = insert(Conversation).returning(Conversation.id)
_INSERT_MESSAGE = insert(ConversationMessage).returning(ConversationMessage.id)
_CLAIM_EARLIER = (
    update(ConversationMessage)
    .where(
        ConversationMessage.conversation_id == bindparam("conversation"),
        ConversationMessage.direction == INBOUND,
        ConversationMessage.slack_ts.is_(None),
    )
    .values(slack_ts=bindparam("marker"))
    .returning(ConversationMessage.id, ConversationMessage.body, ConversationMessage.created_at)
)
_PETS = (
    select(Patient.name)
    .where(Patient.client_id == bindparam("client"), Patient.deceased.is_(False))
    .order_by(Patient.id)
)
_ALERT_MESSAGE = select(MassAlert.message).where(MassAlert.id == bindparam("alert"))


def _conversation_row(values: Sequence[Any]) -> _ConversationRow | None:
    return None if values[0] is None else _ConversationRow(*values)


def _lookup(
    conn: Connection, clinic_number: str, service_sid: str | None, phone: str
) -> tuple[_ClinicRow, _ConversationRow | None, bool, list[_ClientRow]] | None:
    """The clinic texted, its active conversation with `phone` (and whether it has unposted replies), the
    clients on `phone` in id order; None when no clinic has that Messaging Service or number."""
    number = _clean_number(clinic_number) if clinic_number else None
    if not service_sid and not number:
        return None
    rows = conn.execute(_LOOKUP, {"phone": phone, "sid": service_sid or None, "number": number}).all()
    if not rows:
        return None
    first = rows[0]
    clinic = _ClinicRow(*first[:7])
    conversation = _conversation_row(first[7:16])
    clients = [_ClientRow(*row[17:20]) for row in rows if row[0] == clinic.id and row[17] is not None]
    return clinic, conversation, bool(first[16]), clients


def _match_clients(conn: Connection, clinic_id: int, clients: list[_ClientRow], *, rank: bool) -> _Match:
    """The clients on this number; the one texted most recently by an alert first.

    Without `rank` (one client, and no conversation to open) the alert texts are not read: the one client
    wins and no alert is named.
    """
    if not clients:
        return _Match(None, (), (), None)
    last: dict[int, tuple[datetime, int]] = {}
    if rank:
        texts = conn.execute(_RECENT_TEXTS, {"clinic": clinic_id, "clients": [c.id for c in clients]}).all()
        for client_id, alert_id, requested_at in texts:
            if client_id not in last or requested_at > last[client_id][0]:
                last[client_id] = (requested_at, alert_id)
        order = {c.id: i for i, c in enumerate(clients)}
        clients = sorted(
            clients,
            key=lambda c: (c.id not in last, -last[c.id][0].timestamp() if c.id in last else 0, order[c.id]),
        )
    winner = clients[0]
    alert_id = last[winner.id][1] if winner.id in last else None
    opted_out = any(c.opted_out_at is not None for c in clients)
    return _Match(
        winner, tuple(c.full_name for c in clients[1:]), tuple(c.id for c in clients), alert_id, opted_out
    )


def _active_conversation(
    conn: Connection, clinic_id: int, phone: str
) -> tuple[_ConversationRow | None, bool]:
    """The active conversation of this number (and whether it has unposted replies)."""
    row = conn.execute(_ACTIVE, {"clinic": clinic_id, "phone": phone}).first()
    if row is None:
        return None, False
    return _conversation_row(row[:9]), bool(row[9])


def _open_conversation(
    conn: Connection, clinic: _ClinicRow, phone: str, match: _Match, now: datetime
) -> tuple[_ConversationRow, bool, bool]:
    """The active conversation of this number, opened now unless another reply opened it first; and
    whether it has unposted replies (never, when opened now)."""
    client_id = match.client.id if match.client else None
    marker = pending_marker(now)
    try:
        with conn.begin_nested():
            new_id = conn.execute(
                _INSERT_CONVERSATION,
                {
                    "clinic_id": clinic.id,
                    "client_id": client_id,
                    "phone_e164": phone,
                    "status": ACTIVE,
                    "unknown_contact": match.client is None,
                    "alert_id": match.alert_id,
                    "slack_thread_ts": marker,
                    "opened_at": now,
                },
            ).scalar_one()
    except IntegrityError:
        # Another reply from this number opened it at the same moment: join theirs.
        winner, unposted = _active_conversation(conn, clinic.id, phone)
        if winner is None:
            raise
        return winner, False, unposted
    return (
        _ConversationRow(
            new_id, client_id, phone, ACTIVE, match.client is None, match.alert_id, None, marker, None
        ),
        True,
        False,
    )


def _confirmation(keyword: Keyword, clinic: Clinic | _ClinicRow) -> str:
    name = clinic.name
    if keyword == Keyword.STOP:
        return (
            f"You are unsubscribed from {name} texts and will get no more messages from this number. "
            "Reply START to resubscribe."
        )
    if keyword == Keyword.START:
        return f"You are resubscribed to {name} texts. Reply HELP for help, STOP to unsubscribe."
    contact = f"call {clinic.contact_phone}" if clinic.contact_phone else "reply to this text"
    return f"{name}: for help, {contact}. Reply STOP to unsubscribe, START to resubscribe."


def _opt_out(
    session: Session, clinic: Clinic | _ClinicRow, phone: str, client_ids: tuple[int, ...], now: datetime
) -> int:
    """Mark every client on the number opted out; skip their unsent alert texts and queued answers."""
    changed = (
        session.execute(
            update(Client)
            .where(Client.clinic_id == clinic.id, Client.phone_e164 == phone, Client.opted_out_at.is_(None))
            .values(opted_out_at=now)
        ).rowcount
        or 0
    )
    if client_ids:
        running = select(MassAlert.id).where(
            MassAlert.clinic_id == clinic.id, MassAlert.state.in_((AlertState.QUEUED, AlertState.SENDING))
        )
        session.execute(
            update(AlertDelivery)
            .where(
                AlertDelivery.alert_id.in_(running),
                AlertDelivery.client_id.in_(client_ids),
                AlertDelivery.status == DeliveryStatus.PENDING,
            )
            .values(
                status=DeliveryStatus.SKIPPED,
                skip_reason=SkipReason.OPTED_OUT,
                skip_detail=OPTED_OUT_DETAIL,
                final_at=now,
                updated_at=now,
            )
        )
    if clinic.sender_key is not None:
        session.execute(
            update(ConversationMessage)
            .where(
                ConversationMessage.direction == OUTBOUND,
                ConversationMessage.status == "queued",
                ConversationMessage.sender_key == clinic.sender_key,
                ConversationMessage.to_phone == phone,
            )
            .values(status="failed", error_message="Not sent: the client opted out (replied STOP)")
        )
    return changed


def _opt_in(session: Session, clinic: Clinic | _ClinicRow, phone: str) -> int:
    return (
        session.execute(
            update(Client)
            .where(
                Client.clinic_id == clinic.id, Client.phone_e164 == phone, Client.opted_out_at.is_not(None)
            )
            .values(opted_out_at=None)
        ).rowcount
        or 0
    )


class _Duplicate(Exception):
    pass


def handle_inbound(
    sessions: sessionmaker[Session],
    *,
    clinic_number: str,
    from_number: str,
    body: str,
    message_sid: str,
    now: datetime,
    messaging_service_sid: str | None = None,
) -> InboundResult:
    """Record one inbound text once per MessageSid: keywords, then the conversation it joins or opens."""
    sid = (message_sid or "").strip() or f"nosid-{uuid.uuid4().hex}"
    phone = _clean_number(from_number)
    try:
        with sessions() as session, session.begin():
            try:
                session.connection().execute(_INSERT_EVENT, {"message_sid": sid[:64], "received_at": now})
            except IntegrityError:
                raise _Duplicate from None
            return _handle(session, clinic_number, messaging_service_sid, phone, body, now)
    except _Duplicate:
        return InboundResult(duplicate=True, phone=phone)


def _handle(
    session: Session, clinic_number: str, service_sid: str | None, phone: str, body: str, now: datetime
) -> InboundResult:
    conn = session.connection()
    found = _lookup(conn, clinic_number, service_sid, phone)
    if found is None:
        log.warning("an inbound text to %s matches no clinic; ignored", clinic_number or service_sid)
        return InboundResult(phone=phone)
    clinic, conversation, unposted, clients = found
    parsed = parse_keyword(body)
    keyword, word = parsed if parsed else (None, None)
    if keyword == Keyword.START and word == "YES" and not any(c.opted_out_at is not None for c in clients):
        keyword = word = None  # "Yes" from someone who never opted out is an ordinary answer
    # The alert texts only matter to choose among several clients, or to name the alert a new conversation
    # answers.
    opening = conversation is None and keyword is None
    match = _match_clients(conn, clinic.id, clients, rank=len(clients) > 1 or opening)
    changed = 0
    reply: str | None = None
    if keyword == Keyword.STOP:
        changed = _opt_out(session, clinic, phone, match.all_ids, now)
    elif keyword == Keyword.START:
        changed = _opt_in(session, clinic, phone)
    if keyword is not None:
        reply = _confirmation(keyword, clinic)
    opened = False
    if opening:
        conversation, opened, unposted = _open_conversation(conn, clinic, phone, match, now)
    winner = match.client
    if conversation is None:
        return InboundResult(
            clinic_id=clinic.id,
            clinic_name=clinic.name,
            phone=phone,
            unknown_contact=winner is None,
            client_id=winner.id if winner else None,
            client_name=winner.full_name if winner else None,
            other_clients=match.others,
            keyword=keyword,
            keyword_text=word,
            changed_clients=changed,
            reply=reply,
        )
    thread = conversation.slack_thread_ts
    # Post it now only when its thread exists (or is ours to start); else the thread's starter picks it up.
    claimed = opened or (thread is not None and not is_claim(thread))
    earlier: tuple[RelayItem, ...] = ()
    marker = pending_marker(now)
    if claimed and not opened and unposted:
        rows = conn.execute(_CLAIM_EARLIER, {"conversation": conversation.id, "marker": marker}).all()
        earlier = tuple(sorted((RelayItem(*row) for row in rows), key=lambda item: item.message_id))
    message_id = conn.execute(
        _INSERT_MESSAGE,
        {
            "conversation_id": conversation.id,
            "direction": INBOUND,
            "body": body,
            "status": "received",
            "attempts": 0,
            "created_at": now,
            "slack_ts": marker if claimed else None,
        },
    ).scalar_one()
    header = None
    if claimed:
        shown = winner
        if conversation.client_id is None:
            shown = None
        elif winner is None or winner.id != conversation.client_id:
            shown = next((c for c in clients if c.id == conversation.client_id), None)
            if shown is None:
                row = conn.execute(_CLIENT, {"client": conversation.client_id}).first()
                shown = _ClientRow(*row) if row is not None else None
        opted_out = keyword == Keyword.STOP or (keyword != Keyword.START and match.opted_out)
        header = _header(
            session,
            conversation,
            clinic,
            shown,
            details=opened,
            opted_out=opted_out,
            others=match.others if shown is winner else None,
        )
    return InboundResult(
        clinic_id=clinic.id,
        clinic_name=clinic.name,
        phone=phone,
        unknown_contact=winner is None,
        client_id=winner.id if winner else None,
        client_name=winner.full_name if winner else None,
        other_clients=match.others,
        keyword=keyword,
        keyword_text=word,
        changed_clients=changed,
        reply=reply,
        conversation_id=conversation.id,
        message_id=message_id,
        opened=opened,
        relay_claimed=claimed,
        body=body,
        header=header,
        earlier=earlier,
    )


# --- staff answers and closing ----------------------------------------------------------------


def queue_staff_reply(
    sessions: sessionmaker[Session],
    *,
    conversation_id: int,
    body: str,
    author_slack_user_id: str | None,
    now: datetime,
    dedupe_key: str | None = None,
) -> int:
    """Queue a staff answer as a conversation text (the priority lane); the new message's id."""
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
        if dedupe_key is not None:
            try:
                with session.begin_nested():
                    session.add(InboundEvent(message_sid=dedupe_key[:64], received_at=now))
                    session.flush()
            except IntegrityError:
                raise AlreadyHandled("This answer was already queued.") from None
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
            created_at=now,
        )
        session.add(message)
        session.flush()
        return message.id


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
        thread = None if is_claim(conversation.slack_thread_ts) else conversation.slack_thread_ts
        return ClosedConversation(
            conversation.id, already, conversation.slack_channel_id, thread, conversation.closed_at
        )


# --- what the Slack side reads -------------------------------------------------------------------


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


def _header(
    session: Session,
    conversation: Conversation | _ConversationRow,
    clinic: Clinic | _ClinicRow,
    client: Client | _ClientRow | None,
    *,
    details: bool,
    opted_out: bool | None = None,
    others: tuple[str, ...] | None = None,
) -> ThreadHeader:
    """A ThreadHeader read in `session` (`opted_out` and `others` when the caller knows them already)."""
    pets: tuple[str, ...] = ()
    alert_message = root_body = None
    thread = None if is_claim(conversation.slack_thread_ts) else conversation.slack_thread_ts
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
        return _header(session, conversation, clinic, client, details=True)


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
        clinic_id = session.scalar(select(Conversation.clinic_id).where(Conversation.id == conversation_id))
        if clinic_id is None:
            return False
        conditions = [ClinicUser.slack_user_id == user_id]
        if email:
            conditions.append(func.lower(ClinicUser.email) == email.strip().lower())
        query = select(ClinicUser.id).where(ClinicUser.clinic_id == clinic_id, or_(*conditions))
        if team_id:
            query = query.where(or_(ClinicUser.slack_team_id.is_(None), ClinicUser.slack_team_id == team_id))
        return session.scalars(query.limit(1)).first() is not None


# --- the relay's bookkeeping -----------------------------------------------------------------------


@dataclass(frozen=True)
class RelayItem:
    """An inbound message to post to Slack."""

    message_id: int
    body: str
    created_at: datetime


def claim_thread(sessions: sessionmaker[Session], conversation_id: int, now: datetime) -> bool:
    """Take the right to post the thread's first message (none yet, or a stale claim)."""
    with sessions() as session, session.begin():
        current = session.scalar(
            select(Conversation.slack_thread_ts).where(Conversation.id == conversation_id)
        )
        if not _stale(current, now):
            return False
        condition = (
            Conversation.slack_thread_ts.is_(None)
            if current is None
            else Conversation.slack_thread_ts == current
        )
        result = session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, condition)
            .values(slack_thread_ts=pending_marker(now))
        )
        return bool(result.rowcount)


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
                ConversationMessage.slack_ts,
            )
            .where(
                ConversationMessage.conversation_id == conversation_id,
                ConversationMessage.direction == INBOUND,
                or_(ConversationMessage.slack_ts.is_(None), ConversationMessage.slack_ts.like(f"{PENDING}%")),
            )
            .order_by(ConversationMessage.id)
            .limit(limit)
        ).all()
        for row in rows:
            if not _stale(row.slack_ts, now):
                continue
            condition = (
                ConversationMessage.slack_ts.is_(None)
                if row.slack_ts is None
                else ConversationMessage.slack_ts == row.slack_ts
            )
            result = session.execute(
                update(ConversationMessage)
                .where(ConversationMessage.id == row.id, condition)
                .values(slack_ts=pending_marker(now))
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
    .values(slack_ts=bindparam("ts"))
)
_SET_THREAD = (
    update(Conversation)
    .where(Conversation.id == bindparam("conversation"))
    .values(slack_thread_ts=bindparam("ts"), slack_channel_id=bindparam("channel"))
)


def posted(
    sessions: sessionmaker[Session],
    *,
    message_id: int | None,
    slack_ts: str,
    conversation_id: int | None = None,
    channel_id: str | None = None,
) -> None:
    """Store where a message went; with `conversation_id`, that ts is the thread's first message."""
    with sessions() as session, session.begin():
        conn = session.connection()
        if message_id is not None:
            conn.execute(_SET_MESSAGE_TS, {"message": message_id, "ts": slack_ts})
        if conversation_id is not None:
            conn.execute(
                _SET_THREAD, {"conversation": conversation_id, "ts": slack_ts, "channel": channel_id}
            )


def posted_many(sessions: sessionmaker[Session], done: list[tuple[int, str]]) -> None:
    """Store where several inbound messages went, (message id, Slack ts) each, in one transaction."""
    if not done:
        return
    with sessions() as session, session.begin():
        session.connection().execute(_SET_MESSAGE_TS, [{"message": m, "ts": ts} for m, ts in done])


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
                    ConversationMessage.slack_ts.like(f"{PENDING}%"),
                )
                .values(slack_ts=None)
            )
        if conversation_id is not None:
            session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.slack_thread_ts.like(f"{PENDING}%"))
                .values(slack_thread_ts=None)
            )


def relay_backlog(sessions: sessionmaker[Session], now: datetime, limit: int = 100) -> list[int]:
    """Conversations with inbound messages not yet in Slack (unclaimed, or claimed too long ago)."""
    stale_before = pending_marker(now - timedelta(seconds=CLAIM_SECONDS))
    with sessions() as session:
        return list(
            session.scalars(
                select(ConversationMessage.conversation_id)
                .where(
                    ConversationMessage.direction == INBOUND,
                    ConversationMessage.created_at >= now - RELAY_WINDOW,
                    or_(
                        ConversationMessage.slack_ts.is_(None),
                        ConversationMessage.slack_ts.like(f"{PENDING}%")
                        & (ConversationMessage.slack_ts < stale_before),
                    ),
                )
                .group_by(ConversationMessage.conversation_id)
                .order_by(func.min(ConversationMessage.id))
                .limit(limit)
            )
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


def _split_ack(value: str | None) -> tuple[str | None, str | None]:
    if value is None or is_claim(value):
        return None, None
    ts, _, shown = value.partition("|")
    return ts, shown or None


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
        ack, shown = _split_ack(message.slack_ts)
        thread = None if is_claim(conversation.slack_thread_ts) else conversation.slack_thread_ts
        return StaffReply(
            message.id,
            conversation.id,
            message.status,
            message.error_message,
            ack,
            shown,
            conversation.slack_channel_id,
            thread,
            name,
            conversation.phone_e164,
            tz,
            message.requested_at,
        )


def record_ack(sessions: sessionmaker[Session], message_id: int, ack_ts: str, shown: str) -> None:
    """Remember the thread message that shows a staff answer's status, and which status it shows."""
    with sessions() as session, session.begin():
        session.execute(
            update(ConversationMessage)
            .where(ConversationMessage.id == message_id)
            .values(slack_ts=f"{ack_ts}|{shown}")
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
                    ConversationMessage.slack_ts.not_like(f"{PENDING}%"),
                    ConversationMessage.slack_ts.not_like(literal("%|") + ConversationMessage.status),
                )
                .order_by(ConversationMessage.id)
                .limit(limit)
            )
        )


def mark_shown(
    sessions: sessionmaker[Session], message_id: int, ack_ts: str, old: str | None, new: str
) -> bool:
    """Move a staff answer's shown status from `old` to `new` (False when another run already did)."""
    with sessions() as session, session.begin():
        result = session.execute(
            update(ConversationMessage)
            .where(
                ConversationMessage.id == message_id, ConversationMessage.slack_ts == f"{ack_ts}|{old or ''}"
            )
            .values(slack_ts=f"{ack_ts}|{new}")
        )
        return bool(result.rowcount)
