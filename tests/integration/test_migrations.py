"""Migrations run up, down to base and up again on each backend, and agree with the models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Select, inspect, select, text

from services import db
from services.models import Base, Conversation, ConversationMessage


def _tables(url: str) -> set[str]:
    engine = db.make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    db.upgrade(db_url)
    assert _tables(db_url) == set(Base.metadata.tables)
    assert db.current_revision(db_url) is not None
    db.downgrade(db_url, "base")
    assert _tables(db_url) == set()
    assert db.current_revision(db_url) is None
    db.upgrade(db_url)
    assert _tables(db_url) == set(Base.metadata.tables)


def test_models_and_migrations_agree(db_url: str) -> None:
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


_CLAIMED_AT = datetime(2026, 3, 2, 15, 30, 7)  # naive UTC, as stored
_CLAIM = f"pending:{int(_CLAIMED_AT.replace(tzinfo=UTC).timestamp())}"


def _insert_relay_state(conn: Connection) -> None:
    """At 0001: a thread being started (claimed), a posted thread, claimed, posted and unposted replies, and
    staff answers whose acknowledgement shows a status (or, packed with an empty status, none)."""
    conn.execute(
        text(
            "INSERT INTO clinics (id, name, timezone, two_way_texting, created_at) "
            "VALUES (1, 'Front Street', 'America/Chicago', true, :now)"
        ),
        {"now": _CLAIMED_AT},
    )
    conversation = text(
        "INSERT INTO conversations (id, clinic_id, phone_e164, status, unknown_contact, slack_thread_ts,"
        " opened_at) VALUES (:id, 1, :phone, 'active', false, :ts, :now)"
    )
    conn.execute(conversation, {"id": 1, "phone": "+13125550101", "ts": _CLAIM, "now": _CLAIMED_AT})
    conn.execute(
        conversation, {"id": 2, "phone": "+13125550102", "ts": "1700000000.000100", "now": _CLAIMED_AT}
    )
    message = text(
        "INSERT INTO conversation_messages (id, conversation_id, direction, body, status, attempts, slack_ts,"
        " created_at) VALUES (:id, :conversation, :direction, 'text', :status, 0, :ts, :now)"
    )
    for row in (
        (1, 1, "inbound", "received", _CLAIM),
        (2, 2, "inbound", "received", "1700000000.000100"),
        (3, 2, "inbound", "received", None),
        (4, 2, "outbound", "delivered", "1700000000.000200|sent"),
        (5, 2, "outbound", "queued", "1700000000.000300|"),
        (6, 2, "outbound", "queued", None),
    ):
        conn.execute(
            message,
            dict(zip(("id", "conversation", "direction", "status", "ts"), row, strict=True), now=_CLAIMED_AT),
        )


def _rows(url: str, query: str | Select[Any]) -> list[tuple[object, ...]]:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query) if isinstance(query, str) else query)]
    finally:
        engine.dispose()


def test_0002_moves_relay_markers_into_columns_and_back(db_url: str) -> None:
    db.upgrade(db_url, "0001")
    engine = db.make_engine(db_url)
    try:
        with engine.begin() as conn:
            _insert_relay_state(conn)
    finally:
        engine.dispose()
    before_threads = _rows(db_url, "SELECT id, slack_thread_ts FROM conversations ORDER BY id")
    before_messages = _rows(db_url, "SELECT id, slack_ts FROM conversation_messages ORDER BY id")

    db.upgrade(db_url, "0002")
    threads = select(Conversation.id, Conversation.slack_thread_ts, Conversation.thread_claimed_at)
    assert _rows(db_url, threads.order_by(Conversation.id)) == [
        (1, None, _CLAIMED_AT.replace(tzinfo=UTC)),  # still being started by the relayer that claimed it
        (2, "1700000000.000100", None),
    ]
    messages = select(
        ConversationMessage.id,
        ConversationMessage.slack_ts,
        ConversationMessage.relay_claimed_at,
        ConversationMessage.shown_status,
    )
    assert _rows(db_url, messages.order_by(ConversationMessage.id)) == [
        (1, None, _CLAIMED_AT.replace(tzinfo=UTC), None),
        (2, "1700000000.000100", None, None),
        (3, None, None, None),
        (4, "1700000000.000200", None, "sent"),
        (5, "1700000000.000300", None, None),
        (6, None, None, None),
    ]

    db.downgrade(db_url, "0001")
    assert _rows(db_url, "SELECT id, slack_thread_ts FROM conversations ORDER BY id") == before_threads
    assert _rows(db_url, "SELECT id, slack_ts FROM conversation_messages ORDER BY id") == before_messages
