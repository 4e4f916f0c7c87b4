"""Review queue and the step table's consequences (issue 9 items 1 and 6).

- `review_items`: payments the machine stopped driving (re-drives exhausted, an attempt
  PSE may still approve past the payment promise), for a person to decide; one open item
  per intent (partial unique index), so filing twice adds nothing.
- `applying` is no longer a stored state (it was the inside of one transaction): a CHECK
  forbids it, since PostgreSQL cannot drop a value from the enum in place.
- The reconciler's partial index covers the open states of the step table
  (created, funding, funded).

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Written out, not imported: a migration keeps the shape it had when written. The test
# test_partial_index_predicate_is_the_step_tables compares it with the step table.
OPEN_PREDICATE = "state IN ('created', 'funding', 'funded')"
OLD_PREDICATE = "state IN ('created', 'funding', 'funded', 'applying')"


def upgrade() -> None:
    op.create_table(
        "review_items",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payment_intent_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.Column("state", sa.String(length=20), server_default=sa.text("'open'"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('open', 'resolved')", name=op.f("ck_review_items_state")),
        sa.CheckConstraint("(state = 'resolved') = (resolved_at IS NOT NULL)",
                           name=op.f("ck_review_items_resolved_when_resolved")),
        sa.ForeignKeyConstraint(["payment_intent_id"], ["payment_intents.id"],
                                name=op.f("fk_review_items_payment_intent_id_payment_intents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
    )
    op.create_index("uq_review_items_open_intent", "review_items", ["payment_intent_id"], unique=True,
                    postgresql_where=sa.text("state = 'open'"))
    # No row was ever stored in `applying` (the step ran in one transaction); if one were,
    # the CHECK fails the upgrade loudly rather than guess a state for it.
    op.create_check_constraint(op.f("ck_payment_intents_no_applying"), "payment_intents", "state <> 'applying'")
    op.drop_index("ix_payment_intents_pending_deadline", table_name="payment_intents")
    op.create_index("ix_payment_intents_pending_deadline", "payment_intents", ["step_deadline_at"], unique=False,
                    postgresql_where=sa.text(OPEN_PREDICATE))


def downgrade() -> None:
    op.drop_index("ix_payment_intents_pending_deadline", table_name="payment_intents")
    op.create_index("ix_payment_intents_pending_deadline", "payment_intents", ["step_deadline_at"], unique=False,
                    postgresql_where=sa.text(OLD_PREDICATE))
    op.drop_constraint(op.f("ck_payment_intents_no_applying"), "payment_intents", type_="check")
    op.drop_index("uq_review_items_open_intent", table_name="review_items", postgresql_where=sa.text("state = 'open'"))
    op.drop_table("review_items")
