"""Database-side defaults, entry txid forced by the server, payroll discount → obligation.

- Every NOT NULL column with a Python default gets the same default in PostgreSQL, so a
  raw SQL or COPY writer (the bulk loader, an operator) cannot forget one.
- `journal_entries.created_txid` was only a column default: a client could write another
  transaction's id and add lines later. A BEFORE INSERT trigger now always sets it.
- A payroll discount may name the obligation it pays.

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DEFAULTS = {
    "credentials": {"must_change": "true", "failed_attempts": "0"},
    "obligations": {"status": "'active'"},
    "loans": {"monthly_fee": "0"},
    "installments": {c: "0" for c in ("interest", "fees", "late_interest", "paid_principal", "paid_interest",
                                     "paid_fees", "paid_late_interest")},
    "savings_accounts": {"status": "'active'", "minimum_balance": "0", "gmf_exempt": "false"},
    "payment_intents": {"state": "'created'"},
    "funding_attempts": {"state": "'pending'", "gmf_amount": "0"},
    "allocations": {c: "0" for c in ("late_interest", "fees", "interest", "principal")},
    "holds": {"state": "'pending'"},
}

FORCE_TXID = r"""
CREATE FUNCTION ledger_force_entry_txid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.created_txid := txid_current();
    RETURN NEW;
END $$;

CREATE TRIGGER journal_entries_force_txid
    BEFORE INSERT ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_force_entry_txid();
"""


def upgrade() -> None:
    for table, columns in DEFAULTS.items():
        for column, default in columns.items():
            op.alter_column(table, column, server_default=sa.text(default))
    op.add_column("payroll_discounts", sa.Column("obligation_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        "fk_payroll_discounts_obligation_id_obligations", "payroll_discounts", "obligations", ["obligation_id"], ["id"]
    )
    op.execute(FORCE_TXID)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS journal_entries_force_txid ON journal_entries")
    op.execute("DROP FUNCTION IF EXISTS ledger_force_entry_txid()")
    op.drop_constraint("fk_payroll_discounts_obligation_id_obligations", "payroll_discounts", type_="foreignkey")
    op.drop_column("payroll_discounts", "obligation_id")
    for table, columns in DEFAULTS.items():
        for column in columns:
            op.alter_column(table, column, server_default=None)
