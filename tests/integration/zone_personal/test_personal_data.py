"""Mis Datos Personales (issue 11 §5), as the manual's demo member: the data and the
authorisation are shown; a change needs the key typed again on the on-screen keyboard,
is audited with masked values, and the OLD e-mail and mobile are told; a wrong key or a
bad field changes nothing, and wrong keys count towards the login's lockout."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from db.engine import session_scope
from db.models import Credential, Member
from tests.integration.web_payments import pages
from tests.integration.web_payments.conftest import make_app, member, seeded, smtp_sink  # noqa: F401

pytestmark = pytest.mark.integration

URL = "/zona/datos-personales/"
NEW = {"celular": "3209876543", "correo": "maria.nueva@example.coop", "direccion": "Calle 10 # 20-30, apto 401",
       "ciudad": "Bogotá"}


@pytest.fixture(autouse=True)
def put_back(seeded) -> Any:  # noqa: ANN001, F811
    """The seed is reused across modules while the ledger is untouched: put the members'
    contact data and key counters back as they were."""
    with session_scope() as db:
        kept = db.execute(text("SELECT id, mobile, email, address, city FROM members")).all()
    yield
    with session_scope() as db:
        for row in kept:
            db.execute(text("UPDATE members SET mobile = :mobile, email = :email, address = :address, city = :city "
                            "WHERE id = :id"), dict(row._mapping))
        db.execute(text("UPDATE credentials SET failed_attempts = 0, locked_until = NULL"))


def submit(m: Any, secret: str, **fields: str) -> Any:
    page = pages.text(m.get(URL))
    pairs = pages.keyboard_pairs(page, secret) + list({**NEW, **fields}.items())
    return m.post(URL, pairs)


def wrong(key: str, last: str = "7") -> str:
    """Another key of the same length (the keyboard takes no more characters than a key has)."""
    return key[:-1] + (last if key[-1] != last else "5")


def member_row(member_id: int) -> dict[str, Any]:
    with session_scope() as db:
        m = db.get(Member, member_id)
        assert m is not None
        return {"mobile": m.mobile, "email": m.email, "address": m.address, "city": m.city}


def outbox_to(recipient: str) -> list[dict[str, Any]]:
    with session_scope() as db:
        return [dict(r._mapping) for r in db.execute(text(
            "SELECT channel, recipient, subject, body FROM notification_outbox WHERE recipient = :r"),
            {"r": recipient})]


def audit_of(member_id: int, kind: str) -> list[dict[str, Any]]:
    with session_scope() as db:
        return [r[0] for r in db.execute(text("SELECT detail FROM audit_events WHERE member_id = :m AND kind = :k"),
                                         {"m": member_id, "k": kind})]


def test_the_page_shows_the_data_and_the_authorisation(member, seeded) -> None:  # noqa: ANN001, F811
    _creds, ids = seeded
    body = pages.text(member().get(URL))
    with session_scope() as db:
        m = db.get(Member, ids.member_id)
        assert m is not None
        consent_version = m.data_consent_version
    for shown in ("María Fernanda Rojas Gutiérrez", "CC 1077227777", m.mobile, m.email, "Ley 1581 de 2012"):
        assert shown in body, shown
    assert f"versión {consent_version}" in body and "Autorizaste el tratamiento" in body
    assert 'aria-current="page">Mis Datos Personales<' in body


def test_a_change_with_the_key_is_saved_audited_and_told_to_the_old_contacts(member, seeded) -> None:  # noqa: ANN001, F811
    creds, ids = seeded
    before = member_row(ids.member_id)
    m = member()
    response = submit(m, creds[pages.DEMO])
    assert response.status_code == 303 and "guardado=1" in response.headers["Location"]
    assert member_row(ids.member_id) == {"mobile": NEW["celular"], "email": NEW["correo"],
                                         "address": NEW["direccion"], "city": NEW["ciudad"]}
    assert "Tus datos fueron actualizados" in pages.text(m.get(response.headers["Location"]))
    (detail,) = audit_of(ids.member_id, "personal_data_changed")
    assert set(detail["fields"]) == {"mobile", "email", "address", "city"}
    assert NEW["correo"] not in str(detail) and NEW["celular"] not in str(detail)  # masked
    old_mail, old_sms = outbox_to(before["email"]), outbox_to(before["mobile"])
    assert [r["channel"] for r in old_mail] == ["email"] and [r["channel"] for r in old_sms] == ["sms"]
    for notice in old_mail + old_sms:
        assert "el correo electrónico" in notice["body"] and NEW["correo"] not in notice["body"]
        assert NEW["celular"] not in notice["body"]
    assert outbox_to(NEW["correo"]) == []


def test_a_wrong_key_changes_nothing_and_counts_towards_the_lockout(member, seeded) -> None:  # noqa: ANN001, F811
    creds, ids = seeded
    before = member_row(ids.member_id)
    m = member()
    response = submit(m, wrong(creds[pages.DEMO]))
    assert response.status_code == 401 and "La clave no es correcta" in pages.text(response), pages.text(response)[-3000:]
    assert member_row(ids.member_id) == before
    with session_scope() as db:
        assert db.execute(select(Credential.failed_attempts).where(Credential.member_id == ids.member_id)
                          ).scalar_one() == 1
    assert audit_of(ids.member_id, "personal_data_changed") == []
    assert len(audit_of(ids.member_id, "personal_data_key_failed")) == 1
    # The right key afterwards works, and resets the count as a login does.
    assert submit(m, creds[pages.DEMO]).status_code == 303
    with session_scope() as db:
        assert db.execute(select(Credential.failed_attempts).where(Credential.member_id == ids.member_id)
                          ).scalar_one() == 0


def test_the_lock_stops_the_change_even_with_the_right_key(member, seeded, make_app) -> None:  # noqa: ANN001, F811
    creds, ids = seeded
    before = member_row(ids.member_id)
    m = member(ZONA_LOCKOUT_THRESHOLD=2)
    assert submit(m, wrong(creds[pages.DEMO])).status_code == 401
    assert submit(m, wrong(creds[pages.DEMO], "8")).status_code == 403
    locked = submit(m, creds[pages.DEMO])
    assert locked.status_code == 403 and "bloqueado temporalmente" in pages.text(locked)
    assert member_row(ids.member_id) == before


@pytest.mark.parametrize(("field", "value", "message"), [
    ("celular", "12345", "El celular debe tener 10 dígitos"),
    ("celular", "", "El celular debe tener 10 dígitos"),
    ("correo", "maria@", "El correo electrónico no es válido"),
    ("correo", "a b@c.co", "El correo electrónico no es válido"),
    ("direccion", "", "Escribe tu dirección"),
    ("direccion", "x" * 121, "no puede tener más de 120"),
    ("ciudad", "Bogotá<script>", "La ciudad solo puede tener letras"),
])
def test_bad_fields_are_spanish_400s_and_change_nothing(member, seeded, field: str, value: str,  # noqa: ANN001, F811
                                                        message: str) -> None:
    creds, ids = seeded
    before = member_row(ids.member_id)
    response = submit(member(), creds[pages.DEMO], **{field: value})
    assert response.status_code == 400 and message in pages.text(response)
    assert 'aria-invalid="true"' in pages.text(response)
    assert member_row(ids.member_id) == before
    assert audit_of(ids.member_id, "personal_data_changed") == []


def test_a_used_keyboard_or_a_missing_token_is_refused(member, seeded) -> None:  # noqa: ANN001, F811
    creds, ids = seeded
    before = member_row(ids.member_id)
    m = member()
    page = pages.text(m.get(URL))
    pairs = pages.keyboard_pairs(page, creds[pages.DEMO]) + list(NEW.items())
    assert m.post(URL, pairs).status_code == 303
    replay = m.post(URL, [(k, v) for k, v in pairs if k != "correo"] + [("correo", "otro@example.coop")])
    assert replay.status_code == 400 and member_row(ids.member_id)["email"] == NEW["correo"]
    no_csrf = m.post(URL, [(k, v) for k, v in pages.keyboard_pairs(pages.text(m.get(URL)), creds[pages.DEMO])
                           if k != "c"] + list(NEW.items()))
    assert no_csrf.status_code == 400
    assert before["email"] != NEW["correo"]


def test_no_form_field_reaches_another_member(member, seeded) -> None:  # noqa: ANN001, F811
    creds, ids = seeded
    other_before = member_row(ids.other_member_id)
    m = member()
    page = pages.text(m.get(URL))
    pairs = pages.keyboard_pairs(page, creds[pages.DEMO]) + list(NEW.items()) + [
        ("member_id", str(ids.other_member_id)), ("id", str(ids.other_member_id))]
    assert m.post(URL + f"?member_id={ids.other_member_id}", pairs).status_code == 303
    assert member_row(ids.other_member_id) == other_before
    assert member_row(ids.member_id)["email"] == NEW["correo"]


def test_without_a_session_the_page_and_the_form_send_to_login(make_app, seeded) -> None:  # noqa: ANN001, F811
    _creds, ids = seeded
    client = make_app().test_client()
    before = member_row(ids.member_id)
    assert client.get(URL).status_code == 302
    response = client.post(URL, data=NEW)
    assert response.status_code in (302, 400) and member_row(ids.member_id) == before
