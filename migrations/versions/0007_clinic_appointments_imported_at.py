"""clinics.appointments_imported_at: when the clinic's appointments were last imported (compose modal)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("appointments_imported_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.drop_column("appointments_imported_at")
