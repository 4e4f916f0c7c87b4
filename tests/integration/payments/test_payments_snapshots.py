"""Snapshots are read by column name (issue 9 item 3): a renamed column fails loudly, a
reordered one changes nothing (principal and interest can never swap by position)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Column, Date, Integer, MetaData, Numeric, Table, select, text

from db.engine import get_engine
from db.models import FundingAttempt, Installment, Obligation, PaymentIntent, PaymentIntentLine, SavingsAccount
from db.payments.snapshots import (
    AttemptRow,
    InstallmentRow,
    IntentRow,
    LineRow,
    ObligationRow,
    SavingsRow,
    build,
    columns_for,
    field_names,
)

pytestmark = pytest.mark.integration

COMPONENT_COLUMNS = ["principal", "interest", "fees", "late_interest",
                     "paid_principal", "paid_interest", "paid_fees", "paid_late_interest"]


@pytest.mark.parametrize(("snapshot", "model", "computed"), [
    (InstallmentRow, Installment, ("period_start",)),  # computed: previous due date or disbursement
    (ObligationRow, Obligation, ("loan", "unpaid")),
    (SavingsRow, SavingsAccount, ("balance", "held", "exempt_debited")),
    (IntentRow, PaymentIntent, ("lines", "attempts")),
    (LineRow, PaymentIntentLine, ()),
    (AttemptRow, FundingAttempt, ()),
])
def test_every_snapshot_field_is_a_model_column(snapshot, model, computed) -> None:  # noqa: ANN001
    assert set(field_names(snapshot, leave_out=computed)) <= set(model.__table__.c.keys())


def test_a_renamed_column_fails_loudly() -> None:
    renamed = Table("installments", MetaData(), Column("id", Integer), Column("number", Integer),
                    Column("due_date", Date), Column("capital", Numeric(18, 2)),
                    *[Column(n, Numeric(18, 2)) for n in COMPONENT_COLUMNS if n != "principal"])
    with pytest.raises(LookupError, match="principal"):
        columns_for(renamed, field_names(InstallmentRow))


def test_a_reordered_table_reads_the_same_snapshot(clean_db) -> None:  # noqa: ANN001
    # The same columns in another order (interest before principal, paid ones first).
    order = ["id", "paid_late_interest", "paid_fees", "paid_interest", "paid_principal", "interest", "number",
             "late_interest", "fees", "principal", "due_date"]
    with get_engine().begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS installments_reordered"))
        conn.execute(text("CREATE TABLE installments_reordered (" + ", ".join(
            f"{n} {'integer' if n in ('id', 'number') else 'date' if n == 'due_date' else 'numeric(18,2)'}"
            for n in order) + ")"))
        conn.execute(text("INSERT INTO installments_reordered (id, number, due_date, principal, interest, fees, "
                          "late_interest, paid_principal, paid_interest, paid_fees, paid_late_interest) "
                          "VALUES (7, 3, '2026-12-05', 25000, 9265, 500, 120, 1000, 0, 0, 0)"))
        table = Table("installments_reordered", MetaData(), autoload_with=conn)
        names = field_names(InstallmentRow, leave_out=("period_start",))  # period_start is computed
        row = conn.execute(select(*columns_for(table, names))).one()
        conn.execute(text("DROP TABLE installments_reordered"))
    got = build(InstallmentRow, row._mapping, names)
    assert got == InstallmentRow(id=7, number=3, due_date=date(2026, 12, 5), principal=Decimal("25000.00"),
                                 interest=Decimal("9265.00"), fees=Decimal("500.00"), late_interest=Decimal("120.00"),
                                 paid_principal=Decimal("1000.00"), paid_interest=Decimal("0.00"),
                                 paid_fees=Decimal("0.00"), paid_late_interest=Decimal("0.00"))
    assert got.outstanding == Decimal("33885.00")


def test_no_statement_reuses_generic_columns() -> None:
    from db.payments import snapshots

    compiled = str(snapshots._LINES_AND_ATTEMPTS.compile(dialect=get_engine().dialect))
    for generic in (" AS a,", " AS b,", " AS c,", " AS d,"):
        assert generic not in compiled
