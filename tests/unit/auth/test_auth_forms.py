"""Form checks only ever answer with a Spanish FormError, whatever they are given."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.auth import forms


@pytest.mark.parametrize("raw,doc_type,expected", [
    ("1077227777", "CC", "1077227777"), (" 1.077.227.777 ", "CC", "1077227777"), ("ab12345", "PA", "AB12345"),
])
def test_document_number_accepts(raw: str, doc_type: str, expected: str) -> None:
    assert forms.document_number(raw, doc_type) == expected


@pytest.mark.parametrize("raw", ["", "  ", "12", "1" * 16, "x" * 10_000, "１２３４５６", "<b>123</b>", "123' OR 1=1",
                                 "12 34\x00", "١٢٣٤٥"])
def test_document_number_refuses(raw: str) -> None:
    with pytest.raises(forms.FormError) as err:
        forms.document_number(raw, "CC")
    assert err.value.message.startswith(("Ingresa", "El número"))


@given(st.text(max_size=300), st.sampled_from(list(forms.DOCUMENT_TYPE_LABELS)))
def test_document_number_never_raises_anything_else(raw: str, doc_type: str) -> None:
    try:
        value = forms.document_number(raw, doc_type)
    except forms.FormError:
        return
    assert value.isascii() and value.isalnum() and 3 <= len(value) <= 15


@given(st.text(max_size=200))
def test_phrase_is_bounded_or_refused(raw: str) -> None:
    try:
        value = forms.security_phrase(raw)
    except forms.FormError as err:
        assert "frase" in err.message
        return
    assert forms.PHRASE_MIN <= len(value) <= forms.PHRASE_MAX and value == value.strip()


def test_channel_and_type() -> None:
    assert forms.channel("sms") == "sms" and forms.document_type("cc") == "CC"
    for bad in ("", "SMS", "fax", "x" * 10_000, "sms\x00"):
        with pytest.raises(forms.FormError):
            forms.channel(bad)
    with pytest.raises(forms.FormError):
        forms.document_type("<script>")
