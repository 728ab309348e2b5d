"""slack_event_receipts: Events API deliveries already taken in, by event_id (retries act once)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_event_receipts",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_slack_event_receipts")),
    )
    op.create_index(
        op.f("ix_slack_event_receipts_received_at"), "slack_event_receipts", ["received_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_slack_event_receipts_received_at"), table_name="slack_event_receipts")
    op.drop_table("slack_event_receipts")
