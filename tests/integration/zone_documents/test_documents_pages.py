"""The documents as the member and the public meet them: the statement page and PDF,
each certificate read back with a PDF text extractor, verification (genuine, one byte
changed, unknown code), paz y salvo refused while owing, nobody else's document, and
every bad input a Spanish 4xx."""
from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from db.engine import session_scope
from db.ledger import balances
from db.models import AuditEvent, MemberDocument, Obligation
from db.zone.documents import issue_document
from domain.bogota_calendar import BOGOTA, bogota_date
from domain.money import format_cop
from tests.integration.web_payments.pages import field
from tests.integration.zone_documents.conftest import pdf_text, upload

pytestmark = pytest.mark.integration

CODE = re.compile(r"ZP-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")


def _issue(m, tipo: str, **form: str):  # noqa: ANN001, ANN202
    token = m.csrf()
    return m.post(f"/zona/certificaciones/{tipo}", [("csrf_token", token), *form.items()])


def _ledger_balance(number: str) -> Decimal:
    with session_scope() as db:
        account = db.execute(select(Obligation.ledger_account_id).where(Obligation.number == number)).scalar_one()
        return balances(db, [account])[account]


def test_statement_page_and_pdf_hold_the_members_figures(member) -> None:  # noqa: ANN001
    m = member()
    page = m.get("/zona/estado-de-cuenta")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    for text in ("Estado de cuenta", "Saldo inicial", "Saldo final", "Aportes", "Ahorros", "Créditos",
                 "Recaudo nómina Aportes sociales cuota 1", "$1,250,000.00", "css/documents.css"):
        assert text in body, text
    loan_balance = format_cop(_ledger_balance("CRE-1077227777-1"))
    assert loan_balance in body

    token = field(body, "csrf_token")
    pdf = m.post("/zona/estado-de-cuenta/pdf", [("csrf_token", token), ("desde", field(body, "desde")),
                                                ("hasta", field(body, "hasta"))])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = pdf_text(pdf.data)
    for expected in ("María Fernanda Rojas Gutiérrez", "CC 1077227777", "$1,250,000.00", "$480,000.00",
                     loan_balance, "Saldo inicial", "Saldo final", "$3,800.00", pdf.headers["X-Verification-Code"]):
        assert expected in text, expected
    with session_scope() as db:
        stored = db.execute(select(MemberDocument).where(
            MemberDocument.code == pdf.headers["X-Verification-Code"])).scalar_one()
        assert stored.content == pdf.data and stored.kind == "estado_cuenta"
        audited = db.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.kind == "document_issued", AuditEvent.member_id == stored.member_id,
            AuditEvent.detail["code"].astext == stored.code)).scalar_one()
        assert audited == 1


@pytest.mark.parametrize("query, message", [
    ("desde=2026-13-40", "La fecha inicial no es válida"),
    ("desde=2026-01-01&hasta=2025-01-01", "La fecha inicial debe ser anterior"),
    ("desde=1999-12-31&hasta=2000-06-01", "Las fechas deben estar entre"),
    ("hasta=2999-01-01", "Las fechas deben estar entre"),
    ("desde=2000-01-01&hasta=2010-01-01", "no puede ser mayor a 36 meses"),
    ("desde=%00%ff", "no es válida"),
])
def test_bad_statement_periods_are_spanish_400s(member, query: str, message: str) -> None:  # noqa: ANN001
    m = member()
    response = m.get(f"/zona/estado-de-cuenta?{query}")
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    token = m.csrf()
    pairs = [("csrf_token", token)] + [tuple(p.split("=", 1)) for p in query.split("&")]
    assert m.post("/zona/estado-de-cuenta/pdf", pairs).status_code == 400


def test_certificates_read_back_and_verify(member) -> None:  # noqa: ANN001
    m = member()
    aportes = _issue(m, "aportes")
    assert aportes.status_code == 200
    text = pdf_text(aportes.data)
    aportes_balance = format_cop(_ledger_balance("APO-1077227777"))
    for expected in ("Certificado de aportes", "María Fernanda Rojas Gutiérrez", aportes_balance,
                     format_cop(_ledger_balance("AHP-1077227777")), "Código de verificación"):
        assert expected in text, expected
    code = CODE.search(text).group()
    assert code == aportes.headers["X-Verification-Code"]

    saldos = pdf_text(_issue(m, "saldos").data)
    assert "$1,250,000.00" in saldos and format_cop(_ledger_balance("CRE-1077227777-1")) in saldos

    last_year = bogota_date(datetime.now(BOGOTA)).year - 1
    tax = _issue(m, "tributario", anio=str(last_year))
    assert tax.status_code == 200
    assert f"año gravable {last_year}" in pdf_text(tax.data)
    for bad in ("", "dos mil", "1999", str(last_year + 1), "99999999999999999999"):
        refused = _issue(m, "tributario", anio=bad)
        assert refused.status_code == 400 and "año gravable" in refused.get_data(as_text=True), bad

    # The public page: the code, the QR's URL, the exact file; one byte changed is not genuine.
    public = m.client.application.test_client()
    form = public.get("/verificar").get_data(as_text=True)
    csrf = field(form, "csrf_token")
    typed = public.post("/verificar", data={"csrf_token": csrf, "codigo": code.lower().replace("-", " ")})
    shown = typed.get_data(as_text=True)
    assert typed.status_code == 200 and "Documento auténtico" in shown
    assert "Ma*** Fe****** Ro*** Gu*******" in shown and "CC ******7777" in shown
    assert "1077227777" not in shown and "María" not in shown and aportes_balance not in shown
    assert public.get(f"/verificar/{code}").status_code == 200
    genuine = upload(public, aportes.data, csrf)
    assert genuine.status_code == 200 and "Documento auténtico" in genuine.get_data(as_text=True)
    changed = bytearray(aportes.data)
    changed[len(changed) // 2] ^= 0x01
    altered = upload(public, bytes(changed), csrf)
    assert altered.status_code == 422 and "NO es auténtico" in altered.get_data(as_text=True)

    # The member finds it again among their documents and downloads the same bytes.
    listing = m.get("/zona/certificaciones").get_data(as_text=True)
    assert code in listing
    again = m.get(f"/zona/certificaciones/documento/{code}")
    assert again.status_code == 200 and again.data == aportes.data


def test_paz_y_salvo_refused_while_owing(member) -> None:  # noqa: ANN001
    m = member()
    refused = _issue(m, "paz-y-salvo")
    body = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert "No es posible expedir el paz y salvo" in body
    assert format_cop(_ledger_balance("CRE-1077227777-1")) in body and "$3,800.00" in body
    with session_scope() as db:
        assert db.execute(select(func.count()).select_from(MemberDocument).where(
            MemberDocument.kind == "paz_y_salvo")).scalar_one() == 0


def test_another_members_document_is_not_found(member, seeded) -> None:  # noqa: ANN001
    _creds, ids = seeded
    with session_scope() as db:
        other = issue_document(db, member_id=ids.other_member_id, kind="saldos", period="01/01/2026",
                               issued_at=datetime.now(BOGOTA), render=lambda code: b"%PDF-1.4 other " + code.encode(),
                               requester=None)
        code, document_id = other.code, other.id
    m = member()
    for path in (f"/zona/certificaciones/documento/{code}", f"/zona/certificaciones/documento/{document_id}",
                 "/zona/certificaciones/documento/ZP-0000-0000-0000"):
        response = m.get(path)
        assert response.status_code == 404, path
        assert code not in response.get_data(as_text=True)
    assert code not in m.get("/zona/certificaciones").get_data(as_text=True)


def test_verification_bad_input_is_spanish_4xx(member) -> None:  # noqa: ANN001
    public = member().client.application.test_client()
    csrf = field(public.get("/verificar").get_data(as_text=True), "csrf_token")
    cases = [
        (public.post("/verificar", data={"csrf_token": csrf, "codigo": "hola"}), 400, "no es válido"),
        (public.post("/verificar", data={"csrf_token": csrf, "codigo": "ZP-2222-3333-4444"}), 404, "No existe"),
        (public.get("/verificar/ZP-2222-3333-4444"), 404, "No existe"),
        (public.get("/verificar/%3Cscript%3E"), 400, "no es válido"),
        (upload(public, None, csrf), 400, "Selecciona el archivo"),
        (upload(public, b"", csrf), 400, "Selecciona el archivo"),
        (upload(public, b"GIF89a not a pdf", csrf, "foto.gif"), 400, "no es un documento PDF"),
        (upload(public, b"%PDF-1.7 forged", csrf), 422, "NO es auténtico"),
        (upload(public, b"%PDF-" + b"0" * (600 * 1024), csrf), 413, "supera el tamaño"),
        (public.post("/verificar", data={"codigo": "ZP-2222-3333-4444"}), 400, "formulario"),
    ]
    for response, status, message in cases:
        assert response.status_code == status, (status, response.get_data(as_text=True)[:300])
        assert message in response.get_data(as_text=True), message
    m = member()
    assert _issue(m, "desconocido").status_code == 404
    assert m.post("/zona/certificaciones/aportes", []).status_code == 400  # no CSRF token


def test_qr_points_to_the_configured_public_site(member) -> None:  # noqa: ANN001
    import io

    from pypdf import PdfReader

    m = member(ZONA_PUBLIC_URL="https://zona.cooperativa.example")
    issued = _issue(m, "saldos")
    assert issued.status_code == 200, issued.get_data(as_text=True)[:300]
    code = issued.headers["X-Verification-Code"]
    text = pdf_text(issued.data).replace("\n", "")
    assert f"https://zona.cooperativa.example/verificar/{code}" in text
    assert "localhost" not in text
    assert PdfReader(io.BytesIO(issued.data)).metadata.subject == f"Verificacion {code}"


def test_paz_y_salvo_issued_when_nothing_is_owed_and_only_its_holder_downloads_it(debt_free_client, member) -> None:  # noqa: ANN001
    client = debt_free_client
    token = field(client.get("/zona/certificaciones").get_data(as_text=True), "csrf_token")
    issued = client.post("/zona/certificaciones/paz-y-salvo", data={"csrf_token": token})
    assert issued.status_code == 200, issued.get_data(as_text=True)[:400]
    text = " ".join(pdf_text(issued.data).split())  # lines wrap where the page ends them
    assert "Paz y salvo" in text and "Carlos Andrés Mejía Ospina" in text and "se encuentra a paz y salvo" in text
    code = issued.headers["X-Verification-Code"]
    assert client.get(f"/zona/certificaciones/documento/{code}").data == issued.data
    # The demo member, logged in on their own, neither downloads nor lists it.
    m = member()
    assert m.get(f"/zona/certificaciones/documento/{code}").status_code == 404
    assert code not in m.get("/zona/certificaciones").get_data(as_text=True)
