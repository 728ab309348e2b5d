"""The clinic data model, the alert outbox and conversations (SQLAlchemy 2.x, typed)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from services.sending_hours import SendingHours

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC on every backend; always hands back aware UTC datetimes."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone first")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def sender_key_of(sms_from: str | None, messaging_service_sid: str | None) -> str | None:
    """'ms:MG...' for a Messaging Service, else 'from:+1...', else None (no sender configured)."""
    if messaging_service_sid:
        return f"ms:{messaging_service_sid}"
    if sms_from:
        return f"from:{sms_from}"
    return None


def sender_parts(key: str) -> tuple[str | None, str | None]:
    """(From number, Messaging Service SID) of a sender key: the inverse of sender_key_of."""
    kind, _, value = key.partition(":")
    return (value, None) if kind == "from" else (None, value)


E = TypeVar("E", bound=enum.StrEnum)


class EnumText(TypeDecorator[E]):
    """A StrEnum stored as its plain value in a VARCHAR (the schema is a String column); reads give members.

    Raises ValueError on a value outside the enum (on write and on read), so a typo never reaches the table.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum_type: type[E], length: int = 16) -> None:
        super().__init__(length)
        self.enum_type = enum_type

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum_type(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        return None if value is None else self.enum_type(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Role(enum.StrEnum):
    ADMIN = "admin"
    STAFF = "staff"


class AppointmentStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"


class AlertState(enum.StrEnum):
    SCHEDULED = "scheduled"  # "Send at": held until start_at; recipients are computed when it starts
    QUEUED = "queued"
    SENDING = "sending"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class DeliveryStatus(enum.StrEnum):
    """Where one client's text is; the rank in STATUS_RANK only ever moves forward."""

    PENDING = "pending"  # waiting for its slot
    SENDING = "sending"  # claimed, the provider request may be under way
    IN_DOUBT = "in_doubt"  # the request's outcome is unknown; reconcile, never resend blindly
    ACCEPTED = "accepted"  # the provider took it (queued / accepted / sending)
    SENT = "sent"  # handed to the carrier
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SKIPPED = "skipped"  # never sent: opted out, no usable number, shared number, cancelled


class MessageStatus(enum.StrEnum):
    """Where one conversation text is: `received` for an inbound reply, the rest for a staff reply.

    A staff reply uses the outbound statuses of DeliveryStatus, with `queued` in place of `pending`.
    """

    RECEIVED = "received"
    QUEUED = "queued"
    SENDING = "sending"
    IN_DOUBT = "in_doubt"
    ACCEPTED = "accepted"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"


STATUS_RANK: dict[str, int] = {
    "pending": 0,
    "sending": 1,
    "in_doubt": 1,
    "accepted": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "skipped": 4,
}
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "skipped"})
#: Statuses after which the provider has the text (sent for the report's purposes).
HANDED_OVER = frozenset({"accepted", "sent", "delivered"})


class SkipReason(enum.StrEnum):
    OPTED_OUT = "opted_out"
    NO_MOBILE = "no_mobile"
    SHARED_PHONE = "shared_phone"
    CANCELLED = "cancelled"
    ALERT_STOPPED = "alert_stopped"
    PET_DECEASED = "pet_deceased"  # every appointment in the range is for a patient marked deceased
    APPOINTMENT_STARTED = "appointment_started"  # at the text's turn (the article's send-time rule)
    NOT_BOOKED = "not_booked"  # no longer booked in the alert's range at the text's turn


class Clinic(Base):
    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    two_way_texting: Mapped[bool] = mapped_column(Boolean, default=True)
    sms_from: Mapped[str | None] = mapped_column(String(20))
    messaging_service_sid: Mapped[str | None] = mapped_column(String(40))
    alert_pace_seconds: Mapped[float | None] = mapped_column(Float)
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    slack_team_id: Mapped[str | None] = mapped_column(String(32), index=True)
    #: The Enterprise Grid organisation of `slack_team_id` (E...), when the app is installed org-wide there.
    slack_enterprise_id: Mapped[str | None] = mapped_column(String(32))
    slack_channel_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When `mass-alert import` last loaded this clinic's appointments (the compose modal's "as of").
    appointments_imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The sending window (quiet hours, services.sending_hours): minutes after local midnight, the start
    #: included, the end (1440 at most) excluded; an end before the start spans midnight. 08:00-21:00.
    sending_hours_start: Mapped[int] = mapped_column(Integer, default=480, server_default=text("480"))
    sending_hours_end: Mapped[int] = mapped_column(Integer, default=1260, server_default=text("1260"))

    users: Mapped[list[ClinicUser]] = relationship(back_populates="clinic")

    @property
    def sender_key(self) -> str | None:
        """The identity pacing is kept for: the Messaging Service, else the From number."""
        return sender_key_of(self.sms_from, self.messaging_service_sid)

    @property
    def sending_hours(self) -> SendingHours:
        """The clinic's sending window."""
        return SendingHours(self.sending_hours_start, self.sending_hours_end)


class ClinicUser(Base):
    __tablename__ = "clinic_users"
    __table_args__ = (
        UniqueConstraint("clinic_id", "email"),
        Index("ix_clinic_users_slack", "slack_team_id", "slack_user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16), default=Role.STAFF)
    slack_team_id: Mapped[str | None] = mapped_column(String(32))
    slack_user_id: Mapped[str | None] = mapped_column(String(32))

    clinic: Mapped[Clinic] = relationship(back_populates="users")


class Client(Base):
    __tablename__ = "clients"
    __table_args__ = (
        UniqueConstraint("clinic_id", "external_id"),
        Index("ix_clients_clinic_phone", "clinic_id", "phone_e164"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(100))
    full_name: Mapped[str] = mapped_column(String(200))
    #: From the optional client_first_name import column; NULL: the first word of full_name is used.
    first_name: Mapped[str | None] = mapped_column(String(100))
    phone_raw: Mapped[str | None] = mapped_column(String(64))
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    phone_error: Mapped[str | None] = mapped_column(String(200))
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Who recorded the opt-out: "keyword" (the client texted STOP to the app) or "carrier" (Twilio 21610).
    opted_out_source: Mapped[str | None] = mapped_column(String(16))


class OptOutSource(enum.StrEnum):
    """Where an opt-out was learnt: a STOP keyword the app received, or Twilio's block (error 21610)."""

    KEYWORD = "keyword"
    CARRIER = "carrier"


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("clinic_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    deceased: Mapped[bool] = mapped_column(Boolean, default=False)


class Appointment(Base):
    __tablename__ = "appointments"
    __table_args__ = (
        UniqueConstraint("clinic_id", "external_id"),
        # The recipients query: one clinic, a start range, the client and status read from the index.
        Index("ix_appointments_upcoming", "clinic_id", "start_at", "client_id", "status", "patient_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default=AppointmentStatus.SCHEDULED)
    reason: Mapped[str | None] = mapped_column(String(200))


class Sender(Base):
    """Pacing state of one sending identity (GCRA: the next slot per lane)."""

    __tablename__ = "senders"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    next_alert_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    next_any_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_alert_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MassAlert(Base):
    __tablename__ = "mass_alerts"
    __table_args__ = (Index("ix_mass_alerts_sender_state", "sender_key", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("clinic_users.id", ondelete="SET NULL"))
    created_by_name: Mapped[str] = mapped_column(String(200))
    slack_user_id: Mapped[str | None] = mapped_column(String(32))
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    sender_key: Mapped[str] = mapped_column(String(64))
    pace_seconds: Mapped[float] = mapped_column(Float)
    range_start: Mapped[datetime] = mapped_column(UTCDateTime())
    range_end: Mapped[datetime] = mapped_column(UTCDateTime())
    first_appointment: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_appointment: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message: Mapped[str] = mapped_column(Text)
    state: Mapped[AlertState] = mapped_column(EnumText(AlertState), default=AlertState.QUEUED, index=True)
    total_clients: Mapped[int] = mapped_column(Integer, default=0)
    to_send: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)
    sent_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    slack_channel_id: Mapped[str | None] = mapped_column(String(32))
    slack_message_ts: Mapped[str | None] = mapped_column(String(32))
    report_path: Mapped[str | None] = mapped_column(String(500))
    report_permalink: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by: Mapped[str | None] = mapped_column(String(200))
    progress_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completion_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: "Text the N not reached": the alert this one retries (services.retry).
    #: "Send at": when a scheduled alert starts (the dispatcher's tick claims it once).
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    retry_of_alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("mass_alerts.id", ondelete="SET NULL"), index=True
    )
    #: The clinic's sending window when the alert was created (NULL: an alert from before windows, sent at
    #: any hour), so the confirmation's estimate and the dispatcher agree. Minutes, as on Clinic.
    sending_hours_start: Mapped[int | None] = mapped_column(Integer)
    sending_hours_end: Mapped[int | None] = mapped_column(Integer)
    #: Marked urgent by the admin: its texts go at any hour, through the sending window.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    clinic: Mapped[Clinic] = relationship()


class AlertDelivery(Base):
    """One client of one alert: the outbox row the dispatcher claims and the report's row."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "client_id"),
        Index("ix_alert_deliveries_claim", "alert_id", "status", "position"),
        Index("ix_alert_deliveries_lease", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("mass_alerts.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    client_full_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(64))
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[DeliveryStatus] = mapped_column(EnumText(DeliveryStatus), default=DeliveryStatus.PENDING)
    skip_reason: Mapped[SkipReason | None] = mapped_column(EnumText(SkipReason, 32))
    skip_detail: Mapped[str | None] = mapped_column(String(300))
    #: The text as rendered for this client (merge fields filled in) when the alert was created.
    body: Mapped[str | None] = mapped_column(Text)
    #: The IANA zone the sending window is read in for this client (services.sending_hours.recipient_zone),
    #: set when the recipients are frozen; NULL (rows from before windows): the clinic's zone.
    recipient_timezone: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(String(500))
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    attempt_id: Mapped[str | None] = mapped_column(String(36))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: A retry's backoff, or the sending window's next opening for a text held by quiet hours.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class AlertTemplate(Base):
    """A clinic's named message, picked in the compose modal to fill the message (merge fields allowed)."""

    __tablename__ = "alert_templates"
    __table_args__ = (UniqueConstraint("clinic_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(75))
    text: Mapped[str] = mapped_column(Text)
    created_by_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # At most one active conversation per clinic and phone number, even under concurrent replies.
        Index(
            "uq_conversations_active",
            "clinic_id",
            "phone_e164",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"), index=True)
    phone_e164: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default="active")
    unknown_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("mass_alerts.id", ondelete="SET NULL"))
    slack_channel_id: Mapped[str | None] = mapped_column(String(32))
    #: The ts of the thread's first message in Slack, once posted.
    slack_thread_ts: Mapped[str | None] = mapped_column(String(32), index=True)
    #: When a relayer claimed posting the thread's first message (NULL: unclaimed, or posted).
    thread_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Posting in the channel failed (the bot was removed, the channel archived or gone): not before this.
    relay_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConversationMessage(Base):
    """An inbound reply or an outbound conversation text (the priority lane's outbox row)."""

    __tablename__ = "conversation_messages"
    __table_args__ = (Index("ix_conversation_messages_claim", "direction", "status", "sender_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(8))  # inbound | outbound
    body: Mapped[str] = mapped_column(Text)
    sender_key: Mapped[str | None] = mapped_column(String(64))
    to_phone: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[MessageStatus] = mapped_column(EnumText(MessageStatus), default=MessageStatus.RECEIVED)
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    attempt_id: Mapped[str | None] = mapped_column(String(36))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(String(500))
    author_slack_user_id: Mapped[str | None] = mapped_column(String(32))
    #: Inbound: the ts of its post in the thread, once posted. Outbound: the ts of the thread message
    #: acknowledging it.
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    #: Inbound: when a relayer claimed posting it (NULL: unclaimed, or posted).
    relay_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Outbound: the delivery status its acknowledgement in the thread shows.
    shown_status: Mapped[str | None] = mapped_column(String(16))
    #: Inbound: when it was sent by direct message because it could not be posted in the channel.
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Outbound: the ts of the staff member's own Slack message it was typed as (edits and deletions).
    author_slack_ts: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When a staff reply reached a final status (delivered, undelivered, failed), as for alert texts.
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Inbound MMS: JSON list of {"url", "content_type"} (Twilio's MediaUrlN / MediaContentTypeN); else NULL.
    media: Mapped[str | None] = mapped_column(Text)


class InboundEvent(Base):
    """A provider webhook already handled, by its MessageSid: retries are recognised."""

    __tablename__ = "inbound_events"

    message_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DispatcherLock(Base):
    """Who runs the dispatcher; on SQLite only one holder at a time is allowed."""

    __tablename__ = "dispatcher_locks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SlackEventReceipt(Base):
    """An Events API delivery already taken in, by its event_id: Slack's retries are recognised."""

    __tablename__ = "slack_event_receipts"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


# --- OAuth installations (OAuth mode): the tables slack_sdk's SQLAlchemy stores read and write -------------
# Declared here, column for column as slack_sdk.oauth.installation_store.sqlalchemy and
# state_store.sqlalchemy build them (slack_sdk 3.x), so that Alembic creates them like every table; the
# stores are never asked to create_tables(). tests/unit/test_oauth_tables.py checks both agree.

_BOT_COLUMNS = (
    ("client_id", String(32), False),
    ("app_id", String(32), False),
    ("enterprise_id", String(32), True),
    ("enterprise_name", String(200), True),
)
_TOKEN_COLUMNS = (
    ("bot_token", String(200)),
    ("bot_id", String(32)),
    ("bot_user_id", String(32)),
    ("bot_scopes", String(1000)),
    ("bot_refresh_token", String(200)),
    ("bot_token_expires_at", DateTime()),
)


def _installed_at() -> Column[datetime]:
    return Column("installed_at", DateTime(), nullable=False, default=utcnow)


slack_bots = Table(
    "slack_bots",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *(Column(name, kind, nullable=nullable) for name, kind, nullable in _BOT_COLUMNS),
    Column("team_id", String(32)),
    Column("team_name", String(200)),
    *(Column(name, kind) for name, kind in _TOKEN_COLUMNS),
    Column("is_enterprise_install", Boolean, default=False, nullable=False),
    _installed_at(),
    Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
)

slack_installations = Table(
    "slack_installations",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *(Column(name, kind, nullable=nullable) for name, kind, nullable in _BOT_COLUMNS),
    Column("enterprise_url", String(200)),
    Column("team_id", String(32)),
    Column("team_name", String(200)),
    *(Column(name, kind) for name, kind in _TOKEN_COLUMNS),
    Column("user_id", String(32), nullable=False),
    Column("user_token", String(200)),
    Column("user_scopes", String(1000)),
    Column("user_refresh_token", String(200)),
    Column("user_token_expires_at", DateTime()),
    Column("incoming_webhook_url", String(200)),
    Column("incoming_webhook_channel", String(200)),
    Column("incoming_webhook_channel_id", String(200)),
    Column("incoming_webhook_configuration_url", String(200)),
    Column("is_enterprise_install", Boolean, default=False, nullable=False),
    Column("token_type", String(32)),
    _installed_at(),
    Index("slack_installations_idx", "client_id", "enterprise_id", "team_id", "user_id", "installed_at"),
)

slack_oauth_states = Table(
    "slack_oauth_states",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(200), nullable=False),
    Column("expire_at", DateTime(), nullable=False),
)
