"""Logging a member into the zone in a real browser, on the shuffled on-screen keyboard:
each key is found by its accessible name and clicked, switching "Mayúsculas" as needed."""
from __future__ import annotations

from typing import Any


def key_label(char: str) -> str:
    if char.isdigit():
        return f"número {char}"
    return f"letra {char} {'mayúscula' if char.isupper() else 'minúscula'}"


def click_keys(page: Any, secret: str) -> None:
    for char in secret:
        if char.isalpha():
            shift = page.locator(".vk-shift")
            if (shift.get_attribute("aria-pressed") == "true") != char.isupper():
                shift.click()
        page.get_by_role("button", name=key_label(char), exact=True).click()


def login_member(page: Any, base: str, document: str, secret: str) -> None:
    page.goto(f"{base}/ingresar")
    page.fill("#documento", document)
    page.click("#continuar")
    page.get_by_text("Ingresa tu clave con el teclado virtual").wait_for()
    click_keys(page, secret)
    page.click("#ingresar")
    page.locator("#member-name").wait_for()
