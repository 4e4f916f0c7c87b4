"""The pure parts of statements and certificates: the period and tax year typed by the
member, verification codes, and the masks the public verification page shows."""
from __future__ import annotations

from datetime import date

import pytest

from domain.document_codes import new_code, normalize_code
from domain.masking import mask_document, mask_name
from domain.statement_period import Period, PeriodError, default_period, parse_period, parse_year

TODAY = date(2026, 12, 3)


def test_empty_fields_are_the_last_twelve_months() -> None:
    assert parse_period("", None, TODAY) == default_period(TODAY) == Period(date(2025, 12, 3), TODAY)


@pytest.mark.parametrize("start, end, message", [
    ("2026-02-30", "", "fecha inicial no es válida"),
    ("", "03/12/2026", "fecha final no es válida"),
    ("2026-06-01", "2026-05-31", "anterior o igual"),
    ("1999-12-31", "2000-01-10", "deben estar entre"),
    ("2026-12-01", "2026-12-04", "deben estar entre"),
    ("2020-01-01", "2026-01-01", "mayor a 36 meses"),
])
def test_bad_periods_say_why_in_spanish(start: str, end: str, message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        parse_period(start, end, TODAY)


def test_one_day_and_thirty_six_months_are_periods() -> None:
    assert parse_period("2026-12-03", "2026-12-03", TODAY).label == "03/12/2026 a 03/12/2026"
    assert parse_period("2023-12-03", "2026-12-03", TODAY).start == date(2023, 12, 3)


@pytest.mark.parametrize("text", ["", "abc", "1999", "2026", "2027", "12.5"])
def test_tax_year_must_be_a_closed_year(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_year(text, TODAY)


def test_tax_year_accepts_last_year() -> None:
    assert parse_year(" 2025 ", TODAY) == 2025


def test_codes_are_random_and_read_back_however_typed() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    code = codes.pop()
    assert normalize_code(code) == code
    assert normalize_code(code.lower().replace("-", " ")) == code
    assert normalize_code(code[3:].replace("-", "")) == code
    for bad in ("", "ZP-1234", "ZP-IIII-OOOO-LLLL", "<script>alert(1)</script>", "ZP-1234-5678-9ABC-DEFG"):
        assert normalize_code(bad) is None, bad


def test_masks_show_enough_to_recognise_not_to_use() -> None:
    assert mask_name("María Fernanda Rojas Gutiérrez") == "Ma*** Fe****** Ro*** Gu*******"
    assert mask_name("Al Li") == "Al* Li*"
    assert mask_document("CC", "1077227777") == "CC ******7777"
    assert mask_document("CE", "123") == "CE ***"
