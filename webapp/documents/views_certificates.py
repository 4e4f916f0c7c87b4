"""Certificaciones y descargas: issue a certificate (POST with CSRF; stored and audited)
and download the member's own documents again by code."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flask import abort, request
from sqlalchemy.orm import Session

from db.engine import session_scope
from db.models import MemberDocument
from db.zone.certificates import balances_at, contributions, debts, tax_year
from db.zone.documents import KIND_LABELS, owned_document, recent_documents
from domain.document_codes import normalize_code
from domain.money import format_cop
from domain.statement_period import PeriodError, parse_year
from webapp.auth.guard import current_member_id, member_required
from webapp.zone.frame import bogota_text, render_zone

from . import bp
from .issuing import issue_pdf, pdf_response, today_bogota
from .pdf_certificates import balances_pdf, clearance_pdf, contributions_pdf, tax_pdf

Issuer = Callable[[Session, int, date], MemberDocument]


class Refused(Exception):
    """A certificate that cannot be issued; `str()` is the member's explanation."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _aportes(db: Session, member_id: int, today: date) -> MemberDocument:
    products = contributions(balances_at(db, member_id, today, today))
    return issue_pdf(db, member_id, "aportes", f"{today:%d/%m/%Y}",
                     lambda holder, stamp: contributions_pdf(products, today, holder, stamp))


def _saldos(db: Session, member_id: int, today: date) -> MemberDocument:
    statement = balances_at(db, member_id, today, today)
    return issue_pdf(db, member_id, "saldos", f"{today:%d/%m/%Y}",
                     lambda holder, stamp: balances_pdf(statement, holder, stamp))


def _tributario(db: Session, member_id: int, today: date) -> MemberDocument:
    try:
        year = parse_year(request.form.get("anio"), today)
    except PeriodError as exc:
        raise Refused(400, str(exc)) from None
    figures = tax_year(db, member_id, year, today)
    return issue_pdf(db, member_id, "tributario", str(year), lambda holder, stamp: tax_pdf(figures, holder, stamp))


def _paz_y_salvo(db: Session, member_id: int, today: date) -> MemberDocument:
    owed = debts(balances_at(db, member_id, today, today))
    if owed:
        detail = "; ".join(f"{d.product.product.name} No. {d.product.product.number}: {format_cop(d.amount)}"
                           for d in owed)
        raise Refused(409, "No es posible expedir el paz y salvo porque tienes obligaciones pendientes con la "
                           f"cooperativa ({detail}). Cuando estén pagadas podrás descargarlo.")
    return issue_pdf(db, member_id, "paz_y_salvo", f"{today:%d/%m/%Y}",
                     lambda holder, stamp: clearance_pdf(today, holder, stamp))


ISSUERS: dict[str, Issuer] = {
    "aportes": _aportes, "saldos": _saldos, "tributario": _tributario, "paz-y-salvo": _paz_y_salvo,
}


def _page(error: str | None = None, status: int = 200):  # noqa: ANN202
    today = today_bogota()
    with session_scope() as db:
        documents = [(d.code, KIND_LABELS[d.kind], d.period, bogota_text(d.issued_at))
                     for d in recent_documents(db, current_member_id())]
    return render_zone("documents/certificaciones.html", "certificaciones", documents=documents, error=error,
                       last_year=today.year - 1), status


@bp.get("/zona/certificaciones")
@member_required
def certificates():  # noqa: ANN201
    return _page()


@bp.post("/zona/certificaciones/<tipo>")
@member_required
def issue_certificate(tipo: str):  # noqa: ANN201
    issuer = ISSUERS.get(tipo)
    if issuer is None:
        abort(404)
    try:
        with session_scope() as db:
            return pdf_response(issuer(db, current_member_id(), today_bogota()))
    except Refused as refused:
        return _page(str(refused), refused.status)


@bp.get("/zona/certificaciones/documento/<codigo>")
@member_required
def download(codigo: str):  # noqa: ANN201
    code = normalize_code(codigo)
    if code is None:
        abort(404)
    with session_scope() as db:
        document = owned_document(db, current_member_id(), code)
        if document is None:  # someone else's is as missing as one never issued
            abort(404)
        return pdf_response(document)
