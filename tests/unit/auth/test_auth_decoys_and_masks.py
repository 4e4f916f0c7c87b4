"""Decoys are stable per number, secret-dependent, and shaped like the real thing."""
from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from domain.decoys import decoy_for
from domain.masking import mask_email, mask_mobile

IMAGES = ("colibri", "cafe", "montana", "sol", "luna", "arbol", "flor", "casa", "barco", "estrella", "corazon", "llave")
MOBILE_MASK = re.compile(r"3\d\d\*{5}\d\d")
EMAIL_MASK = re.compile(r"[^@*]{1,2}\*{3,}@[^@*]\*{3,}\.[a-z.]+")


def test_masks() -> None:
    assert mask_mobile("3104567890") == "310*****90"
    assert mask_email("maria.rojas@example.coop") == "ma*********@e******.coop"
    assert mask_email("ana@x.co") == "a***@x***.co"
    assert mask_email("no-at-sign") == "********"
    assert mask_mobile("12") == "****"


@given(st.text(alphabet="0123456789", min_size=3, max_size=15))
def test_decoy_stable_and_shaped_like_real_masks(number: str) -> None:
    first = decoy_for("secret-1", "CC", number, IMAGES)
    assert first == decoy_for("secret-1", "CC", number, IMAGES)
    assert first.image in IMAGES and 3 <= len(first.phrase) <= 40
    assert MOBILE_MASK.fullmatch(first.masked_mobile)
    assert EMAIL_MASK.fullmatch(first.masked_email), first.masked_email
    assert MOBILE_MASK.fullmatch(mask_mobile("3157654321"))
    assert EMAIL_MASK.fullmatch(mask_email("carlos.mejia@example.coop"))


def test_decoy_depends_on_secret_and_number() -> None:
    numbers = [str(80000000 + i) for i in range(40)]
    by_secret_a = {decoy_for("a", "CC", n, IMAGES) for n in numbers}
    assert len({d.phrase for d in by_secret_a}) > 30 and len({d.image for d in by_secret_a}) > 6
    assert sum(decoy_for("a", "CC", n, IMAGES) != decoy_for("b", "CC", n, IMAGES) for n in numbers) > 35
    # The document type is part of the input: CC 123 and CE 123 are different people.
    assert sum(decoy_for("a", "CC", n, IMAGES) != decoy_for("a", "CE", n, IMAGES) for n in numbers) > 35
