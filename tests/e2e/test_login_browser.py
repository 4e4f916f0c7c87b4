"""A real browser, as a new member would: temporary key by e-mail (then by SMS), read
back from the SMTP sink (the SMS gateway's files), typed on the on-screen keyboard, the
data notice, the forced change, image and phrase, the zone, logout, and a second login
that shows the chosen image and phrase before the key is typed.

Real processes on free ports: gunicorn, a Celery worker on the real broker, the SMTP
sink and the development SMS gateway."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select, update

from db.engine import session_scope
from db.models import Credential, Member
from integrations.sms_gateway_dev import read_messages as read_sms
from tests.support.ports import free_port
from tests.e2e.zone_login import click_keys, key_label, login_member
from tests.e2e.zone_stack import zone_stack
from tests.processes import start_web, wait_for, wait_http
from zona_privada.smtp_sink import read_messages as read_mail

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NEW_MEMBER = "52345678"


@pytest.fixture(scope="module")
def stack(database_url: str, state_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with zone_stack(database_url, state_dir, tmp_path_factory.mktemp("e2e-login"), worker_concurrency=1) as running:
        yield running


@pytest.fixture
def new_member(stack: dict[str, Any]) -> None:
    """CC 52345678 as the seed left it: no key, no image, no consent."""
    with session_scope() as db:
        member_id = db.execute(select(Member.id).where(Member.document_number == NEW_MEMBER)).scalar_one()
        db.execute(update(Member).where(Member.id == member_id).values(data_consent_at=None, data_consent_version=None))
        db.execute(update(Credential).where(Credential.member_id == member_id).values(
            password_hash=None, temp_key_hash=None, temp_key_channel=None, temp_key_expires_at=None,
            temp_key_used_at=None, must_change=True, failed_attempts=0, locked_until=None, security_image=None,
            security_phrase=None, last_login_at=None, last_login_ip=None))


# `browser` and `page` come from tests/e2e/conftest.py (one Playwright per session).








def keyboard_only_keys(page: Any, secret: str) -> None:
    """Keyboard alone: focus each key and press Enter (what Tab + Enter does)."""
    for char in secret:
        if char.isalpha():
            shift = page.locator(".vk-shift")
            if (shift.get_attribute("aria-pressed") == "true") != char.isupper():
                shift.focus()
                page.keyboard.press("Enter")
        button = page.get_by_role("button", name=key_label(char), exact=True)
        button.focus()
        page.keyboard.press("Enter")


def enter_document(page: Any, base: str) -> None:
    page.goto(f"{base}/")
    page.click("#zona-privada")
    page.get_by_text("Ingresa tu documento de identidad").wait_for()
    page.select_option("#tipo", "CC")
    page.fill("#documento", NEW_MEMBER)
    page.click("#continuar")
    page.get_by_text("Ingresa tu clave con el teclado virtual").wait_for()


def submit_key_capturing(page: Any, button: str = "#ingresar") -> str:
    with page.expect_request(lambda r: r.method == "POST") as request_info:
        page.click(button)
    return request_info.value.post_data or ""


def assert_no_piece(body: str, secret: str, field: str = "k") -> None:
    assert body.count(f"{field}=") == len(secret), body[:300]
    pieces = {secret[i:i + 2] for i in range(len(secret) - 1)}
    assert not any(p in body for p in pieces), body[:200]
    assert not any(a.isalnum() and b.isalnum() for a, b in zip(body, body[1:]))


def read_temp_key(stack: dict[str, Any], channel: str) -> str:
    if channel == "email":
        def from_mail() -> str | None:
            for m in read_mail(stack["mail_dir"]):
                if m["to"] == "carlos.mejia@example.coop" and "clave temporal" in m["subject"].lower():
                    return re.search(r"es: ([A-Za-z0-9]{8})", m["body"]).group(1)
            return None
        key = wait_for(from_mail, 30, 0.2)
    else:
        def from_sms() -> str | None:
            for m in read_sms(stack["sms_dir"]):
                if m["to"] == "3157654321":
                    return re.search(r"es ([A-Za-z0-9]{8})\.", m["text"]).group(1)
            return None
        key = wait_for(from_sms, 30, 0.2)
    if not key:
        from db.models import OutboxMessage
        from zona_privada.settings import get_settings

        broker = redis.Redis.from_url(get_settings().broker_redis_url)
        with session_scope() as db:
            rows = [(r.id, r.channel, r.status, r.last_error) for r in db.execute(select(OutboxMessage)).scalars()]
        print("DIAG queue", broker.llen("celery"), broker.keys("*"), "outbox", rows)
    assert key, (f"no temporary key arrived by {channel}: mail={read_mail(stack['mail_dir'])} "
                 f"sms={read_sms(stack['sms_dir'])}\nworker:\n{stack['procs'][2].log()}\nsms:\n{stack['procs'][1].log()}"
                 f"\nweb:\n{stack['procs'][3].log()}")
    return key


@pytest.mark.parametrize("channel,new_key,image,phrase", [
    ("email", "Casa7Azul", "pez", "Mi huerta <en paz>"),
    ("sms", "Rio2mar", "colibri", "Cafe de la tarde"),
])
def test_new_member_first_access(stack, new_member, page, channel, new_key, image, phrase) -> None:  # noqa: ANN001
    new_key = new_key[:8]
    base = stack["base"]
    enter_document(page, base)
    page.click("#olvide")
    page.get_by_text("Elige el envío de una clave temporal al celular o correo registrado.").wait_for()
    page.check(f"#canal-{channel}")
    page.click("#enviar-clave")
    page.locator("#temp-key-sent").wait_for()
    temp_key = read_temp_key(stack, channel)

    page.click("#ir-a-ingresar")
    page.fill("#documento", NEW_MEMBER)
    page.click("#continuar")
    page.get_by_text("Ingresa tu clave con el teclado virtual").wait_for()
    if channel == "email":
        click_keys(page, temp_key)
    else:
        keyboard_only_keys(page, temp_key)
    assert page.input_value("#clave") == "\u2022" * len(temp_key)  # the field never holds the key
    body = submit_key_capturing(page)
    assert_no_piece(body, temp_key)

    page.get_by_text("Ley 1581 de 2012").wait_for()
    page.check("#acepto")
    page.click("#aceptar")

    page.get_by_text("Elige una nueva clave que puedas recordar").wait_for()
    rules = page.locator("#password-rules").inner_text()
    assert "Una letra mayúscula" in rules and "Máximo 8 caracteres" in rules
    page.click("#nueva")
    click_keys(page, new_key)
    page.click("#confirma")
    click_keys(page, new_key)
    change_body = submit_key_capturing(page, "#cambiar")
    assert_no_piece(change_body, new_key, "n")

    page.get_by_text("Elige una imagen y una frase de seguridad").wait_for()
    page.check(f"#imagen-{image}")
    page.fill("#frase", phrase)
    page.click("#continuar")
    page.locator("#member-name").wait_for()
    assert page.locator("#member-name").inner_text() == "Carlos Andrés Mejía Ospina"
    assert "65 meses" in page.content() and "Mis productos y servicios" in page.content()

    page.click("#salir")
    page.get_by_text("Saliste de la zona privada").wait_for()
    assert page.goto(f"{base}/zona/").url.startswith(f"{base}/ingresar")

    # Again: the chosen image and phrase appear before the key is typed.
    page.fill("#documento", NEW_MEMBER)
    page.click("#continuar")
    page.locator("#security-image").wait_for()
    assert page.locator("#security-image").get_attribute("data-image") == image
    assert page.locator("#security-phrase").inner_text() == phrase
    page.click("#clave")
    page.keyboard.type(new_key)  # the physical keyboard, for accessibility and password managers
    assert page.input_value("#clave") == "\u2022" * len(new_key)
    page.keyboard.press("Enter")
    page.locator("#member-name").wait_for()
    assert "Último ingreso" in page.locator("#last-access").inner_text()
    page.click("#mis-eventos")
    events = page.locator("#security-events").inner_text()
    for label in ("Ingreso exitoso", "Cambio de clave", "Clave temporal enviada", "Salida de la zona privada"):
        assert label in events




def test_idle_warning(stack, page) -> None:  # noqa: ANN001
    """A web with an 8-second idle limit: the warning shows a moment before, "Seguir
    conectado" renews, then idleness ends the session."""
    idle_s, warning_s = 8, 5
    port = free_port()
    env = dict(stack["env"], ZONA_SESSION_IDLE_TIMEOUT_S=str(idle_s), ZONA_SESSION_IDLE_WARNING_S=str(warning_s))
    web = start_web(env, stack["logs"], port, workers=1)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_http(f"{base}/ingresar", 30) == 200, web.log()
        member, secret = "1077227777", stack["creds"]["1077227777"]
        login_member(page, base, member, secret)
        dialog = page.locator("#session-warning")
        dialog.wait_for(state="visible", timeout=(idle_s + 2) * 1000)
        page.click("#session-continue")
        dialog.wait_for(state="hidden")
        assert "/zona/" in page.url
        page.wait_for_url(re.compile(r".*/ingresar\?sesion=idle$"), timeout=(idle_s + 4) * 1000)
        assert "inactividad" in page.content()

    finally:
        web.stop()


def test_second_login_ends_the_first(stack, browser, page) -> None:  # noqa: ANN001
    base, member, secret = stack["base"], "1077227777", stack["creds"]["1077227777"]
    login_member(page, base, member, secret)
    other = browser.new_context(locale="es-CO").new_page()
    try:
        login_member(other, base, member, secret)
        page.goto(f"{base}/zona/")
        page.locator("#session-notice").wait_for()
        assert "otro navegador" in page.locator("#session-notice").inner_text()
        other.goto(f"{base}/zona/")
        assert other.locator("#member-name").is_visible()
    finally:
        other.context.close()
