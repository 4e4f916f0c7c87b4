"""Estado de cuenta: the statement for a chosen period on screen (printable) and as a PDF."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from flask import request

from db.engine import session_scope
from db.zone.statement import build_statement
from domain.bogota_calendar import BOGOTA
from domain.money import format_cop
from domain.statement_period import DEFAULT_MONTHS, Period, PeriodError, default_period, parse_period
from webapp.auth.guard import current_member_id, member_required
from webapp.zone.frame import render_zone

from . import bp
from .issuing import issue_pdf, pdf_response, today_bogota
from .pdf_statement import statement_pdf


class BadPeriod(Exception):
    """Dates that cannot be used, with what the member typed, to show the form again."""

    def __init__(self, error: PeriodError, values: Mapping[str, str], today: date) -> None:
        super().__init__(str(error))
        self.desde, self.hasta, self.today = values.get("desde"), values.get("hasta"), today


@bp.errorhandler(BadPeriod)
def _refused(exc: BadPeriod):  # noqa: ANN202
    """The form again with the member's dates and why they cannot be used: a 400."""
    fallback = default_period(exc.today)
    return render_zone("documents/estado.html", "estado", error=str(exc), statement=None, today=exc.today,
                       desde=exc.desde or fallback.start.isoformat(), hasta=exc.hasta or fallback.end.isoformat(),
                       months=DEFAULT_MONTHS), 400


def _chosen_period(values: Mapping[str, str], today: date) -> Period:
    try:
        return parse_period(values.get("desde"), values.get("hasta"), today)
    except PeriodError as exc:
        raise BadPeriod(exc, values, today) from None


def _local_date(moment: datetime) -> str:
    return moment.astimezone(BOGOTA).strftime("%d/%m/%Y")


@bp.get("/zona/estado-de-cuenta")
@member_required
def statement():  # noqa: ANN201
    today = today_bogota()
    period = _chosen_period(request.args, today)
    with session_scope() as db:
        result = build_statement(db, current_member_id(), period, today)
    return render_zone("documents/estado.html", "estado", error=None, statement=result, today=today,
                       desde=period.start.isoformat(), hasta=period.end.isoformat(), months=DEFAULT_MONTHS,
                       cop=format_cop, local_date=_local_date)


@bp.post("/zona/estado-de-cuenta/pdf")
@member_required
def statement_download():  # noqa: ANN201
    today = today_bogota()
    period = _chosen_period(request.form, today)
    member_id = current_member_id()
    with session_scope() as db:
        result = build_statement(db, member_id, period, today)
        document = issue_pdf(db, member_id, "estado_cuenta", period.label,
                             lambda holder, stamp: statement_pdf(result, holder, stamp))
        response = pdf_response(document)
    return response
