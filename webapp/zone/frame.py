"""The frame every page of the zone shares: header block and tab bar, as the manual
shows them. Other blueprints render their tab with `render_zone(...)`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app, render_template, session

from db.engine import session_scope
from db.member_summary import member_header
from domain.bogota_calendar import BOGOTA, bogota_date
from domain.money import format_cop
from webapp.auth.guard import current_member_id


@dataclass(frozen=True, slots=True)
class Tab:
    key: str
    label: str
    endpoint: str
    args: tuple[tuple[str, str], ...] = ()


# The manual's tab bar, in its order; `home` is the landing page.
TABS: tuple[Tab, ...] = (
    Tab("productos", "Mis productos y servicios", "zone.home"),
    Tab("certificaciones", "Certificaciones y descargas", "documents.certificates"),
    Tab("pagos", "Pagos y Transferencias", "payments.start"),
    Tab("datos", "Mis Datos Personales", "personal.view"),
    Tab("estado", "Estado de cuenta", "documents.statement"),
)


# "Mis productos y servicios" and its sub-tabs in the manual's order: (URL key, label).
PRODUCT_SUBTABS: tuple[tuple[str, str], ...] = (
    ("aportes", "Aportes"), ("ahorros", "Ahorros"), ("creditos", "Créditos"), ("cdats", "CDATS"),
    ("tarjetas", "Tarjetas"), ("otras", "Otras Obligaciones"), ("descuentos", "Descuentos"),
)


def bogota_text(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(BOGOTA).strftime("%d/%m/%Y %H:%M")


def _last_access() -> dict[str, str] | None:
    previous = session.get("prev_login") or [None, None]
    if not previous or previous[0] is None:
        return None
    try:
        moment = datetime.fromisoformat(previous[0])
    except (TypeError, ValueError):
        return None
    local = moment.astimezone(BOGOTA)
    return {"date": local.strftime("%d/%m/%Y"), "time": local.strftime("%H:%M"), "ip": previous[1] or "—"}


def header_context() -> dict[str, object]:
    member_id = current_member_id()
    assert member_id is not None, "render_zone is only for logged-in members"
    today = bogota_date(datetime.now(BOGOTA))
    with session_scope() as db:
        header = member_header(db, member_id, today)
    settings = current_app.config["ZONA_SETTINGS"]
    return {
        "header": header,
        "salary_text": format_cop(header.basic_salary),
        "capacity_text": format_cop(header.payment_capacity),
        "last_access": _last_access(),
        "tabs": TABS,
        "subtabs": PRODUCT_SUBTABS,
        "idle_timeout_s": settings.session_idle_timeout_s,
        "idle_warning_s": settings.session_idle_warning_s,
    }


def render_zone(template: str, active: str, **context: object) -> str:
    return render_template(template, active_tab=active, **header_context(), **context)
