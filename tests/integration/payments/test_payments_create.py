"""Writing an intent: 50 identical "Finalizar" in parallel make one intent; bad input,
another member's ids and tampered amounts get a clear Spanish message and write nothing;
the Requisitos table says Cumple / No cumple."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from db.engine import session_scope
from db.member_summary import obligations_overview
from db.models import PaymentIntent
from db.payments.errors import NotOwnedError, PaymentError, RequirementsNotMet
from db.payments.intents import NewIntent, build_request, create_intent, requirements_table
from db.seed import bogota_today
from domain.money import MoneyInputError, parse_whole_pesos
from domain.payment_request import PaymentInputError
from zona_privada.settings import get_settings

from tests.support.payments import new_key, snapshot

pytestmark = pytest.mark.integration


def next_items(demo) -> dict[int, Decimal]:  # noqa: ANN001
    with session_scope() as session:
        return {l.obligation_id: l.next_installment for l in obligations_overview(session, demo.member_id, bogota_today())}


def test_fifty_identical_creates_in_parallel_make_one_intent(demo) -> None:  # noqa: ANN001
    items = next_items(demo)
    amount = items[demo.aportes_id] + items[demo.loan_id]
    lines = [{"obligation_id": demo.aportes_id, "amount": items[demo.aportes_id]},
             {"obligation_id": demo.loan_id, "amount": items[demo.loan_id]}]
    funding = [{"savings_account_id": demo.rentadiario_id, "amount": amount}]
    key = new_key()
    # An engine of our own, large enough that all 50 really run at once.
    engine = create_engine(get_settings().database_url, pool_size=50, max_overflow=0)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    barrier = threading.Barrier(50)

    def one() -> NewIntent:
        session = factory()
        try:
            barrier.wait(timeout=30)
            result = create_intent(session, member_id=demo.member_id, idempotency_key=key, kind="payment",
                                   lines=lines, funding=funding)
            session.commit()
            return result
        finally:
            session.close()

    try:
        with ThreadPoolExecutor(50) as pool:
            results = list(pool.map(lambda _: one(), range(50)))
    finally:
        engine.dispose()
    ids = {intent_id for intent_id, _ in results}
    assert len(ids) == 1
    assert sum(step is not None for _, step in results) == 1
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(PaymentIntent)).scalar_one() == 1
        intent = session.get(PaymentIntent, ids.pop())
        assert len(intent.lines) == 2 and len(intent.attempts) == 1


def _bad_cases(demo, items):  # noqa: ANN001, ANN202
    a, l = items[demo.aportes_id], items[demo.loan_id]
    rd, rh = demo.rentadiario_id, demo.rentahorrito_id
    ob = demo.aportes_id

    def pay(amount, funding_amount=None, obligation=ob, account=rd, **extra):  # noqa: ANN001, ANN202
        return dict(kind="payment", lines=[{"obligation_id": obligation, "amount": amount, **extra}],
                    funding=[{"savings_account_id": account, "amount": amount if funding_amount is None else funding_amount}])

    return {
        "negative": (pay(Decimal("-3800")), "mayor que cero"),
        "zero": (pay(Decimal("0")), "mayor que cero"),
        "negative string": (pay("-100"), "mayor que cero"),
        "non-numeric": (pay("abc"), "valor numérico"),
        "float": (pay(3800.0), "valor numérico"),
        "centavos": (pay(Decimal("100.555")), "sin centavos"),
        "nan": (pay("NaN"), "valor numérico"),
        "enormous": (pay(Decimal("1e30")), "excede el máximo"),
        "over the per-transaction limit": (pay(get_settings().payment_max_per_transaction_cop + 1), "límite por transacción"),
        "more than owed": (pay(a * 1000), "supera lo adeudado"),
        "another member's obligation": (pay(a, obligation=demo.other_obligation_id), "no le pertenece"),
        "another member's account": (pay(a, account=demo.other_account_id), "no le pertenece"),
        "unknown obligation": (pay(a, obligation=999999), "no le pertenece"),
        "tampered funding (less than the total)": (pay(a, funding_amount=a - 1), "no coincide"),
        "tampered funding (more than the total)": (pay(a, funding_amount=a + l), "no coincide"),
        "obligation id tampered to text": (pay(a, obligation="1 OR 1=1"), "obligación"),
        "duplicated obligation": (dict(kind="payment", lines=[{"obligation_id": ob, "amount": a}] * 2,
                                       funding=[{"savings_account_id": rd, "amount": a * 2}]), "dos veces"),
        "bad prepayment mode": (pay(a, prepayment_mode="never_pay"), "reduce el plazo"),
        "PSE not yet available": (dict(kind="payment", lines=[{"obligation_id": ob, "amount": a}],
                                       funding=[{"pse": True, "amount": a}]), "PSE"),
        "transfer into another member's account": (dict(kind="transfer",
                                                        lines=[{"target_savings_account_id": demo.other_account_id, "amount": a}],
                                                        funding=[{"savings_account_id": rh, "amount": a}]), "no le pertenece"),
        "transfer to the same account": (dict(kind="transfer", lines=[{"target_savings_account_id": rd, "amount": a}],
                                              funding=[{"savings_account_id": rd, "amount": a}]), "distintas"),
        "insufficient balance": (pay(l + a, account=rh, obligation=demo.loan_id) | {
            "lines": [{"obligation_id": demo.loan_id, "amount": Decimal("600000")}],
            "funding": [{"savings_account_id": rh, "amount": Decimal("600000")}]}, "Saldo insuficiente"),
        "no lines": (dict(kind="payment", lines=[], funding=[{"savings_account_id": rd, "amount": a}]), "al menos una"),
        "bad kind": (dict(kind="refund", lines=[{"obligation_id": ob, "amount": a}],
                          funding=[{"savings_account_id": rd, "amount": a}]), "no válido"),
    }


def test_bad_input_is_refused_in_spanish_and_nothing_is_written(demo) -> None:  # noqa: ANN001
    items = next_items(demo)
    cases = _bad_cases(demo, items)
    before = snapshot()
    for name, (body, message) in cases.items():
        with pytest.raises((PaymentError, PaymentInputError)) as err:
            with session_scope() as session:
                create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), **body)
        assert message in str(err.value), (name, str(err.value))
        assert 400 <= getattr(err.value, "http_status", 422) < 500, name
    assert snapshot() == before


def test_bad_idempotency_key_is_refused(demo) -> None:  # noqa: ANN001
    items = next_items(demo)
    a = items[demo.aportes_id]
    for key in ("", "short", "x" * 65, "<script>alert(1)</script>", None):
        with pytest.raises(PaymentInputError) as err:
            with session_scope() as session:
                create_intent(session, member_id=demo.member_id, idempotency_key=key, kind="payment",  # type: ignore[arg-type]
                              lines=[{"obligation_id": demo.aportes_id, "amount": a}],
                              funding=[{"savings_account_id": demo.rentadiario_id, "amount": a}])
        assert "recargue" in str(err.value)


@pytest.mark.parametrize("typed,message", [("38.000,50", "sin centavos"), ("-38000", "mayor que cero"),
                                           ("0", "mayor que cero"), ("treinta", "numérico")])
def test_otro_valor_as_typed_is_parsed_in_whole_pesos(typed: str, message: str) -> None:
    with pytest.raises(MoneyInputError) as err:
        parse_whole_pesos(typed)
    assert message in str(err.value)
    assert parse_whole_pesos("38.000") == parse_whole_pesos("38,000") == parse_whole_pesos("38000") == Decimal(38000)


def test_requirements_table(demo) -> None:  # noqa: ANN001
    items = next_items(demo)
    a = items[demo.aportes_id]
    good = build_request(kind="payment", lines=[{"obligation_id": demo.aportes_id, "amount": a}],
                         funding=[{"savings_account_id": demo.rentahorrito_id, "amount": a}])
    with session_scope() as session:
        rows = requirements_table(session, demo.member_id, good)
    assert all(r.evaluacion == "Cumple" for r in rows), [r.as_dict() for r in rows]
    codes = {r.code.split(":")[0] for r in rows}
    assert codes == {"cuenta_activa", "saldo", "valor", "en_proceso", "limite_transaccion", "limite_diario"}
    saldo = next(r for r in rows if r.code.startswith("saldo"))
    assert "GMF" in saldo.observacion  # Rentahorrito is not exempt

    # Once an intent for it exists, the obligation shows a payment in progress.
    with session_scope() as session:
        create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                      lines=[{"obligation_id": demo.aportes_id, "amount": a}],
                      funding=[{"savings_account_id": demo.rentadiario_id, "amount": a}])
    with session_scope() as session:
        rows = requirements_table(session, demo.member_id, good)
        failed = [r for r in rows if not r.cumple]
        assert [r.code for r in failed] == [f"en_proceso:{demo.aportes_id}"]
        assert failed[0].evaluacion == "No cumple"
        with pytest.raises(RequirementsNotMet) as err:
            create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                          lines=[{"obligation_id": demo.aportes_id, "amount": a}],
                          funding=[{"savings_account_id": demo.rentadiario_id, "amount": a}])
        assert "en proceso" in err.value.message
        with pytest.raises(NotOwnedError):
            requirements_table(session, demo.other_member_id, good)


def test_daily_limit_counts_todays_payments(demo, monkeypatch) -> None:  # noqa: ANN001
    import dataclasses

    items = next_items(demo)
    a = items[demo.aportes_id]
    settings = dataclasses.replace(get_settings(), payment_max_per_day_cop=a + items[demo.loan_id] - 1)
    with session_scope() as session:
        create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                      lines=[{"obligation_id": demo.aportes_id, "amount": a}],
                      funding=[{"savings_account_id": demo.rentadiario_id, "amount": a}], settings=settings)
    with pytest.raises(RequirementsNotMet) as err:
        with session_scope() as session:
            create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                          lines=[{"obligation_id": demo.loan_id, "amount": items[demo.loan_id]}],
                          funding=[{"savings_account_id": demo.rentadiario_id, "amount": items[demo.loan_id]}],
                          settings=settings)
    assert "límite diario" in err.value.message
