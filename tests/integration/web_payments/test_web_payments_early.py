"""The wizard lets the member choose what a prepayment reduces (Ley 1555 de 2012) and
Verificación says, before "Finalizar", that interest is charged only up to today and the
rest prepays principal with the chosen effect."""
from __future__ import annotations

import html
import re

import pytest

from tests.integration.web_payments import pages

PREPAYMENT_ROW = re.compile(r"Abono a capital — ([^<]+)</td>")


@pytest.mark.parametrize(("mode", "label", "effect"), [
    ("reduce_term", "Reducir el plazo", "se mantiene el valor de la cuota y se reduce el plazo"),
    ("reduce_installment", "Reducir el valor de la cuota", "se mantiene el plazo y se reduce el valor de la cuota"),
])
def test_verification_says_what_the_prepayment_does(member, mode: str, label: str, effect: str) -> None:  # noqa: ANN001
    m = member()
    page = html.unescape(m.verification(
        obligations=[(f"otro_{m.ids.loan}", "300.000"), (f"modo_{m.ids.loan}", mode)],
        funding=[("forma", "debito"), ("cuenta", str(m.ids.rentadiario))]))
    assert PREPAYMENT_ROW.findall(page) == [label]
    note = re.search(r'id="prepago-nota-\d+">([^<]+)</p>', page)
    assert note is not None and "Los intereses se cobran solo hasta hoy" in note.group(1) and effect in note.group(1)
    assert page.index("prepago-nota") < page.index('id="finalizar"')


def test_the_loan_row_offers_the_choice_with_reduce_term_preselected(member) -> None:  # noqa: ANN001
    m = member()
    token = m.csrf()
    assert m.post("/zona/pagos/", [("csrf_token", token), ("tipo", "individual")]).status_code == 303
    page = pages.text(m.get("/zona/pagos/obligaciones"))
    radios = re.findall(rf'<input type="radio" name="modo_{m.ids.loan}" value="(\w+)"[^>]*?(checked)?>', page)
    assert radios == [("reduce_term", "checked"), ("reduce_installment", "")]
