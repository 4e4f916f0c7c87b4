"""Reading the login pages as a browser would, for tests and the bench: the keyboard's
tokens, the hidden fields, and a form body encoded the way a browser encodes it."""
from __future__ import annotations

import html as html_lib
import re
import urllib.parse

_KEY = re.compile(r'<button type="button" class="vk-key" data-c="([^"]+)" data-t="([^"]+)"')
_HIDDEN = r'name="{name}" value="([^"]*)"'


def keyboard_tokens(page: str) -> dict[str, list[str]]:
    return {m.group(1): m.group(2).split() for m in _KEY.finditer(page)}


def field(page: str, name: str) -> str:
    match = re.search(_HIDDEN.format(name=re.escape(name)), page)
    if match is None:
        raise AssertionError(f"no field {name!r} in page")
    return html_lib.unescape(match.group(1))


def text_of(page: str, element_id: str) -> str:
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*>(.*?)<', page, re.S)
    if match is None:
        raise AssertionError(f"no element #{element_id}")
    return html_lib.unescape(match.group(1)).strip()


def image_of(page: str) -> str:
    match = re.search(r'data-image="([^"]+)"', page)
    assert match, "no security image"
    return match.group(1)


def typed(page: str, **fields: str) -> list[tuple[str, str]]:
    """The pairs a keyboard form posts when `fields` (name → text) are typed on it."""
    tokens = keyboard_tokens(page)
    pairs = [("c", field(page, "c")), ("f", field(page, "f"))]
    for name, text in fields.items():
        for char in text:
            pairs.append((name, tokens[char].pop(0)))
    return pairs


def browser_body(pairs: list[tuple[str, str]]) -> str:
    """application/x-www-form-urlencoded as browsers write it (`*-._` stay as they are)."""
    return urllib.parse.urlencode(pairs, safe="*")


def bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}
