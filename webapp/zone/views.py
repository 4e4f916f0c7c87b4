"""Pages of the zone: the landing tab and the member's own security events."""
from __future__ import annotations

from datetime import datetime

from db.audit import recent_security_events
from db.engine import session_scope
from db.member_summary import obligations_overview, savings_overview
from domain.bogota_calendar import BOGOTA, bogota_date
from domain.money import format_cop
from webapp.auth.guard import current_member_id, member_required

from . import bp
from .frame import bogota_text, render_zone


@bp.get("/")
@member_required
def home():  # noqa: ANN201
    member_id = current_member_id()
    today = bogota_date(datetime.now(BOGOTA))
    with session_scope() as db:
        savings = savings_overview(db, member_id)
        obligations = obligations_overview(db, member_id, today)
    return render_zone(
        "zone/home.html", "productos", savings=savings, obligations=obligations, cop=format_cop,
    )


@bp.get("/seguridad")
@member_required
def security_events():  # noqa: ANN201
    with session_scope() as db:
        events = recent_security_events(db, current_member_id())
    return render_zone("zone/security_events.html", "", events=events, when=bogota_text)
