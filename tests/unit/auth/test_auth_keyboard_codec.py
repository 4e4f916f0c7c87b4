"""The on-screen keyboard's codec: tokens decode only with their own page load, once."""
from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.auth import keyboard

PASSWORDS = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=8)


def type_on(kb: keyboard.Keyboard, text: str) -> list[str]:
    pools = {c: kb.tokens(c) for c in keyboard.CHARACTERS}
    return [pools[c].pop(0) for c in text]


@given(st.binary(max_size=64))
def test_symbols_round_trip(data: bytes) -> None:
    encoded = keyboard.encode_symbols(data)
    assert set(encoded) <= set(keyboard.SYMBOLS)
    assert keyboard.decode_symbols(encoded) == data


@pytest.mark.parametrize("bad", ["*", "abcd", "*-._a", "😀😀😀😀"])
def test_decode_symbols_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        keyboard.decode_symbols(bad)


@settings(max_examples=50, deadline=None)
@given(PASSWORDS)
def test_typed_password_decodes_and_shares_nothing_with_another_load(password: str) -> None:
    first, second = keyboard.new_keyboard(8), keyboard.new_keyboard(8)
    tokens_1, tokens_2 = type_on(first, password), type_on(second, password)
    assert keyboard.decode(first.seed, 8, [tokens_1], max_chars=8) == [password]
    assert not set(tokens_1) & set(tokens_2)
    assert len(set(tokens_1)) == len(tokens_1)  # repeated characters too
    posted = "&".join(f"k={t}" for t in tokens_1)
    assert not any(a.isalnum() and b.isalnum() for a, b in zip(posted, posted[1:]))
    with pytest.raises(keyboard.KeyboardError):
        keyboard.decode(second.seed, 8, [tokens_1], max_chars=8)


def test_decode_refuses_reuse_unknown_and_too_many() -> None:
    kb = keyboard.new_keyboard(4)
    tokens = type_on(kb, "Ab1")
    with pytest.raises(keyboard.KeyboardError):
        keyboard.decode(kb.seed, 4, [tokens + tokens[:1]], max_chars=8)
    with pytest.raises(keyboard.KeyboardError):
        keyboard.decode(kb.seed, 4, [tokens[:1], tokens[:1]], max_chars=8)  # across fields too
    with pytest.raises(keyboard.KeyboardError):
        keyboard.decode(kb.seed, 4, [["*-._" * 12]], max_chars=8)
    with pytest.raises(keyboard.KeyboardError):
        keyboard.decode(kb.seed, 4, [type_on(kb, "aaaa") + type_on(kb, "b")], max_chars=4)


def test_layout_is_shuffled_and_complete() -> None:
    layouts = {keyboard.new_keyboard(1).letters for _ in range(5)}
    assert len(layouts) > 1
    kb = keyboard.new_keyboard(1)
    assert sorted(kb.digits) == list(string.digits) and sorted(kb.letters) == list(string.ascii_lowercase)
