"""Operator console (issue 12): operators with their second factor, their actions and four-eyes requests.

- `operators`: accounts of their own (never members'), key hash (argon2id), TOTP secret
  and its last accepted step, role, lockout, last login.
- `operator_requests`: a reversal or refund asked by one operator and decided by another
  (CHECK: decided_by <> requested_by; one pending request per payment).
- `operator_actions`: who, when, from where, why and what; UPDATE and DELETE refused.

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(length=40), nullable=False),
        sa.Column("key_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_ip", sa.String(length=45), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("role IN ('operador', 'supervisor')", name=op.f("ck_operators_role")),
        sa.CheckConstraint("failed_attempts >= 0", name=op.f("ck_operators_failed_attempts")),
        sa.CheckConstraint("totp_enrolled_at IS NULL OR totp_secret IS NOT NULL",
                           name=op.f("ck_operators_enrolled_has_secret")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        sa.UniqueConstraint("username", name=op.f("uq_operators_username")),
    )
    op.create_table(
        "operator_requests",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("payment_intent_id", sa.BigInteger(), nullable=False),
        sa.Column("requested_by", sa.BigInteger(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("review_item_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=20), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('reversal', 'refund_to_savings')", name=op.f("ck_operator_requests_kind")),
        sa.CheckConstraint("state IN ('pending', 'approved', 'rejected')", name=op.f("ck_operator_requests_state")),
        sa.CheckConstraint("(state = 'pending') = (decided_by IS NULL AND decided_at IS NULL)",
                           name=op.f("ck_operator_requests_decided_when_decided")),
        sa.CheckConstraint("(kind = 'refund_to_savings') = (amount IS NOT NULL) AND (amount IS NULL OR amount > 0)",
                           name=op.f("ck_operator_requests_refund_has_amount")),
        sa.CheckConstraint("decided_by IS NULL OR decided_by <> requested_by",
                           name=op.f("ck_operator_requests_four_eyes")),
        sa.ForeignKeyConstraint(["payment_intent_id"], ["payment_intents.id"],
                                name=op.f("fk_operator_requests_payment_intent_id_payment_intents")),
        sa.ForeignKeyConstraint(["requested_by"], ["operators.id"],
                                name=op.f("fk_operator_requests_requested_by_operators")),
        sa.ForeignKeyConstraint(["decided_by"], ["operators.id"],
                                name=op.f("fk_operator_requests_decided_by_operators")),
        sa.ForeignKeyConstraint(["review_item_id"], ["review_items.id"],
                                name=op.f("fk_operator_requests_review_item_id_review_items")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_requests")),
    )
    op.create_index(op.f("ix_operator_requests_payment_intent_id"), "operator_requests", ["payment_intent_id"],
                    unique=False)
    op.create_index("uq_operator_requests_pending_intent", "operator_requests", ["payment_intent_id"], unique=True,
                    postgresql_where=sa.text("state = 'pending'"))
    op.create_table(
        "operator_actions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("payment_intent_id", sa.BigInteger(), nullable=True),
        sa.Column("review_item_id", sa.BigInteger(), nullable=True),
        sa.Column("request_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"],
                                name=op.f("fk_operator_actions_operator_id_operators")),
        sa.ForeignKeyConstraint(["payment_intent_id"], ["payment_intents.id"],
                                name=op.f("fk_operator_actions_payment_intent_id_payment_intents")),
        sa.ForeignKeyConstraint(["review_item_id"], ["review_items.id"],
                                name=op.f("fk_operator_actions_review_item_id_review_items")),
        sa.ForeignKeyConstraint(["request_id"], ["operator_requests.id"],
                                name=op.f("fk_operator_actions_request_id_operator_requests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_actions")),
    )
    op.create_index("ix_operator_actions_intent", "operator_actions", ["payment_intent_id", "at"], unique=False)
    op.create_index("ix_operator_actions_operator_at", "operator_actions", ["operator_id", "at"], unique=False)
    # The audit of the console is append-only, like the ledger.
    op.execute("""
        CREATE FUNCTION operator_actions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'operator_actions is append-only (% refused)', TG_OP;
        END $$""")
    op.execute("""
        CREATE TRIGGER operator_actions_append_only BEFORE UPDATE OR DELETE ON operator_actions
        FOR EACH ROW EXECUTE FUNCTION operator_actions_append_only()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER operator_actions_append_only ON operator_actions")
    op.execute("DROP FUNCTION operator_actions_append_only()")
    op.drop_table("operator_actions")
    op.drop_index("uq_operator_requests_pending_intent", table_name="operator_requests")
    op.drop_index(op.f("ix_operator_requests_payment_intent_id"), table_name="operator_requests")
    op.drop_table("operator_requests")
    op.drop_table("operators")
