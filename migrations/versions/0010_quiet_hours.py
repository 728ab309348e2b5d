"""Quiet hours (issue 14): each clinic's sending window, urgent alerts, and each client's time zone.

`clinics.sending_hours_start` / `sending_hours_end`: the window in minutes after local midnight (start
included, end excluded; an end before the start spans midnight); existing clinics get 08:00-21:00.
`mass_alerts.sending_hours_start` / `sending_hours_end`: the window copied when the alert is created (NULL
for alerts created before this revision: they keep sending at any hour, as they were confirmed).
`mass_alerts.urgent`: sent through the window (false for existing alerts).
`alert_deliveries.recipient_timezone`: the IANA zone the window is read in for that client (NULL: the
clinic's zone).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sending_hours_start", sa.Integer(), server_default=sa.text("480"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("sending_hours_end", sa.Integer(), server_default=sa.text("1260"), nullable=False)
        )
    with op.batch_alter_table("mass_alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sending_hours_start", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sending_hours_end", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("urgent", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.drop_column("recipient_timezone")
    with op.batch_alter_table("mass_alerts", schema=None) as batch_op:
        batch_op.drop_column("urgent")
        batch_op.drop_column("sending_hours_end")
        batch_op.drop_column("sending_hours_start")
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.drop_column("sending_hours_end")
        batch_op.drop_column("sending_hours_start")
