"""clients.opted_out_source (keyword | carrier) and conversation_messages.media (inbound MMS files, JSON)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opted_out_source", sa.String(length=16), nullable=True))
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.drop_column("media")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("opted_out_source")
