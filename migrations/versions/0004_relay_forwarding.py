"""Client replies the channel refused, and staff answers' own Slack messages.

`conversations.relay_retry_at`: posting in the channel failed (not_in_channel, channel_not_found,
is_archived); the relay retries no earlier. `conversation_messages.forwarded_at`: an inbound reply was sent by
direct message meanwhile. `conversation_messages.author_slack_ts` (indexed): the ts of the staff member's
Slack message a staff answer was typed as, so an edit or deletion of it finds the answer.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("relay_retry_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("forwarded_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("author_slack_ts", sa.String(length=32), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_conversation_messages_author_slack_ts"), ["author_slack_ts"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_messages_author_slack_ts"))
        batch_op.drop_column("author_slack_ts")
        batch_op.drop_column("forwarded_at")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("relay_retry_at")
