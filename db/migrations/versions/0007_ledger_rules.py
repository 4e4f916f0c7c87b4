"""Colombian rules the ledger missed (issue 9 item 7): certified usury rates, late
interest accrued once per installment and day, dues billed once per period.

- `usury_rates`: the Superintendencia Financiera's monthly certification (consumo y
  ordinario), loaded here from db/data/usury_rates.csv; `./zona usury load FILE` adds
  the next ones. Settings no longer carry hand-typed periods.
- `late_interest_accruals`: one row per installment and accrual day, unique, with the
  journal entry that posted it: the daily job run twice posts once.
- `installments.period`: the month a dues installment bills, unique per obligation;
  existing aportes and ahorro permanente installments get theirs from the due date.

Revision ID: 0007
Revises: 0006 (another branch adds 0006 on 0005; the merge re-chains this one onto it)
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usury_rates",
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("ea", sa.Numeric(precision=10, scale=8), nullable=False),
        sa.Column("source", sa.String(length=400), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("extract(day from period) = 1", name=op.f("ck_usury_rates_period_is_month")),
        sa.CheckConstraint("ea > 0 AND ea < 2", name=op.f("ck_usury_rates_ea_range")),
        sa.CheckConstraint("length(source) > 0", name=op.f("ck_usury_rates_source_given")),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_usury_rates")),
    )
    op.create_table(
        "late_interest_accruals",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("installment_id", sa.Integer(), nullable=False),
        sa.Column("accrued_through", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("overdue_principal", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("journal_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("days > 0 AND amount > 0 AND overdue_principal > 0",
                           name=op.f("ck_late_interest_accruals_positive")),
        sa.ForeignKeyConstraint(["installment_id"], ["installments.id"], ondelete="CASCADE",
                                name=op.f("fk_late_interest_accruals_installment_id_installments")),
        sa.ForeignKeyConstraint(["journal_entry_id"], ["journal_entries.id"],
                                name=op.f("fk_late_interest_accruals_journal_entry_id_journal_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_late_interest_accruals")),
        sa.UniqueConstraint("installment_id", "accrued_through", name="uq_late_interest_accruals_installment_day"),
    )
    op.add_column("installments", sa.Column("period", sa.Date(), nullable=True))
    op.execute("""
        UPDATE installments i SET period = date_trunc('month', i.due_date)::date
          FROM obligations o
         WHERE o.id = i.obligation_id AND o.kind IN ('aportes', 'ahorro_permanente')""")
    op.create_unique_constraint("uq_installments_obligation_period", "installments", ["obligation_id", "period"])
    op.create_check_constraint(op.f("ck_installments_period_is_month"), "installments", "extract(day from period) = 1")

    # The receivable late interest now accrues into (db/chart.py); a database whose chart
    # was made before it gets it here, so a payment's late-interest part has its account.
    op.execute("""
        INSERT INTO ledger_accounts (code, cuif_code, name, nature)
        SELECT 'COOP-144305', '144305', 'Intereses de mora por cobrar cartera de consumo', 'debit'
         WHERE EXISTS (SELECT 1 FROM ledger_accounts WHERE code LIKE 'COOP-%')
        ON CONFLICT (code) DO NOTHING""")

    from db.usury import DEFAULT_FILE, read_certifications

    rates = [c for c in read_certifications(DEFAULT_FILE) if c.ea is not None]
    table = sa.table("usury_rates", sa.column("period", sa.Date()), sa.column("ea", sa.Numeric(10, 8)),
                     sa.column("source", sa.String()))
    op.bulk_insert(table, [{"period": c.period, "ea": c.ea, "source": c.source} for c in rates])


def downgrade() -> None:
    op.drop_constraint(op.f("ck_installments_period_is_month"), "installments", type_="check")
    op.drop_constraint("uq_installments_obligation_period", "installments", type_="unique")
    op.drop_column("installments", "period")
    op.drop_table("late_interest_accruals")
    op.drop_table("usury_rates")
