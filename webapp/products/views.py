"""The manual's sub-tabs of "Mis productos y servicios" and each product's movements.
Every page reads only the logged-in member's rows: an id that is not theirs is a 404,
the same answer as an id that does not exist."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import abort, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from db.engine import session_scope
from db.models import ObligationKind
from db.zone import movements as mv
from db.zone import products
from domain.bogota_calendar import BOGOTA, bogota_date
from domain.money import format_cop
from domain.statement_period import PeriodError, parse_period
from webapp.auth.guard import current_member_id, member_required
from webapp.errors import raise_error
from webapp.zone.frame import bogota_text, render_zone

from . import bp

PAGE_SIZE = 20
_OBLIGATION_TABS: dict[str, tuple[ObligationKind, ...]] = {
    "aportes": products.CONTRIBUTION_KINDS, "creditos": (ObligationKind.LOAN,),
    "tarjetas": (ObligationKind.CARD,), "otras": (ObligationKind.OTHER,),
}
MSG_BAD_CURSOR = "La página de movimientos solicitada no es válida; vuelve a la primera página."
MSG_BAD_TYPE = "El tipo de movimiento no es válido: elige abonos, cargos o todos."


def _today() -> date:
    return bogota_date(datetime.now(BOGOTA))


def _render(template: str, tab: str, **context: Any) -> str:
    return render_zone(template, "productos", subtab=tab, cop=format_cop, when=bogota_text,
                       **context)


@bp.get("/<seccion>")
@member_required
def section(seccion: str):  # noqa: ANN201
    member_id, today = current_member_id(), _today()
    with session_scope() as db:
        if seccion in _OBLIGATION_TABS:
            items = products.obligations_of(db, member_id, today, _OBLIGATION_TABS[seccion])
            return _render(f"products/{seccion}.html", seccion, items=items, today=today)
        if seccion == "ahorros":
            return _render("products/ahorros.html", seccion, items=products.savings_of(db, member_id))
        if seccion == "cdats":
            return _render("products/cdats.html", seccion, items=products.cdats_of(db, member_id, today))
        if seccion == "descuentos":
            return _render("products/descuentos.html", seccion, d=products.discounts_of(db, member_id, today))
    abort(404)


@bp.get("/creditos/<id:obligation_id>")
@member_required
def loan(obligation_id: int):  # noqa: ANN201
    member_id, today = current_member_id(), _today()
    with session_scope() as db:
        found = products.obligations_of(db, member_id, today, (ObligationKind.LOAN,), obligation_id=obligation_id)
        if not found:
            abort(404)
        return _render("products/credito.html", "creditos", o=found[0], rows=products.schedule(db, obligation_id))


def _serializer() -> URLSafeSerializer:
    from flask import current_app

    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="zona-movimientos")


def _cursor(product: mv.OwnedProduct, key: tuple[datetime, int]) -> str:
    """The next page's key, signed and bound to this product: a cursor is not a handle on
    anything else."""
    return _serializer().dumps([product.kind.value, product.product_id, key[0].isoformat(), key[1]])


def _read_cursor(product: mv.OwnedProduct, raw: str | None) -> tuple[datetime, int] | None:
    if not raw:
        return None
    try:
        kind, product_id, at, line_id = _serializer().loads(raw)
        if kind != product.kind.value or product_id != product.product_id or not isinstance(line_id, int):
            raise ValueError("cursor of another product")
        return datetime.fromisoformat(at), line_id
    except (BadSignature, ValueError, TypeError):
        raise_error(400, MSG_BAD_CURSOR)
    raise AssertionError("unreachable")


@bp.get("/<tipo>/<id:product_id>/movimientos")
@member_required
def movements(tipo: str, product_id: int):  # noqa: ANN201
    try:
        kind = mv.ProductKind(tipo)
    except ValueError:
        abort(404)
    today = _today()
    try:
        direction = mv.Direction(request.args.get("tipo_movimiento", ""))
    except ValueError:
        raise_error(400, MSG_BAD_TYPE)
    desde, hasta = request.args.get("desde", ""), request.args.get("hasta", "")
    try:
        period = parse_period(desde, hasta, today)
    except PeriodError as exc:
        raise_error(400, str(exc))
    with session_scope() as db:
        product = mv.owned_product(db, current_member_id(), kind, product_id)
        if product is None:
            abort(404)
        since, until = period.utc_bounds()
        page = mv.movements_page(db, product, since=since, until=until, direction=direction,
                                 after=_read_cursor(product, request.args.get("cursor")), size=PAGE_SIZE)
    filters = {"desde": period.start.isoformat(), "hasta": period.end.isoformat(),
               "tipo_movimiento": direction.value}
    next_url = (url_for(".movements", tipo=tipo, product_id=product_id, cursor=_cursor(product, page.next_key),
                        **filters) if page.next_key else None)
    first_url = url_for(".movements", tipo=tipo, product_id=product_id, **filters)
    return _render("products/movimientos.html", product.subtab, product=product, page=page, period=period,
                   direction=direction.value, next_url=next_url, first_url=first_url,
                   paged=bool(request.args.get("cursor")))
