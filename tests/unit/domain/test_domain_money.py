import contextlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import (
    CENT,
    GMF_RATE,
    MoneyInputError,
    format_cop,
    gmf,
    parse_whole_pesos,
    to_money,
)


def test_to_money_rounds_half_up_to_cents() -> None:
    assert Decimal("0.01") == CENT
    assert to_money(Decimal("1.005")) == Decimal("1.01")
    assert to_money(Decimal("1.004")) == Decimal("1.00")
    assert to_money(Decimal("-1.005")) == Decimal("-1.01")
    assert to_money(38000) == Decimal("38000.00")
    assert to_money("3800") == Decimal("3800.00")


def test_to_money_refuses_float() -> None:
    with pytest.raises(TypeError):
        to_money(0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ["38000", "38.000", "38,000", "$38.000", " 38 000 ", "$ 38,000", "$38000", "038000", "38\u00a0000"],
)
def test_parse_whole_pesos_reads_what_members_type(text: str) -> None:
    assert parse_whole_pesos(text) == Decimal("38000")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("$34,200.00", "34200"), ("34,200.00", "34200"), ("$ 3.800,00", "3800"), ("3.800,00", "3800"),
     ("38000,0", "38000"), ("$3,500,000.00", "3500000")],
)
def test_parse_whole_pesos_takes_the_amount_as_the_app_shows_it(text: str, expected: str) -> None:
    """"$34,200.00" pasted from the app into "Otro valor" was refused as centavos: zero
    centavos are no centavos."""
    assert parse_whole_pesos(text) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3.500.000", "3500000"), ("3,500,000", "3500000"), ("1", "1"), ("999", "999"), ("1.000", "1000")],
)
def test_parse_whole_pesos_thousands_groups(text: str, expected: str) -> None:
    assert parse_whole_pesos(text) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Ingrese un valor"),
        ("   ", "Ingrese un valor"),
        ("38.000,50", "Ingrese el valor en pesos, sin centavos"),
        ("38000.5", "Ingrese el valor en pesos, sin centavos"),
        ("38000,50", "Ingrese el valor en pesos, sin centavos"),
        ("abc", "Ingrese un valor numérico válido"),
        ("38.00.0", "Ingrese un valor numérico válido"),
        ("38.000.50", "Ingrese un valor numérico válido"),
        ("38 50", "Ingrese un valor numérico válido"),
        ("38,000.50", "Ingrese el valor en pesos, sin centavos"),
        ("$38.000,5", "Ingrese el valor en pesos, sin centavos"),
        ("38.0000", "Ingrese un valor numérico válido"),
        ("1.234,567", "Ingrese un valor numérico válido"),
        ("1234.567", "Ingrese un valor numérico válido"),
        ("38..000", "Ingrese un valor numérico válido"),
        ("38.", "Ingrese un valor numérico válido"),
        (".500", "Ingrese un valor numérico válido"),
        ("1e5", "Ingrese un valor numérico válido"),
        ("NaN", "Ingrese un valor numérico válido"),
        ("Infinity", "Ingrese un valor numérico válido"),
        ("<b>38000</b>", "Ingrese un valor numérico válido"),
        ("\u0663\u0668\u0660\u0660\u0660", "Ingrese un valor numérico válido"),  # Arabic-Indic digits
        ("３８０００", "Ingrese un valor numérico válido"),  # full-width digits
        ("$", "Ingrese un valor numérico válido"),
        ("+38000", "Ingrese un valor numérico válido"),
        ("1" * 41, "Ingrese un valor numérico válido"),
        ("-38000", "El valor debe ser mayor que cero"),
        ("-$38.000", "El valor debe ser mayor que cero"),
        ("$-38.000", "El valor debe ser mayor que cero"),
        ("0", "El valor debe ser mayor que cero"),
        ("0.000", "El valor debe ser mayor que cero"),
        ("1.000.000.000.000", "El valor excede el máximo permitido"),
    ],
)
def test_parse_whole_pesos_refusals_speak_spanish(text: str, message: str) -> None:
    with pytest.raises(MoneyInputError) as caught:
        parse_whole_pesos(text)
    assert str(caught.value) == message


def test_parse_whole_pesos_custom_maximum() -> None:
    assert parse_whole_pesos("50.000", max_cop=Decimal("50000")) == Decimal("50000")
    with pytest.raises(MoneyInputError, match="excede"):
        parse_whole_pesos("50.001", max_cop=Decimal("50000"))


def test_money_input_error_is_a_value_error() -> None:
    assert issubclass(MoneyInputError, ValueError)


@given(st.text())
def test_parse_whole_pesos_only_ever_raises_money_input_error(text: str) -> None:
    try:
        value = parse_whole_pesos(text)
    except MoneyInputError as err:
        assert str(err)
    else:
        assert value > 0 and value == value.to_integral_value()


@given(st.text(alphabet="0123456789.,$ -", max_size=45))
def test_parse_whole_pesos_numberish_text_only_raises_money_input_error(text: str) -> None:
    with contextlib.suppress(MoneyInputError):
        parse_whole_pesos(text)


@given(st.integers(min_value=1, max_value=999_999_999_999))
def test_parse_whole_pesos_round_trips_both_group_styles(value: int) -> None:
    assert parse_whole_pesos(f"{value:,}") == value
    assert parse_whole_pesos(f"${value:,}".replace(",", ".")) == value
    assert parse_whole_pesos(str(value)) == value


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("3500000", "$3,500,000.00"),
        ("5000000", "$5,000,000.00"),
        ("3327104", "$3,327,104.00"),
        ("3800", "$3,800.00"),
        ("34200", "$34,200.00"),
        ("38", "$38.00"),
        ("0", "$0.00"),
        ("-0.001", "$0.00"),
        ("-3800", "-$3,800.00"),
        ("1234.565", "$1,234.57"),
    ],
)
def test_format_cop_matches_the_manual(amount: str, shown: str) -> None:
    assert format_cop(Decimal(amount)) == shown


def test_gmf_is_four_per_thousand_in_whole_pesos() -> None:
    assert Decimal("0.004") == GMF_RATE
    assert gmf(Decimal("1000000")) == Decimal("4000")
    assert gmf(Decimal("38000")) == Decimal("152")
    assert gmf(Decimal("3800")) == Decimal("15")  # 15.2
    assert gmf(Decimal("125")) == Decimal("1")  # 0.5 rounds half up
    assert gmf(Decimal("124")) == Decimal("0")
    assert gmf(Decimal("0")) == Decimal("0")


def test_gmf_refuses_negative_amount() -> None:
    with pytest.raises(ValueError):
        gmf(Decimal("-1"))
