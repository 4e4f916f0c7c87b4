"""PSE payments end to end (issue 10): what each PSE transaction needs to be created
once, queried on schedule, finalized, shown on the receipt and conciliated.

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_STATES_OLD = "'CREATED', 'SENT', 'UNKNOWN', 'PENDING', 'OK', 'NOT_AUTHORIZED', 'FAILED'"
_STATES_NEW = _STATES_OLD + ", 'NOT_CREATED'"


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.add_column("pse_transactions", sa.Column("entity_url", sa.String(500), nullable=True))
    op.add_column("pse_transactions", sa.Column("payer_ip", sa.String(45), nullable=True))
    op.add_column("pse_transactions", sa.Column("bank_name", sa.String(120), nullable=True))
    op.add_column("pse_transactions", sa.Column("last_query_at", tz, nullable=True))
    op.add_column("pse_transactions", sa.Column("answered_at", tz, nullable=True))
    op.add_column("pse_transactions", sa.Column("bank_process_date", sa.Date(), nullable=True))
    op.add_column("pse_transactions", sa.Column("finalized_at", tz, nullable=True))
    op.add_column("pse_transactions", sa.Column("finalize_code", sa.String(40), nullable=True))
    # What was done with an approval: applied with its intent, applied late, refunded.
    op.add_column("pse_transactions", sa.Column("resolution", sa.String(20), nullable=True))
    op.drop_constraint(op.f("ck_pse_transactions_state"), "pse_transactions", type_="check")
    op.create_check_constraint("state", "pse_transactions", f"state IN ({_STATES_NEW})")
    op.create_check_constraint(
        "resolution", "pse_transactions", "resolution IN ('applied', 'late_applied', 'refunded', 'review')")
    # The poller's scans: queries due, creates never sent or never answered, finalizes owed.
    op.create_index("ix_pse_transactions_poll_due", "pse_transactions", ["next_poll_at"],
                    postgresql_where=sa.text("state = 'PENDING'"))
    op.create_index("ix_pse_transactions_unsettled", "pse_transactions", ["created_at"],
                    postgresql_where=sa.text("state IN ('CREATED', 'SENT', 'UNKNOWN') "
                                             "OR (state = 'OK' AND finalized_at IS NULL)"))


def downgrade() -> None:
    op.drop_index("ix_pse_transactions_unsettled", "pse_transactions")
    op.drop_index("ix_pse_transactions_poll_due", "pse_transactions")
    op.drop_constraint(op.f("ck_pse_transactions_resolution"), "pse_transactions", type_="check")
    op.drop_constraint(op.f("ck_pse_transactions_state"), "pse_transactions", type_="check")
    op.create_check_constraint("state", "pse_transactions", f"state IN ({_STATES_OLD})")
    for column in ("resolution", "finalize_code", "finalized_at", "bank_process_date", "answered_at",
                   "last_query_at", "bank_name", "payer_ip", "entity_url"):
        op.drop_column("pse_transactions", column)
