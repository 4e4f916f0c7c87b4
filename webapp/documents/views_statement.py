"""Estado de cuenta: the statement for a chosen period on screen (printable) and as a PDF."""
from __future__ import annotations

from datetime import date, datetime

from flask import request

from db.engine import session_scope
from db.zone.statement import build_statement
from domain.bogota_calendar import BOGOTA
from domain.money import format_cop
from domain.statement_period import DEFAULT_MONTHS, PeriodError, default_period, parse_period
from webapp.auth.guard import current_member_id, member_required
from webapp.zone.frame import render_zone

from . import bp
from .issuing import issue_pdf, pdf_response, today_bogota
from .pdf_statement import statement_pdf


def _local_date(moment: datetime) -> str:
    return moment.astimezone(BOGOTA).strftime("%d/%m/%Y")


def _refused(error: PeriodError, desde: str | None, hasta: str | None, today: date):  # noqa: ANN202
    """The form again with the member's dates and why they cannot be used: a 400."""
    fallback = default_period(today)
    return render_zone("documents/estado.html", "estado", error=str(error), statement=None, today=today,
                       desde=desde or fallback.start.isoformat(), hasta=hasta or fallback.end.isoformat(),
                       months=DEFAULT_MONTHS), 400


@bp.get("/zona/estado-de-cuenta")
@member_required
def statement():  # noqa: ANN201
    today = today_bogota()
    desde, hasta = request.args.get("desde"), request.args.get("hasta")
    try:
        period = parse_period(desde, hasta, today)
    except PeriodError as exc:
        return _refused(exc, desde, hasta, today)
    with session_scope() as db:
        result = build_statement(db, current_member_id(), period, today)
    return render_zone("documents/estado.html", "estado", error=None, statement=result, today=today,
                       desde=period.start.isoformat(), hasta=period.end.isoformat(), months=DEFAULT_MONTHS,
                       cop=format_cop, local_date=_local_date)


@bp.post("/zona/estado-de-cuenta/pdf")
@member_required
def statement_download():  # noqa: ANN201
    today = today_bogota()
    desde, hasta = request.form.get("desde"), request.form.get("hasta")
    try:
        period = parse_period(desde, hasta, today)
    except PeriodError as exc:
        return _refused(exc, desde, hasta, today)
    member_id = current_member_id()
    with session_scope() as db:
        result = build_statement(db, member_id, period, today)
        document = issue_pdf(db, member_id, "estado_cuenta", period.label,
                             lambda holder, stamp: statement_pdf(result, holder, stamp))
        response = pdf_response(document)
    return response
