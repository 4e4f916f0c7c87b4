"""Outbox: a payment's receipt is written bare (recipient and intent) and composed when
it is sent, so the payment transaction no longer builds the e-mail.

- `payment_intent_id` names the applied payment the receipt reports. No index: lookups
  go by `dedupe_key` ("payment-receipt:<intent id>"), and intents are never deleted.
- `subject` and `body` may be NULL until the dispatcher composes them; checks keep the
  rows honest: composed whole or not at all, never without text AND without a payment
  to compose it from, and never marked sent without the text that was sent.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "notification_outbox"
CHECKS = {
    "ck_notification_outbox_composed_whole": "(subject IS NULL) = (body IS NULL)",
    "ck_notification_outbox_composable": "body IS NOT NULL OR payment_intent_id IS NOT NULL",
    "ck_notification_outbox_sent_is_composed": "status <> 'sent' OR body IS NOT NULL",
}


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("payment_intent_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        "fk_notification_outbox_payment_intent_id_payment_intents", TABLE, "payment_intents",
        ["payment_intent_id"], ["id"],
    )
    op.alter_column(TABLE, "subject", existing_type=sa.String(length=200), nullable=True)
    op.alter_column(TABLE, "body", existing_type=sa.Text(), nullable=True)
    for name, condition in CHECKS.items():
        op.create_check_constraint(op.f(name), TABLE, condition)


def downgrade() -> None:
    # The old schema cannot hold a receipt that is not composed yet, and composing needs
    # Python: let the dispatcher send them first instead of losing them here.
    bare = op.get_bind().execute(sa.text(f"SELECT count(*) FROM {TABLE} WHERE body IS NULL")).scalar_one()
    if bare:
        raise RuntimeError(f"{bare} outbox receipts are not composed yet: run the dispatcher until none is left")
    for name in CHECKS:
        op.drop_constraint(op.f(name), TABLE, type_="check")
    op.alter_column(TABLE, "body", existing_type=sa.Text(), nullable=False)
    op.alter_column(TABLE, "subject", existing_type=sa.String(length=200), nullable=False)
    op.drop_constraint("fk_notification_outbox_payment_intent_id_payment_intents", TABLE, type_="foreignkey")
    op.drop_column(TABLE, "payment_intent_id")
