"""The Requisitos table as pure rules (domain.requirements)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from domain.requirements import AccountFacts, LimitFacts, LineFacts, all_met, evaluate, first_failure

D = Decimal


def account(**kw) -> AccountFacts:  # noqa: ANN003
    base = dict(account_id=1, label="Rentahorrito RH-1", status="active", balance=D("100000"), held=D("0"),
                minimum_balance=D("10000"), gmf_exempt=False, debit=D("50000"))
    return AccountFacts(**(base | kw))


def limits(total: Decimal = D("50000"), spent: Decimal = D("0")) -> LimitFacts:
    return LimitFacts(total=total, max_per_transaction=D("1000000"), max_per_day=D("2000000"), spent_today=spent)


LINE = LineFacts(code_id=9, label="Aportes APO-1", amount=D("50000"), max_payable=D("60000"))


def table(accounts=None, lines=None, lim=None):  # noqa: ANN001, ANN201
    return evaluate(accounts or [account()], lines or [LINE], lim or limits())


def test_all_met_shows_cumple() -> None:
    rows = table()
    assert all_met(rows) and {r.evaluacion for r in rows} == {"Cumple"}
    assert [r.code for r in rows] == ["cuenta_activa:1", "saldo:1", "valor:9", "en_proceso:9",
                                      "limite_transaccion", "limite_diario"]


def test_gmf_is_part_of_what_must_be_available() -> None:
    # 90 000 available; 89 700 + GMF 359 = 90 059 > 90 000 on a non-exempt account.
    tight = account(debit=D("89700"))
    failed = first_failure(table([tight], lim=limits(D("89700"))))
    assert failed is not None and failed.reason == "Saldo insuficiente" and "GMF $359.00" in failed.observacion
    assert first_failure(table([account(debit=D("89700"), gmf_exempt=True)],
                               [LineFacts(9, "x", D("89700"), D("90000"))], limits(D("89700")))) is None


def test_holds_and_minimum_reduce_the_available_balance() -> None:
    rows = table([account(held=D("40001"), gmf_exempt=True)])
    assert first_failure(table([account(held=D("40000"), gmf_exempt=True)])) is None
    assert first_failure(rows).reason == "Saldo insuficiente"  # 100 000 − 40 001 − 10 000 < 50 000


@pytest.mark.parametrize("status,reason", [("dormant", "Cuenta inactiva"), ("embargoed", "Cuenta embargada")])
def test_inactive_accounts(status: str, reason: str) -> None:
    failed = first_failure(table([account(status=status)]))
    assert failed.reason == reason and failed.evaluacion == "No cumple"


def test_line_values() -> None:
    assert first_failure(table(lines=[LineFacts(9, "x", D("60001"), D("60000"))])).reason == "El valor supera lo adeudado"
    assert first_failure(table(lines=[LineFacts(9, "x", D("0"), D("60000"))])).reason == "El valor debe ser mayor que cero"
    assert first_failure(table(lines=[LineFacts(9, "x", D("5"), D("60000"), in_progress=True)])).code == "en_proceso:9"
    assert first_failure(table(lines=[LineFacts(9, "x", D("5"), D("60000"), obligation_active=False)])) is not None


def test_limits() -> None:
    assert first_failure(table(lim=limits(D("1000001")))).code == "limite_transaccion"
    assert first_failure(table(lim=limits(spent=D("1950001")))).code == "limite_diario"
    assert first_failure(table(lim=limits(spent=D("1950000")))) is None


def test_a_payment_with_nothing_from_savings_says_so_as_the_manual_does() -> None:
    # Paid by PSE alone: no account debited (a transfer's target has no debit either).
    rows = evaluate([], [LINE], limits())
    assert all_met(rows) and rows[0].code == "saldo:ninguna"
    assert (rows[0].requisito, rows[0].observacion, rows[0].evaluacion) == (
        "Validación saldo cuenta de Ahorros", "Requisito CUMPLE porque NO hay recaudos con cuentas de ahorro", "Cumple")
    target = evaluate([account(debit=D("0"))], [LINE], limits())
    assert "saldo:ninguna" in [r.code for r in target]
    assert "saldo:ninguna" not in [r.code for r in table()]
