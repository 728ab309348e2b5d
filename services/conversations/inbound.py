"""An inbound text: recorded once, keywords applied, the conversation it joins or opens, the relay's claim.

An inbound text is handled once per MessageSid (an `InboundEvent` row written in the same transaction).
The clinic is the one texted (Messaging Service SID, else the To number); the client is found by the
sender's number. A reply joins the active conversation of that number or opens one; the partial unique
index on (clinic, phone) WHERE status = 'active' keeps two simultaneous replies from opening two.
A keyword (see `keywords`) joins an active conversation (so staff see it) but never opens one.

When the conversation's thread exists, or this text opens it, the text is claimed for the Slack relay in
the same transaction (see `threads`) and the result carries what the relay needs to post it.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.conversations.common import ACTIVE, INBOUND, ClientRow, ClinicRow, ConversationRow
from services.conversations.keywords import Keyword, confirmation, keyword_of, opt_in, opt_out
from services.conversations.retry import retrying
from services.conversations.threads import RelayItem, ThreadHeader, read_header
from services.models import (
    AlertDelivery,
    Client,
    Clinic,
    Conversation,
    ConversationMessage,
    InboundEvent,
    MassAlert,
)
from services.phones import normalize_phone

log = logging.getLogger(__name__)

#: How many of a clinic's latest alerts are searched for the one a reply answers.
RECENT_ALERTS = 20


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


def _clean_number(number: str) -> str:
    text = number.strip()
    if text.startswith("+") and text[1:].isdigit():
        return text
    parsed = normalize_phone(text, mobile_only=False)
    return parsed.e164 or text


@dataclass(frozen=True)
class _Match:
    client: ClientRow | None
    others: tuple[str, ...]
    all_ids: tuple[int, ...]
    alert_id: int | None
    opted_out: bool = False


# The hot path's statements are built once (bound parameters), so a webhook pays neither statement
# construction nor cache-key generation, and runs them on the session's Connection (no ORM layer). Their
# columns are labelled, and rows are read by those names.
_CONVERSATION_COLUMNS = (
    Conversation.id.label("conversation_id"),
    Conversation.client_id.label("conversation_client_id"),
    Conversation.phone_e164.label("conversation_phone"),
    Conversation.status.label("conversation_status"),
    Conversation.unknown_contact.label("unknown_contact"),
    Conversation.alert_id.label("alert_id"),
    Conversation.slack_channel_id.label("conversation_channel_id"),
    Conversation.slack_thread_ts.label("slack_thread_ts"),
    Conversation.closed_at.label("closed_at"),
    # Whether the conversation has replies nobody posted or claimed.
    select(ConversationMessage.id)
    .where(
        ConversationMessage.conversation_id == Conversation.id,
        ConversationMessage.direction == INBOUND,
        ConversationMessage.slack_ts.is_(None),
        ConversationMessage.relay_claimed_at.is_(None),
    )
    .exists()
    .label("unposted"),
)
_CLIENT_COLUMNS = (
    Client.id.label("client_id"),
    Client.full_name.label("client_name"),
    Client.opted_out_at.label("opted_out_at"),
)
#: The clinic texted (its Messaging Service first, else its number), its active conversation with the
#: sender (and whether that has replies nobody posted), and the clients on the sender's number: one row
#: per client (one row with no client columns when none).
_LOOKUP = (
    select(
        Clinic.id.label("clinic_id"),
        Clinic.name.label("clinic_name"),
        Clinic.timezone.label("timezone"),
        Clinic.sms_from.label("sms_from"),
        Clinic.messaging_service_sid.label("messaging_service_sid"),
        Clinic.contact_phone.label("contact_phone"),
        Clinic.slack_channel_id.label("clinic_channel_id"),
        *_CONVERSATION_COLUMNS,
        *_CLIENT_COLUMNS,
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
_ACTIVE = select(*_CONVERSATION_COLUMNS).where(
    Conversation.clinic_id == bindparam("clinic"),
    Conversation.phone_e164 == bindparam("phone"),
    Conversation.status == ACTIVE,
)
_CLIENT = select(*_CLIENT_COLUMNS).where(Client.id == bindparam("client"))
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
_UNPOSTED_EARLIER = (
    ConversationMessage.conversation_id == bindparam("conversation"),
    ConversationMessage.direction == INBOUND,
    ConversationMessage.slack_ts.is_(None),
    ConversationMessage.relay_claimed_at.is_(None),
)
_LOCK_EARLIER = (
    select(ConversationMessage.id)
    .where(*_UNPOSTED_EARLIER)
    .order_by(ConversationMessage.id)
    .with_for_update()
)
_CLAIM_EARLIER = (
    update(ConversationMessage)
    .where(*_UNPOSTED_EARLIER)
    .values(relay_claimed_at=bindparam("now"))
    .returning(ConversationMessage.id, ConversationMessage.body, ConversationMessage.created_at)
)


def _conversation_of(row: Row[Any]) -> ConversationRow | None:
    """The conversation columns of a `_LOOKUP` or `_ACTIVE` row; None when the row has no conversation."""
    if row.conversation_id is None:
        return None
    return ConversationRow(
        id=row.conversation_id,
        client_id=row.conversation_client_id,
        phone_e164=row.conversation_phone,
        status=row.conversation_status,
        unknown_contact=row.unknown_contact,
        alert_id=row.alert_id,
        slack_channel_id=row.conversation_channel_id,
        slack_thread_ts=row.slack_thread_ts,
        closed_at=row.closed_at,
    )


def _client_of(row: Row[Any]) -> ClientRow:
    return ClientRow(id=row.client_id, full_name=row.client_name, opted_out_at=row.opted_out_at)


def _lookup(
    conn: Connection, clinic_number: str, service_sid: str | None, phone: str
) -> tuple[ClinicRow, ConversationRow | None, bool, list[ClientRow]] | None:
    """The clinic texted, its active conversation with `phone` (and whether it has unposted replies), the
    clients on `phone` in id order; None when no clinic has that Messaging Service or number."""
    number = _clean_number(clinic_number) if clinic_number else None
    if not service_sid and not number:
        return None
    rows = conn.execute(_LOOKUP, {"phone": phone, "sid": service_sid or None, "number": number}).all()
    if not rows:
        return None
    first = rows[0]
    clinic = ClinicRow(
        id=first.clinic_id,
        name=first.clinic_name,
        timezone=first.timezone,
        sms_from=first.sms_from,
        messaging_service_sid=first.messaging_service_sid,
        contact_phone=first.contact_phone,
        slack_channel_id=first.clinic_channel_id,
    )
    clients = [_client_of(row) for row in rows if row.clinic_id == clinic.id and row.client_id is not None]
    return clinic, _conversation_of(first), bool(first.unposted), clients


def _match_clients(conn: Connection, clinic_id: int, clients: list[ClientRow], *, rank: bool) -> _Match:
    """The clients on this number; the one texted most recently by an alert first.

    Without `rank` (one client, and no conversation to open) the alert texts are not read: the one client
    wins and no alert is named.
    """
    if not clients:
        return _Match(None, (), (), None)
    last: dict[int, tuple[datetime, int]] = {}
    if rank:
        texts = conn.execute(_RECENT_TEXTS, {"clinic": clinic_id, "clients": [c.id for c in clients]}).all()
        for text in texts:
            if text.client_id not in last or text.requested_at > last[text.client_id][0]:
                last[text.client_id] = (text.requested_at, text.alert_id)
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


def _active_conversation(conn: Connection, clinic_id: int, phone: str) -> tuple[ConversationRow | None, bool]:
    """The active conversation of this number (and whether it has unposted replies)."""
    row = conn.execute(_ACTIVE, {"clinic": clinic_id, "phone": phone}).first()
    if row is None:
        return None, False
    return _conversation_of(row), bool(row.unposted)


def _open_conversation(
    conn: Connection, clinic: ClinicRow, phone: str, match: _Match, now: datetime
) -> tuple[ConversationRow, bool, bool]:
    """The active conversation of this number, opened now unless another reply opened it first; and
    whether it has unposted replies (never, when opened now)."""
    client_id = match.client.id if match.client else None
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
                    "thread_claimed_at": now,
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
        ConversationRow(
            new_id, client_id, phone, ACTIVE, match.client is None, match.alert_id, None, None, None
        ),
        True,
        False,
    )


class _Duplicate(Exception):
    pass


@dataclass(frozen=True)
class MediaRef:
    """One inbound MMS file as Twilio names it: MediaUrlN (behind the account's Basic auth) and its type."""

    url: str
    content_type: str


def _attach_media(session: Session, message_id: int | None, media: tuple[MediaRef, ...]) -> None:
    """Keep the MMS files' URLs and types with the stored message (JSON), for the relay to upload."""
    if message_id is None or not media:
        return
    listed = [{"url": m.url, "content_type": m.content_type} for m in media]
    session.connection().execute(
        update(ConversationMessage)
        .where(ConversationMessage.id == message_id)
        .values(media=json.dumps(listed))
    )


def media_of(sessions: sessionmaker[Session], message_id: int) -> tuple[MediaRef, ...]:
    """The MMS files stored with an inbound message (none for a plain text)."""
    with sessions() as session:
        raw = session.scalar(select(ConversationMessage.media).where(ConversationMessage.id == message_id))
    if not raw:
        return ()
    return tuple(MediaRef(str(m["url"]), str(m["content_type"])) for m in json.loads(raw))


def handle_inbound(
    sessions: sessionmaker[Session],
    *,
    clinic_number: str,
    from_number: str,
    body: str,
    message_sid: str,
    now: datetime,
    messaging_service_sid: str | None = None,
    opt_out_type: str | None = None,
    media: tuple[MediaRef, ...] = (),
) -> InboundResult:
    """Record one inbound text once per MessageSid: keywords, then the conversation it joins or opens.

    `opt_out_type` is Twilio's OptOutType (Advanced Opt-Out), which wins over the app's keyword list;
    `media` are the MMS files (MediaUrlN, MediaContentTypeN), kept with the message for the Slack relay.
    """
    sid = (message_sid or "").strip() or f"nosid-{uuid.uuid4().hex}"
    phone = _clean_number(from_number)

    def once() -> InboundResult:
        with sessions() as session, session.begin():
            try:
                session.connection().execute(_INSERT_EVENT, {"message_sid": sid[:64], "received_at": now})
            except IntegrityError:
                raise _Duplicate from None
            result = _handle(session, clinic_number, messaging_service_sid, phone, body, now, opt_out_type)
            _attach_media(session, result.message_id, media)
            return result

    try:
        # A deadlock with the Slack relay (or another reply) rolls the whole text back: store it again.
        return retrying(once, f"inbound text {sid}")
    except _Duplicate:
        return InboundResult(duplicate=True, phone=phone)


def _handle(
    session: Session,
    clinic_number: str,
    service_sid: str | None,
    phone: str,
    body: str,
    now: datetime,
    opt_out_type: str | None = None,
) -> InboundResult:
    conn = session.connection()
    found = _lookup(conn, clinic_number, service_sid, phone)
    if found is None:
        log.warning("an inbound text to %s matches no clinic; ignored", clinic_number or service_sid)
        return InboundResult(phone=phone)
    clinic, conversation, unposted, clients = found
    parsed = keyword_of(body, opt_out_type)
    keyword, word = parsed if parsed else (None, None)
    never_out = not any(c.opted_out_at is not None for c in clients)
    if not opt_out_type and keyword == Keyword.START and word == "YES" and never_out:
        keyword = word = None  # "Yes" from someone who never opted out is an ordinary answer
    # The alert texts only matter to choose among several clients, or to name the alert a new conversation
    # answers.
    opening = conversation is None and keyword is None
    match = _match_clients(conn, clinic.id, clients, rank=len(clients) > 1 or opening)
    changed = 0
    reply: str | None = None
    if keyword == Keyword.STOP:
        changed = opt_out(session, clinic, phone, match.all_ids, now)
    elif keyword == Keyword.START:
        changed = opt_in(session, clinic, phone)
    if keyword is not None:
        reply = confirmation(keyword, clinic)
    opened = False
    if opening:
        conversation, opened, unposted = _open_conversation(conn, clinic, phone, match, now)
    winner = match.client
    added = None
    if conversation is not None:
        added = _add_message(
            session, clinic, conversation, clients, match, keyword, body, opened, unposted, now
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
        conversation_id=conversation.id if conversation else None,
        message_id=added.message_id if added else None,
        opened=opened,
        relay_claimed=added.claimed if added else False,
        body=body if added else "",
        header=added.header if added else None,
        earlier=added.earlier if added else (),
    )


@dataclass(frozen=True)
class _Added:
    """The inbound message stored in its conversation, and the relay's claim on it."""

    message_id: int
    claimed: bool
    header: ThreadHeader | None
    earlier: tuple[RelayItem, ...]


def _add_message(
    session: Session,
    clinic: ClinicRow,
    conversation: ConversationRow,
    clients: list[ClientRow],
    match: _Match,
    keyword: Keyword | None,
    body: str,
    opened: bool,
    unposted: bool,
    now: datetime,
) -> _Added:
    """Store the text in its conversation; claim it (and earlier unposted replies) for the relay when its
    thread exists or this text opened the conversation, and read what the relay shows."""
    conn = session.connection()
    winner = match.client
    # Post it now only when its thread exists (or is ours to start); else the thread's starter picks it up.
    claimed = opened or conversation.slack_thread_ts is not None
    earlier: tuple[RelayItem, ...] = ()
    if claimed and not opened and unposted:
        # Row locks in id order first, the order the relay takes them in too (no deadlock between them).
        conn.execute(_LOCK_EARLIER, {"conversation": conversation.id}).all()
        rows = conn.execute(_CLAIM_EARLIER, {"conversation": conversation.id, "now": now}).all()
        earlier = tuple(
            sorted(
                (RelayItem(row.id, row.body, row.created_at) for row in rows),
                key=lambda item: item.message_id,
            )
        )
    message_id = conn.execute(
        _INSERT_MESSAGE,
        {
            "conversation_id": conversation.id,
            "direction": INBOUND,
            "body": body,
            "status": "received",
            "attempts": 0,
            "created_at": now,
            "relay_claimed_at": now if claimed else None,
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
                shown = _client_of(row) if row is not None else None
        opted_out = keyword == Keyword.STOP or (keyword != Keyword.START and match.opted_out)
        header = read_header(
            session,
            conversation,
            clinic,
            shown,
            details=opened,
            opted_out=opted_out,
            others=match.others if shown is winner else None,
        )
    return _Added(message_id, claimed, header, earlier)
