"""Speaking to the payment pages as a browser does, for the tests: logging in on the
on-screen keyboard (tokens read from the page), the hidden fields, and walking the wizard."""
from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from typing import Any

DEMO = "1077227777"
OTHER = "52345678"
_KEY = re.compile(r'<button type="button" class="vk-key" data-c="([^"]+)" data-t="([^"]+)"')


def field(page: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    if match is None:
        raise AssertionError(f"no field {name!r} in page")
    return html_lib.unescape(match.group(1))


def keyboard_pairs(page: str, secret: str) -> list[tuple[str, str]]:
    """The pairs the keyboard form posts when `secret` is typed: one unused token per key."""
    tokens = {m.group(1): m.group(2).split() for m in _KEY.finditer(page)}
    pairs = [("c", field(page, "c")), ("f", field(page, "f"))]
    pairs += [("k", tokens[char].pop(0)) for char in secret]
    return pairs


def text(response: Any) -> str:
    """Body of a Flask test response or a `requests` response."""
    return response.get_data(as_text=True) if hasattr(response, "get_data") else response.text


def status(response: Any) -> int:
    return response.status_code


def login(get: Callable[..., Any], post: Callable[..., Any], document: str, password: str) -> None:
    """`get(path)` / `post(path, data)` of a client that keeps cookies, not following redirects."""
    page = text(get("/ingresar"))
    response = post("/ingresar", [("csrf_token", field(page, "csrf_token")), ("tipo", "CC"), ("documento", document)])
    assert status(response) == 303, text(response)[:300]
    key_page = text(get("/ingresar/clave"))
    response = post("/ingresar/clave", keyboard_pairs(key_page, password))
    assert status(response) == 303, text(response)[:300]
    assert "/zona" in response.headers["Location"], response.headers["Location"]


def csrf(get: Callable[..., Any], path: str = "/zona/pagos/") -> str:
    return field(text(get(path)), "csrf_token")


def walk_to_verification(get: Callable[..., Any], post: Callable[..., Any], *, obligations: list[tuple[str, str]],
                         funding: list[tuple[str, str]], tipo: str = "individual") -> str:
    """Tipo de Pago → Obligaciones → Formas de Pago → Requisitos → Verificación; returns
    the verification page."""
    token = csrf(get)
    for path, pairs in (("/zona/pagos/", [("tipo", tipo)]), ("/zona/pagos/obligaciones", obligations),
                        ("/zona/pagos/formas-de-pago", funding)):
        response = post(path, [("csrf_token", token)] + pairs)
        assert status(response) == 303, (path, status(response), text(response)[:2000])
    requirements = get("/zona/pagos/requisitos")
    assert status(requirements) == 200 and 'id="requisitos-no-cumple"' not in text(requirements), text(requirements)
    page = get("/zona/pagos/verificacion")
    assert status(page) == 200, text(page)[:500]
    return text(page)


def finish_pairs(verification_page: str, **override: str) -> list[tuple[str, str]]:
    values = {name: field(verification_page, name) for name in ("csrf_token", "clave", "resumen", "total")}
    values.update(override)
    return list(values.items())
