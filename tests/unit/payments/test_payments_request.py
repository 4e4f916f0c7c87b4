"""Normalizing and hashing what the form sent (domain.payment_request)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from domain.payment_request import (
    PaymentInputError,
    check_idempotency_key,
    normalize_request,
    request_amount,
    request_hash,
)


def req(lines, funding, kind="payment", mode=None):  # noqa: ANN001, ANN201
    return normalize_request(kind, lines, funding, mode)


def test_same_form_in_another_order_hashes_the_same() -> None:
    a = req([{"obligation_id": 1, "amount": "3800"}, {"obligation_id": 2, "amount": Decimal("100.50")}],
            [{"savings_account_id": 7, "amount": 3900.50 and Decimal("3900.50")}])
    b = req([{"obligation_id": "2", "amount": "100.5"}, {"obligation_id": 1, "amount": 3800}],
            [{"savings_account_id": "7", "amount": "3900.50"}])
    assert request_hash(a) == request_hash(b)
    assert a.total == Decimal("3900.50")


def test_any_change_changes_the_hash() -> None:
    base = req([{"obligation_id": 1, "amount": "3800"}], [{"savings_account_id": 7, "amount": "3800"}])
    for other in (
        req([{"obligation_id": 1, "amount": "3801"}], [{"savings_account_id": 7, "amount": "3801"}]),
        req([{"obligation_id": 2, "amount": "3800"}], [{"savings_account_id": 7, "amount": "3800"}]),
        req([{"obligation_id": 1, "amount": "3800"}], [{"savings_account_id": 8, "amount": "3800"}]),
        req([{"obligation_id": 1, "amount": "3800"}], [{"savings_account_id": 7, "amount": "3800"}], mode="reduce_term"),
    ):
        assert request_hash(other) != request_hash(base)


@pytest.mark.parametrize("value,message", [
    (Decimal("-1"), "mayor que cero"), (0, "mayor que cero"), ("0.00", "mayor que cero"),
    (1.5, "numérico"), (True, "numérico"), ("1e3x", "numérico"), ("Infinity", "numérico"), ("NaN", "numérico"),
    (Decimal("10.001"), "centavos"), (Decimal("1e13"), "máximo"), ("9" * 30, "numérico"), (None, "numérico"),
])
def test_bad_amounts(value: object, message: str) -> None:
    with pytest.raises(PaymentInputError) as err:
        request_amount(value)
    assert message in str(err.value)


def test_good_amounts() -> None:
    assert request_amount("38000") == Decimal("38000.00")
    assert request_amount(Decimal("1234.5")) == Decimal("1234.50")
    assert request_amount(1) == Decimal("1.00")


@pytest.mark.parametrize("lines,funding,kind,message", [
    ([], [{"savings_account_id": 1, "amount": 1}], "payment", "al menos una"),
    ([{"obligation_id": 1, "amount": 5}], [], "payment", "forma de pago"),
    ([{"obligation_id": 1, "amount": 5}], [{"savings_account_id": 1, "amount": 4}], "payment", "no coincide"),
    ([{"obligation_id": 1, "target_savings_account_id": 2, "amount": 5}], [{"savings_account_id": 1, "amount": 5}],
     "payment", "obligación o una cuenta"),
    ([{"amount": 5}], [{"savings_account_id": 1, "amount": 5}], "payment", "obligación o una cuenta"),
    ([{"obligation_id": -3, "amount": 5}], [{"savings_account_id": 1, "amount": 5}], "payment", "obligación"),
    ([{"obligation_id": "1; drop", "amount": 5}], [{"savings_account_id": 1, "amount": 5}], "payment", "obligación"),
    ([{"target_savings_account_id": 2, "amount": 5}], [{"savings_account_id": 1, "amount": 5}], "payment", "transferencia"),
    ([{"obligation_id": 2, "amount": 5}], [{"savings_account_id": 1, "amount": 5}], "transfer", "transferencia"),
    ([{"target_savings_account_id": 1, "amount": 5}], [{"savings_account_id": 1, "amount": 5}], "transfer", "distintas"),
    ([{"obligation_id": 1, "amount": 5}], [{"savings_account_id": 1, "amount": 2}, {"savings_account_id": 1, "amount": 3}],
     "payment", "dos veces"),
    ([{"obligation_id": 1, "amount": 5}], [{"pse": True, "amount": 5}], "payment", "PSE"),
    ([{"obligation_id": i, "amount": 1} for i in range(1, 50)], [{"savings_account_id": 1, "amount": 49}], "payment",
     "menos obligaciones"),
])
def test_bad_shapes(lines, funding, kind, message) -> None:  # noqa: ANN001
    with pytest.raises(PaymentInputError) as err:
        req(lines, funding, kind)
    assert message in str(err.value)


def test_split_between_accounts_is_one_request() -> None:
    r = req([{"obligation_id": 1, "amount": 100}], [{"savings_account_id": 2, "amount": 60}, {"savings_account_id": 1, "amount": 40}])
    assert r.source_account_ids == (1, 2) and r.total == Decimal("100.00")


@pytest.mark.parametrize("key", ["", "short", "x" * 65, "ab cd efgh", "ñandú-123456", None, 12345678])
def test_bad_idempotency_keys(key: object) -> None:
    with pytest.raises(PaymentInputError):
        check_idempotency_key(key)


def test_good_idempotency_key() -> None:
    assert check_idempotency_key("a" * 32) == "a" * 32


def _pse(**fields: object) -> dict[str, object]:
    return {"pse": True, "amount": 5, "bank_code": "1022", "user_type": 0, **fields}


@pytest.mark.parametrize("funding,message", [
    ([_pse(bank_code=None)], "entidad financiera"),
    ([_pse(bank_code="0")], "entidad financiera"),            # PSE's placeholder row
    ([_pse(bank_code="00000")], "entidad financiera"),
    ([_pse(bank_code="10 22")], "entidad financiera"),
    ([_pse(bank_code="1022<script>")], "entidad financiera"),
    ([_pse(bank_code="12345678901")], "entidad financiera"),
    ([_pse(user_type=None)], "tipo de persona"),
    ([_pse(user_type=2)], "tipo de persona"),
    ([_pse(user_type="natural")], "tipo de persona"),
    ([_pse(user_type=True)], "tipo de persona"),
    ([_pse(savings_account_id=3)], "no lleva cuenta"),
    ([_pse(amount=2), _pse(amount=3, bank_code="1292")], "un débito por PSE"),
    ([_pse(amount=4)], "no coincide"),
])
def test_bad_pse_sources(funding: list[dict[str, object]], message: str) -> None:
    with pytest.raises(PaymentInputError) as err:
        req([{"obligation_id": 1, "amount": 5}], funding)
    assert message in str(err.value)


def test_savings_plus_pse_is_one_request_and_the_bank_and_person_type_are_in_the_hash() -> None:
    mixed = req([{"obligation_id": 1, "amount": 100}],
                [{"savings_account_id": 2, "amount": 60}, _pse(amount=40, user_type="1")])
    assert mixed.uses_pse and mixed.pse_source is not None
    assert (mixed.pse_source.bank_code, mixed.pse_source.user_type, mixed.pse_source.amount) == ("1022", 1, Decimal("40.00"))
    assert [f.savings_account_id for f in mixed.savings_funding] == [2]
    other_bank = req([{"obligation_id": 1, "amount": 100}],
                     [{"savings_account_id": 2, "amount": 60}, _pse(amount=40, user_type=1, bank_code="1292")])
    other_type = req([{"obligation_id": 1, "amount": 100}],
                     [{"savings_account_id": 2, "amount": 60}, _pse(amount=40, user_type=0)])
    assert len({request_hash(mixed), request_hash(other_bank), request_hash(other_type)}) == 3
