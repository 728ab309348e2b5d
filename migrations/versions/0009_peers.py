"""Merge fields, templates and "text the ones not reached" (issue 14).

`clients.first_name`: the optional client_first_name import column ({client_first_name}).
`alert_deliveries.body`: the text rendered for that client when the alert was created; the dispatcher
sends it and the report shows it.
`alert_templates`: a clinic's named messages (unique name per clinic).
`mass_alerts.retry_of_alert_id` (indexed): the alert a "Text the N not reached" alert retries.
`mass_alerts.start_at` (indexed): when a scheduled alert (state `scheduled`) starts.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_name", sa.String(length=100), nullable=True))
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))
    with op.batch_alter_table("mass_alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retry_of_alert_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("start_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_mass_alerts_start_at"), ["start_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mass_alerts_retry_of_alert_id"), ["retry_of_alert_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_mass_alerts_retry_of_alert_id_mass_alerts"),
            "mass_alerts",
            ["retry_of_alert_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "alert_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=75), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinics.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clinic_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("alert_templates")
    with op.batch_alter_table("mass_alerts", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_mass_alerts_retry_of_alert_id_mass_alerts"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_mass_alerts_retry_of_alert_id"))
        batch_op.drop_column("retry_of_alert_id")
        batch_op.drop_index(batch_op.f("ix_mass_alerts_start_at"))
        batch_op.drop_column("start_at")
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.drop_column("body")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("first_name")
