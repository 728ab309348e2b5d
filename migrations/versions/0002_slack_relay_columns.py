"""Slack relay state in real columns instead of markers packed into the Slack ts columns.

Before: `conversations.slack_thread_ts` and an inbound `conversation_messages.slack_ts` held either the
Slack ts, or `pending:<epoch seconds>` while a relayer claimed the post; an outbound message's `slack_ts`
held `<ts of its acknowledgement>|<status shown there>`. After: the ts columns hold only Slack ts values,
claims are `conversations.thread_claimed_at` / `conversation_messages.relay_claimed_at` (naive UTC, as every
UTCDateTime column), and the shown status is `conversation_messages.shown_status`. Upgrade moves existing
markers into the new columns and downgrade packs them back, so either direction keeps every claim and
status line. Batch mode throughout (see downgrade for why SQLite drops the columns in place).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PENDING = "pending:"
SEPARATOR = "|"

_conversations = sa.table(
    "conversations",
    sa.column("id", sa.Integer()),
    sa.column("slack_thread_ts", sa.String()),
    sa.column("thread_claimed_at", sa.DateTime()),
)
_messages = sa.table(
    "conversation_messages",
    sa.column("id", sa.Integer()),
    sa.column("direction", sa.String()),
    sa.column("slack_ts", sa.String()),
    sa.column("relay_claimed_at", sa.DateTime()),
    sa.column("shown_status", sa.String()),
)


def claim_time(marker: str) -> datetime | None:
    """The naive UTC time of a `pending:<epoch>` claim; None when the epoch is unreadable (such a claim was
    always treated as stale, as an unclaimed post is)."""
    epoch = marker[len(PENDING) :]
    if not epoch.isdigit():
        return None
    return datetime.fromtimestamp(int(epoch), UTC).replace(tzinfo=None)


def claim_marker(claimed_at: datetime) -> str:
    """The `pending:<epoch>` marker of a claim made at naive UTC `claimed_at` (whole seconds, as before)."""
    return f"{PENDING}{int(claimed_at.replace(tzinfo=UTC).timestamp())}"


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thread_claimed_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("relay_claimed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("shown_status", sa.String(length=16), nullable=True))

    bind = op.get_bind()
    for row in bind.execute(
        sa.select(_conversations.c.id, _conversations.c.slack_thread_ts).where(
            _conversations.c.slack_thread_ts.like(f"{PENDING}%")
        )
    ).all():
        bind.execute(
            _conversations.update()
            .where(_conversations.c.id == row.id)
            .values(slack_thread_ts=None, thread_claimed_at=claim_time(row.slack_thread_ts))
        )
    for row in bind.execute(
        sa.select(_messages.c.id, _messages.c.direction, _messages.c.slack_ts).where(
            _messages.c.slack_ts.like(f"{PENDING}%")
            | ((_messages.c.direction == "outbound") & _messages.c.slack_ts.contains(SEPARATOR))
        )
    ).all():
        if row.slack_ts.startswith(PENDING):
            values = {"slack_ts": None, "relay_claimed_at": claim_time(row.slack_ts)}
        else:
            ts, _, shown = row.slack_ts.partition(SEPARATOR)
            values = {"slack_ts": ts, "shown_status": shown or None}
        bind.execute(_messages.update().where(_messages.c.id == row.id).values(**values))


def downgrade() -> None:
    bind = op.get_bind()
    for row in bind.execute(
        sa.select(_conversations.c.id, _conversations.c.thread_claimed_at).where(
            _conversations.c.slack_thread_ts.is_(None), _conversations.c.thread_claimed_at.is_not(None)
        )
    ).all():
        bind.execute(
            _conversations.update()
            .where(_conversations.c.id == row.id)
            .values(slack_thread_ts=claim_marker(row.thread_claimed_at))
        )
    for row in bind.execute(
        sa.select(
            _messages.c.id,
            _messages.c.direction,
            _messages.c.slack_ts,
            _messages.c.relay_claimed_at,
            _messages.c.shown_status,
        ).where(
            (_messages.c.slack_ts.is_(None) & _messages.c.relay_claimed_at.is_not(None))
            | ((_messages.c.direction == "outbound") & _messages.c.slack_ts.is_not(None))
        )
    ).all():
        if row.slack_ts is None:
            packed = claim_marker(row.relay_claimed_at)
        else:
            packed = f"{row.slack_ts}{SEPARATOR}{row.shown_status or ''}"
        bind.execute(_messages.update().where(_messages.c.id == row.id).values(slack_ts=packed))

    # Dropped in place (SQLite has ALTER TABLE DROP COLUMN since 3.35 for a column no index or constraint
    # uses): rebuilding `conversations` would DROP TABLE it, which with foreign keys on deletes every
    # conversation_messages row through its ON DELETE CASCADE.
    with op.batch_alter_table("conversation_messages", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("shown_status")
        batch_op.drop_column("relay_claimed_at")
    with op.batch_alter_table("conversations", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("thread_claimed_at")
