"""The two outbox tables behind one typed interface: a row that Twilio sends.

An alert text (`AlertDelivery`) and a staff reply (outbound `ConversationMessage`) go through the
same life: claimed `sending` with an attempt id, then accepted/sent/delivered, failed, queued again
for a retry, or `in_doubt` until reconciled. `TextRow` is that life over one loaded, locked row;
`TextTable` loads rows of one table. Sending, reconciling and status callbacks use only these, so
both kinds of text keep the same fields (error code, final time) by construction.
"""

from __future__ import annotations

import unicodedata
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeAlias, TypeVar

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from services.delivery.jobs import JobKind
from services.delivery.status import FINAL_SENT, IN_FLIGHT, is_forward, provider_status
from services.models import (
    STATUS_RANK,
    AlertDelivery,
    ConversationMessage,
    DeliveryStatus,
    MassAlert,
    MessageStatus,
    SkipReason,
)
from services.segments import smart_encode
from services.sms import MessageInfo, describe

#: The two outbox tables (a constrained type: each table's code is checked for both).
M = TypeVar("M", AlertDelivery, ConversationMessage)
#: How many unsettled rows one reconcile pass takes per table.
RECONCILE_BATCH = 50


class TextColumns(Protocol):
    """The columns both outbox tables share (same names, same types)."""

    id: int
    attempt_id: str | None
    attempts: int
    twilio_sid: str | None
    next_attempt_at: datetime | None
    lease_until: datetime | None
    error_code: str | None
    error_message: str | None
    requested_at: datetime | None
    final_at: datetime | None


class TextRow(ABC):
    """One loaded (and locked) text row; the status rules every path applies to it."""

    def __init__(self, columns: TextColumns) -> None:
        self.columns = columns

    @property
    @abstractmethod
    def status(self) -> str:
        """The row's status value (a DeliveryStatus or MessageStatus member)."""

    @abstractmethod
    def _set_status(self, status: DeliveryStatus) -> None:
        """Store `status` in the table's own enum (pending is `queued` for staff replies)."""

    @abstractmethod
    def touch(self, now: datetime) -> None:
        """Note a change at `now` where the table keeps one (alert texts: `updated_at`)."""

    @abstractmethod
    def note_requested(self, at: datetime) -> None:
        """Note when this attempt's provider request went out, where the table keeps it per request."""

    @property
    def in_flight(self) -> bool:
        """Sending or in doubt: the outcome of the current attempt is not known yet."""
        return self.status in IN_FLIGHT

    def mark_sending(self, slot: datetime, lease: timedelta) -> str:
        """Claimed for `slot` (UTC): a fresh attempt id (returned), one more attempt, a lease."""
        attempt = uuid.uuid4().hex
        self._set_status(DeliveryStatus.SENDING)
        self.columns.attempt_id = attempt
        self.columns.attempts += 1
        self.columns.lease_until = slot + lease
        self._note_slot(slot)
        return attempt

    @abstractmethod
    def _note_slot(self, slot: datetime) -> None:
        """Keep the claimed slot (alert texts: `slot_at`; staff replies: `requested_at`)."""

    def mark_handed(self, sid: str, new: DeliveryStatus, requested: datetime) -> None:
        """Twilio answered the create request with `sid` and `new`; a settled row keeps its status."""
        self.columns.twilio_sid = sid
        self.columns.requested_at = requested
        self.columns.lease_until = None
        self.touch(requested)
        if self.in_flight:
            self._set_status(new)

    def mark_in_doubt(self, reason: str, recheck_at: datetime) -> None:
        """The request's outcome is unknown: look it up at `recheck_at`, never resend blindly."""
        self._set_status(DeliveryStatus.IN_DOUBT)
        self.columns.error_message = reason
        self.columns.lease_until = recheck_at

    def requeue(self, at: datetime) -> None:
        """Wait for a fresh slot from `at` (the provider never had this attempt, or asked for a retry)."""
        self._set_status(DeliveryStatus.PENDING)
        self.columns.next_attempt_at = at
        self.columns.lease_until = None

    def set_error(self, code: str | None, message: str) -> None:
        """Keep Twilio's error code (as text; None when there is none) and the plain-language reason."""
        self.columns.error_code, self.columns.error_message = code, message

    def fail(self, reason: str, now: datetime) -> None:
        """Final: not sent, for `reason`; the error code already stored stays."""
        self._set_status(DeliveryStatus.FAILED)
        self.columns.error_message = reason
        self.columns.lease_until = None
        self.columns.final_at = now

    def settle(self, sid: str, new: DeliveryStatus, code: str | None, now: datetime) -> bool:
        """Apply the provider's word (a status callback or a Messages lookup); forward transitions only.

        `code` is Twilio's ErrorCode as text. Returns False when `new` is not further along (stale or a
        duplicate), True when the row took it.
        """
        if self.columns.twilio_sid is None:
            self.columns.twilio_sid = sid
        current = self.status if self.status in STATUS_RANK else DeliveryStatus.ACCEPTED
        if not (is_forward(current, new) or self.in_flight):
            return False
        self._set_status(new)
        self.columns.lease_until = None
        if code:
            self.set_error(code, describe(int(code)) if code.isdigit() else code)
        if new in FINAL_SENT:
            self.columns.final_at = now
        return True

    def settle_found(self, info: MessageInfo, now: datetime) -> None:
        """Apply what Twilio's Messages resource reports for this text (a reconcile or a poll)."""
        code = str(info.error_code) if info.error_code else None
        self.settle(info.sid, provider_status(info.status), code, now)
        self.touch(now)


class AlertText(TextRow):
    """An `AlertDelivery` row: one client's text of a mass alert."""

    def __init__(self, row: AlertDelivery) -> None:
        super().__init__(row)
        self.row = row

    @property
    def status(self) -> str:
        return self.row.status

    def _set_status(self, status: DeliveryStatus) -> None:
        self.row.status = status

    def touch(self, now: datetime) -> None:
        self.row.updated_at = now

    def _note_slot(self, slot: datetime) -> None:
        self.row.slot_at = slot

    def note_requested(self, at: datetime) -> None:
        self.row.requested_at = at


class StaffReply(TextRow):
    """An outbound `ConversationMessage` row: a staff reply texted from a Slack thread."""

    def __init__(self, row: ConversationMessage) -> None:
        super().__init__(row)
        self.row = row

    @property
    def status(self) -> str:
        return self.row.status

    def _set_status(self, status: DeliveryStatus) -> None:
        waiting = status == DeliveryStatus.PENDING
        self.row.status = MessageStatus.QUEUED if waiting else MessageStatus(status.value)

    def touch(self, now: datetime) -> None:
        """Nothing: conversation_messages keeps no update time."""

    def _note_slot(self, slot: datetime) -> None:
        self.row.requested_at = slot

    def note_requested(self, at: datetime) -> None:
        """Nothing: a staff reply's `requested_at` is its claimed slot, the start of its reconcile window."""


def skip_pending(session: Session, alert_id: int, reason: SkipReason, detail: str, now: datetime) -> None:
    """Every text of the alert still waiting for its turn becomes Not sent with `reason` (cancel, stop)."""
    session.execute(
        update(AlertDelivery)
        .where(AlertDelivery.alert_id == alert_id, AlertDelivery.status == DeliveryStatus.PENDING)
        .values(
            status=DeliveryStatus.SKIPPED,
            skip_reason=reason,
            skip_detail=detail,
            final_at=now,
            updated_at=now,
        )
    )


def same_body(stored: str | None, sent: str) -> bool:
    """Whether Twilio's stored `body` is the text we sent, allowing for Smart Encoding and whitespace."""
    if stored is None:
        return False

    def plain(text: str) -> str:
        return " ".join(smart_encode(unicodedata.normalize("NFKC", text)).split())

    return stored == sent or plain(stored) == plain(sent)


@dataclass(frozen=True)
class Unsettled:
    """A text whose lease ran out while sending or in doubt: what identifies its attempt at Twilio."""

    row_id: int
    attempt_id: str | None
    to: str
    body: str
    sender_key: str
    #: Start of the attempt's window in the Messages list (the slot or request time, minus 5 s).
    since: datetime


class TextTable(ABC, Generic[M]):
    """One outbox table (`model`): load its rows as TextRow, find its unsettled ones."""

    model: type[M]
    kind: ClassVar[JobKind]
    #: The status callback URL's query key naming a row of this table (`d=` or `m=`).
    callback_key: ClassVar[str]
    #: How logs name a row of this table.
    noun: ClassVar[str]
    #: Texts of this table keep the alert pace: a row waiting again must wake its idle sender.
    paced: ClassVar[bool]

    @abstractmethod
    def wrap(self, row: M) -> TextRow:
        """The TextRow view of one loaded row."""

    @abstractmethod
    def _unsettled(self, now: datetime) -> Select[Any]:
        """In-flight rows with an expired lease: (id, attempt id, To, window start, body, sender key)."""

    def load(self, session: Session, row_id: int, attempt_id: str | None = None) -> TextRow | None:
        """The row by id (and attempt, when given), locked for update; None when absent."""
        query = select(self.model).where(self.model.id == row_id).with_for_update()
        if attempt_id is not None:
            query = query.where(self.model.attempt_id == attempt_id)
        row = session.scalars(query).first()
        return None if row is None else self.wrap(row)

    def load_by_sid(self, session: Session, sid: str) -> TextRow | None:
        """The row Twilio knows as `sid`, locked for update; None when absent."""
        row = session.scalars(
            select(self.model).where(self.model.twilio_sid == sid).with_for_update()
        ).first()
        return None if row is None else self.wrap(row)

    def used_sids(self, session: Session, sids: list[str]) -> set[str]:
        """Which of `sids` a row of this table already holds."""
        column = self.model.twilio_sid
        return {sid for sid in session.scalars(select(column).where(column.in_(sids))) if sid is not None}

    def take_unsettled(self, session: Session, now: datetime, lease: timedelta) -> list[Unsettled]:
        """Up to RECONCILE_BATCH in-flight rows with an expired lease, leased again for `lease` (UTC)."""
        rows = session.execute(self._unsettled(now).limit(RECONCILE_BATCH)).all()
        for row in rows:  # take them so no other reconciler looks at the same rows
            session.execute(update(self.model).where(self.model.id == row[0]).values(lease_until=now + lease))
        return [
            Unsettled(row_id, attempt, to or "", body, key or "", (start or now) - timedelta(seconds=5))
            for row_id, attempt, to, start, body, key in rows
        ]


class AlertTexts(TextTable[AlertDelivery]):
    model = AlertDelivery
    kind = JobKind.ALERT
    callback_key = "d"
    noun = "delivery"
    paced = True

    def wrap(self, row: AlertDelivery) -> TextRow:
        return AlertText(row)

    def _unsettled(self, now: datetime) -> Select[Any]:
        return (
            select(
                AlertDelivery.id,
                AlertDelivery.attempt_id,
                AlertDelivery.phone_e164,
                AlertDelivery.slot_at,
                func.coalesce(AlertDelivery.body, MassAlert.message),
                MassAlert.sender_key,
            )
            .join(MassAlert, MassAlert.id == AlertDelivery.alert_id)
            .where(AlertDelivery.status.in_(IN_FLIGHT), AlertDelivery.lease_until < now)
            .with_for_update(skip_locked=True, of=AlertDelivery)
        )


class StaffReplies(TextTable[ConversationMessage]):
    model = ConversationMessage
    kind = JobKind.CONVERSATION
    callback_key = "m"
    noun = "conversation text"
    paced = False

    def wrap(self, row: ConversationMessage) -> TextRow:
        return StaffReply(row)

    def _unsettled(self, now: datetime) -> Select[Any]:
        return (
            select(
                ConversationMessage.id,
                ConversationMessage.attempt_id,
                ConversationMessage.to_phone,
                ConversationMessage.requested_at,
                ConversationMessage.body,
                ConversationMessage.sender_key,
            )
            .where(
                ConversationMessage.direction == "outbound",
                ConversationMessage.status.in_(IN_FLIGHT),
                ConversationMessage.lease_until < now,
            )
            .with_for_update(skip_locked=True)
        )


ALERT_TEXTS = AlertTexts()
STAFF_REPLIES = StaffReplies()
#: Either outbox table.
Table: TypeAlias = AlertTexts | StaffReplies
#: Every outbox table, in the order the reconciler visits them.
TABLES: tuple[Table, ...] = (ALERT_TEXTS, STAFF_REPLIES)


def table_for(kind: JobKind) -> Table:
    """The outbox table a job of `kind` came from."""
    return ALERT_TEXTS if kind is JobKind.ALERT else STAFF_REPLIES
