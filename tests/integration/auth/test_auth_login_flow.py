"""The login as the manual describes it, through the real app, PostgreSQL and Redis."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from db.engine import session_scope
from db.models import AuditEvent, Credential, Member, OutboxMessage
from domain.hashing import verify_secret
from integrations.sms_gateway_dev import read_messages as read_sms
from tests.integration.auth import auth_pages
from tests.support.payments import DEMO_DOCUMENT as DOC_MEMBER, OTHER_DOCUMENT as DOC_NEW_MEMBER
from zona_privada.smtp_sink import read_messages as read_mail

pytestmark = pytest.mark.integration


def credential(document: str) -> Credential:
    with session_scope() as db:
        member_id = db.execute(select(Member.id).where(Member.document_number == document)).scalar_one()
        return db.get(Credential, member_id)


def kinds(document: str | None = None) -> list[str]:
    with session_scope() as db:
        query = select(AuditEvent.kind).order_by(AuditEvent.id)
        if document:
            member_id = db.execute(select(Member.id).where(Member.document_number == document)).scalar_one()
            query = query.where(AuditEvent.member_id == member_id)
        return list(db.execute(query).scalars())


def temp_key_from_mail(mail_dir, to: str) -> str:  # noqa: ANN001
    messages = [m for m in read_mail(mail_dir) if m["to"] == to and "clave temporal" in m["subject"].lower()]
    assert messages, read_mail(mail_dir)
    return re.search(r"es: ([A-Za-z0-9]{8})", messages[-1]["body"]).group(1)


def test_home_links_to_login(make_app, browserish) -> None:  # noqa: ANN001
    client = browserish(make_app())
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'id="zona-privada" href="/ingresar"', page)
    login = client.get("/ingresar").get_data(as_text=True)
    assert "Ingresa tu documento de identidad" in login


def test_member_logs_in_and_sees_header(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    client = browserish(make_app())
    client.trust_device(DOC_MEMBER)  # the image and phrase show on a device used before
    step2 = client.step1(DOC_MEMBER)
    assert auth_pages.image_of(step2) == "colibri"
    assert auth_pages.text_of(step2, "security-phrase") == "Mi cooperativa, mi futuro"
    assert "Ingresa tu clave con el teclado virtual" in step2 and "Olvidé mi clave" in step2
    response = client.type_key(step2, demo_creds[DOC_MEMBER])
    assert response.status_code == 303 and response.headers["Location"] == "/zona/"
    zone = client.get("/zona/").get_data(as_text=True)
    for text in ("María Fernanda Rojas Gutiérrez", "CC 1077227777", "218-COOPERATIVA ALIANZA", "$3,500,000.00",
                 "$3,327,104.00", "39 meses", "Mis productos y servicios", "Certificaciones y descargas",
                 "Pagos y Transferencias", "Mis Datos Personales", "Estado de cuenta", "primer ingreso"):
        assert text in zone, text
    personal = client.get("/zona/datos-personales/").get_data(as_text=True)
    assert "María Fernanda Rojas Gutiérrez" in personal and "Ley 1581 de 2012" in personal
    assert kinds(DOC_MEMBER) == ["login_succeeded"]

    # The second login shows the first one's date, time and IP.
    client.post_form("/salir", [("csrf_token", auth_pages.field(zone, "csrf_token"))])
    client.login(DOC_MEMBER, demo_creds[DOC_MEMBER])
    zone = client.get("/zona/").get_data(as_text=True)
    assert re.search(r"Último ingreso: \d\d/\d\d/\d{4} a las \d\d:\d\d \(hora de Bogotá\) desde la IP 127\.0\.0\.1", zone)
    events = client.get("/zona/seguridad").get_data(as_text=True)
    assert "Ingreso exitoso" in events and "Salida de la zona privada" in events


def test_wrong_key_message_does_not_say_which_part(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    client = browserish(make_app())
    member = client.type_key(client.step1(DOC_MEMBER), "Zz9Zz9")
    stranger = client.type_key(client.step1("99887766"), "Zz9Zz9")
    assert member.status_code == stranger.status_code == 401
    for response in (member, stranger):
        text = response.get_data(as_text=True)
        assert "Los datos de ingreso no son correctos. Verifica tu documento y tu clave" in text
    assert credential(DOC_MEMBER).failed_attempts == 1


def test_decoy_is_stable_and_nothing_is_sent_for_unknown_number(make_app, browserish, sinks) -> None:  # noqa: ANN001
    app = make_app()
    first, second = browserish(app), browserish(app)
    pages = [first.step1("80123456"), second.step1("80123456"), first.step1("80123456")]
    # No image or phrase on a new device, for anyone: the step asks for a code first; the
    # masks offered for it are the same decoy every time.
    assert all('id="device-check"' in p and "data-image" not in p for p in pages)
    shown = {tuple(re.findall(r'<span class="mask">([^<]+)</span>', p)) for p in pages}
    assert len(shown) == 1 and len(next(iter(shown))) == 2
    # A member on a new device gets the very same step (with the member's own masks).
    new_member = browserish(app).step1(DOC_NEW_MEMBER)
    assert 'id="device-check"' in new_member and "data-image" not in new_member

    temp_page = first.get("/ingresar/clave-temporal").get_data(as_text=True)
    masks = re.findall(r'<span class="mask">([^<]+)</span>', temp_page)
    assert len(masks) == 2 and re.fullmatch(r"3\d\d\*{5}\d\d", masks[0]) and "@" in masks[1]
    again = second.get("/ingresar/clave-temporal").get_data(as_text=True)
    assert re.findall(r'<span class="mask">([^<]+)</span>', again) == masks
    response = first.post_form("/ingresar/clave-temporal",
                               [("csrf_token", auth_pages.field(temp_page, "csrf_token")), ("canal", "email")])
    assert response.status_code == 200
    assert "enviamos una clave temporal" in response.get_data(as_text=True)
    with session_scope() as db:
        assert db.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 0
    assert read_mail(sinks["mail_dir"]) == [] and read_sms(sinks["sms_dir"]) == []
    assert kinds().count("temp_key_requested") == 1


def test_decoys_differ_between_numbers(make_app, browserish) -> None:  # noqa: ANN001
    app = make_app()
    shown = set()
    for number in ("80000001", "80000002", "80000003", "80000004", "80000005", "80000006"):
        page = browserish(app).step1(number)
        shown.add(tuple(re.findall(r'<span class="mask">([^<]+)</span>', page)))
    assert len(shown) >= 5


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_first_access_with_temporary_key(make_app, browserish, sinks, channel) -> None:  # noqa: ANN001
    client = browserish(make_app())
    client.step1(DOC_NEW_MEMBER)
    temp_page = client.get("/ingresar/clave-temporal").get_data(as_text=True)
    assert "315*****21" in temp_page and "ca**********@e******.coop" in temp_page
    response = client.post_form("/ingresar/clave-temporal",
                                [("csrf_token", auth_pages.field(temp_page, "csrf_token")), ("canal", channel)])
    assert response.status_code == 200 and "Ir a ingresar el usuario" in response.get_data(as_text=True)
    if channel == "email":
        key = temp_key_from_mail(sinks["mail_dir"], "carlos.mejia@example.coop")
    else:
        sms = read_sms(sinks["sms_dir"])
        assert sms and sms[-1]["to"] == "3157654321"
        key = re.search(r"es ([A-Za-z0-9]{8})\.", sms[-1]["text"]).group(1)
    cred = credential(DOC_NEW_MEMBER)
    assert cred.temp_key_hash and key not in cred.temp_key_hash and verify_secret(cred.temp_key_hash, key)
    with session_scope() as db:  # the key never reaches the database in clear
        bodies = db.execute(select(OutboxMessage.body)).scalars().all()
        assert bodies and all(key not in b and "[[CLAVE]]" in b for b in bodies)
        assert db.execute(select(OutboxMessage.status)).scalars().all() == ["sent"]

    response = client.login(DOC_NEW_MEMBER, key)
    assert response.headers["Location"] == "/ingresar/aviso-datos"
    assert client.get("/zona/").headers["Location"] == "/ingresar/aviso-datos"  # not in yet
    consent = client.get("/ingresar/aviso-datos").get_data(as_text=True)
    assert "Ley 1581 de 2012" in consent
    refused = client.post_form("/ingresar/aviso-datos", [("csrf_token", auth_pages.field(consent, "csrf_token"))])
    assert refused.status_code == 422 and "debes aceptar" in refused.get_data(as_text=True)
    accepted = client.post_form("/ingresar/aviso-datos",
                                [("csrf_token", auth_pages.field(consent, "csrf_token")), ("acepto", "si")])
    assert accepted.headers["Location"] == "/ingresar/cambiar-clave"

    # The policy: not the temporary key, not the document number, the manual's rules.
    for bad, message in ((key, "no puede ser igual a la clave temporal"), ("abc", "Una letra mayúscula"),
                         ("Abcdefghi1", "Máximo 8 caracteres"), ("Ab1", "Mínimo 4 caracteres")):
        page = client.get("/ingresar/cambiar-clave").get_data(as_text=True)
        response = client.post_form("/ingresar/cambiar-clave", auth_pages.typed(page, n=bad, r=bad))
        assert response.status_code == 422 and message in response.get_data(as_text=True), bad
    page = client.get("/ingresar/cambiar-clave").get_data(as_text=True)
    mismatch = client.post_form("/ingresar/cambiar-clave", auth_pages.typed(page, n="Nueva7x", r="Nueva7y"))
    assert mismatch.status_code == 422 and "no coincide" in mismatch.get_data(as_text=True)
    page = client.get("/ingresar/cambiar-clave").get_data(as_text=True)
    changed = client.post_form("/ingresar/cambiar-clave", auth_pages.typed(page, n="Nueva7x", r="Nueva7x"))
    assert changed.headers["Location"] == "/ingresar/seguridad"

    choice = client.get("/ingresar/seguridad").get_data(as_text=True)
    assert len(re.findall(r'name="imagen"', choice)) >= 12
    phrase = "<b>Mi huerta</b> & 'café'"
    done = client.post_form("/ingresar/seguridad", [("csrf_token", auth_pages.field(choice, "csrf_token")),
                                                    ("imagen", "pez"), ("frase", phrase)])
    assert done.headers["Location"] == "/zona/"
    assert "Carlos Andrés Mejía Ospina" in client.get("/zona/").get_data(as_text=True)

    # The temporary key served once; the new key and the chosen image and phrase now rule.
    other = browserish(client.client.application)
    other.client.set_cookie("zp_dispositivo", client.device_cookie())  # the same device: its login made it known
    assert other.login(DOC_NEW_MEMBER, key).status_code == 401
    step2 = other.step1(DOC_NEW_MEMBER)
    assert auth_pages.image_of(step2) == "pez"
    assert "&lt;b&gt;Mi huerta&lt;/b&gt; &amp; &#39;café&#39;" in step2 and "<b>Mi huerta" not in step2
    assert other.type_key(step2, "Nueva7x").headers["Location"] == "/zona/"
    assert kinds(DOC_NEW_MEMBER) == [
        "temp_key_requested", "temp_key_sent", "login_succeeded", "data_consent_accepted", "password_changed",
        "security_choice_changed", "login_failed", "login_succeeded", "session_replaced",
    ]
    notices = [m["subject"] for m in read_mail(sinks["mail_dir"])]
    assert "Cambio de clave en la Zona Privada" in notices


def test_temporary_key_expires(make_app, browserish, sinks) -> None:  # noqa: ANN001
    from datetime import datetime, timedelta, timezone

    client = browserish(make_app())
    client.step1(DOC_NEW_MEMBER)
    page = client.get("/ingresar/clave-temporal").get_data(as_text=True)
    client.post_form("/ingresar/clave-temporal", [("csrf_token", auth_pages.field(page, "csrf_token")), ("canal", "email")])
    key = temp_key_from_mail(sinks["mail_dir"], "carlos.mejia@example.coop")
    with session_scope() as db:
        cred = db.get(Credential, credential(DOC_NEW_MEMBER).member_id)
        cred.temp_key_expires_at = datetime.now(timezone.utc) - timedelta(seconds=1)
    assert client.login(DOC_NEW_MEMBER, key).status_code == 401


def test_temporary_key_requests_are_limited(make_app, browserish) -> None:  # noqa: ANN001
    client = browserish(make_app(ZONA_TEMP_KEY_DOCUMENT_LIMIT=2, ZONA_TEMP_KEY_IP_LIMIT=3))
    statuses = []
    for number in (DOC_NEW_MEMBER, DOC_NEW_MEMBER, DOC_NEW_MEMBER):
        client.step1(number)
        page = client.get("/ingresar/clave-temporal").get_data(as_text=True)
        response = client.post_form("/ingresar/clave-temporal",
                                    [("csrf_token", auth_pages.field(page, "csrf_token")), ("canal", "sms")])
        statuses.append(response.status_code)
    assert statuses == [200, 200, 429]
    assert "espera un tiempo" in response.get_data(as_text=True)
    # Per IP: another number from the same place is refused once the IP's budget is spent.
    client.step1("70111222")
    page = client.get("/ingresar/clave-temporal").get_data(as_text=True)
    response = client.post_form("/ingresar/clave-temporal",
                                [("csrf_token", auth_pages.field(page, "csrf_token")), ("canal", "sms")])
    assert response.status_code == 429
