"""The console's pages and actions. Every page needs an operator's session (key and
TOTP done); every POST carries the session's CSRF token; every action that changes
anything needs a reason and is written to `operator_actions` in its own transaction,
and whatever it enqueues is enqueued after that commit."""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, make_response, redirect, render_template, request, url_for

from db import operators as ops
from db.engine import session_scope
from db.payments import operator_views as views
from domain.bogota_calendar import BOGOTA
from domain.money import format_cop

from . import bp
from .sessions import COOKIE_NAME, STAGE_ENROL, STAGE_IN, OperatorSession, OperatorSessionStore

F = TypeVar("F", bound=Callable[..., Any])
LOGIN_IP_LIMIT, LOGIN_IP_WINDOW_S = 30, 300
CSRF_MESSAGE = "El formulario expiró o no es válido. Vuelva a cargar la página e intente de nuevo."
ENDED_MESSAGES = {
    "idle": "Su sesión se cerró por inactividad. Ingrese de nuevo.",
    "absolute": "Su sesión alcanzó el tiempo máximo. Ingrese de nuevo.",
    "gone": "Su sesión terminó. Ingrese de nuevo.",
}
STATE_LABELS = {"created": "Creado", "funding": "En fondeo", "funded": "Fondeado", "applied": "Aplicado",
                "rejected": "Rechazado", "failed": "Fallido", "expired": "Vencido", "reversed": "Reversado"}
ROLE_LABELS = {"operador": "Operador", "supervisor": "Supervisor"}


def _store() -> OperatorSessionStore:
    return current_app.extensions["operator_sessions"]


def _settings():  # noqa: ANN202
    return current_app.config["ZONA_SETTINGS"]


def _op() -> OperatorSession:
    return g.operator_session


def _actor() -> ops.Actor:
    return ops.Actor(operator_id=int(_op().operator_id or 0), ip=request.remote_addr,
                     user_agent=request.headers.get("User-Agent"))


# ------------------------------------------------------------------ request plumbing

@bp.before_request
def _load() -> Any:
    # A member's session cookie also reaches /operador: do not refresh its idle clock here.
    g.session_no_touch = True
    g.operator_session = _store().open(request.cookies.get(COOKIE_NAME))
    g.operator_role = None
    if request.method == "POST":
        session = _op()
        if session.sid is None and request.endpoint != "operator.login":
            return redirect(url_for("operator.login", sesion=session.ended_reason), 303)
        if not session.csrf_ok(request.form.get("csrf_token")):
            return _error(400, CSRF_MESSAGE)
    return None


@bp.after_request
def _save(response: Any) -> Any:
    session = g.get("operator_session")
    if session is not None:
        _store().save(session, response, secure=not _settings().is_development)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _error(code: int, message: str) -> Any:
    return make_response(render_template("operator/error.html", code=code, message=message), code)


def console_required(view: F) -> F:
    """Key and TOTP done, and still an active operator (the role is read each time)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        session = _op()
        if session.operator_id is not None and session.stage == STAGE_ENROL:
            return redirect(url_for("operator.enrol"), 303)
        if not session.logged_in:
            return redirect(url_for("operator.login", sesion=session.ended_reason), 303)
        with session_scope() as db:
            role = ops.operator_role(db, int(session.operator_id))
        if role is None:
            session.end()
            return redirect(url_for("operator.login"), 303)
        g.operator_role = role
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@bp.app_template_filter("cop")
def _cop(value: Any) -> str:
    return format_cop(value) if value is not None else "—"


@bp.app_template_filter("bogota")
def _bogota(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(BOGOTA).strftime("%Y-%m-%d %H:%M:%S")


@bp.app_context_processor
def _context() -> dict[str, Any]:
    session = g.get("operator_session")
    return {
        "op_csrf": session.csrf if session is not None else "",
        "op_role": g.get("operator_role"),
        "state_labels": STATE_LABELS,
        "action_labels": ops.ACTION_LABELS,
        "request_labels": ops.REQUEST_LABELS,
        "role_labels": ROLE_LABELS,
    }


def _intent_id(value: str) -> int:
    if not re.fullmatch(r"\d{1,18}", value or ""):
        raise ops.ConsoleError("Número de pago no válido", 404)
    return int(value)


def _run(action: Callable[[Any], Any]) -> Any:
    """One action in one transaction; refused input is a Spanish 4xx and changes nothing."""
    try:
        with session_scope() as db:
            result = action(db)
    except ops.ConsoleError as exc:
        return None, _error(exc.http_status, exc.message)
    return result, None


# ------------------------------------------------------------------ login

@bp.route("/ingresar", methods=["GET", "POST"])
def login() -> Any:
    session = _op()
    if request.method == "GET":
        if session.logged_in:
            return redirect(url_for("operator.payments"), 303)
        session.dirty = True  # a pre-login session carries the form's CSRF token
        reason = request.args.get("sesion")
        return render_template("operator/login.html", message=ENDED_MESSAGES.get(reason or "")), 200
    from webapp.auth.throttle import Throttle

    throttle = Throttle(_settings().throttle_redis_url)
    if not throttle.hit(f"op:login:ip:{request.remote_addr}", LOGIN_IP_LIMIT, LOGIN_IP_WINDOW_S):
        response = _error(429, "Demasiados intentos de ingreso desde esta dirección. Espere unos minutos.")
        response.headers["Retry-After"] = str(throttle.seconds_left(f"op:login:ip:{request.remote_addr}"))
        return response
    username = request.form.get("usuario", "")
    key = request.form.get("clave", "")
    code = request.form.get("codigo", "").strip()
    problems = []
    if not username.strip() or len(username) > 40:
        problems.append("Escriba su usuario")
    if not key or len(key) > 200:
        problems.append("Escriba su clave")
    if code and not re.fullmatch(r"\d{6}", code):
        problems.append("El código del autenticador son 6 dígitos")
    if problems:
        return render_template("operator/login.html", message=". ".join(problems) + "."), 422
    settings = _settings()
    with session_scope() as db:
        outcome = ops.authenticate(db, username, key, code, ip=request.remote_addr,
                                   user_agent=request.headers.get("User-Agent"),
                                   lockout_threshold=settings.lockout_threshold,
                                   lockout_duration_s=settings.lockout_duration_s)
    result = outcome.result
    if result is ops.LoginResult.SUCCEEDED:
        session.start(int(outcome.operator_id or 0), STAGE_IN)
        return redirect(url_for("operator.payments"), 303)
    if result is ops.LoginResult.ENROL:
        session.start(int(outcome.operator_id or 0), STAGE_ENROL)
        return redirect(url_for("operator.enrol"), 303)
    if result in (ops.LoginResult.LOCKED, ops.LoginResult.LOCKED_NOW):
        until = _bogota(outcome.locked_until)[11:16] if outcome.locked_until else ""
        return render_template("operator/login.html",
                               message=f"Cuenta bloqueada por intentos fallidos hasta las {until} (hora de Bogotá)."), 423
    if result is ops.LoginResult.REUSED_CODE:
        return render_template("operator/login.html",
                               message="Ese código ya se usó. Espere el siguiente código del autenticador."), 401
    return render_template("operator/login.html", message="Usuario, clave o código incorrectos."), 401


@bp.route("/inscribir", methods=["GET", "POST"])
def enrol() -> Any:
    session = _op()
    if session.operator_id is None or session.stage != STAGE_ENROL:
        return redirect(url_for("operator.login"), 303)
    if request.method == "GET":
        import segno

        with session_scope() as db:
            secret = ops.draw_totp_secret(db, int(session.operator_id))
            username = ops.operator_username(db, int(session.operator_id))
        uri = ops.provisioning_uri(secret, username)
        qr_svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff")
        return render_template("operator/enrol.html", qr_svg=qr_svg, secret=secret, username=username)
    code = request.form.get("codigo", "").strip()
    if not re.fullmatch(r"\d{6}", code):
        return render_template("operator/enrol.html", message="El código del autenticador son 6 dígitos."), 422
    settings = _settings()
    try:
        with session_scope() as db:
            result = ops.finish_enrolment(db, _actor(), code, lockout_threshold=settings.lockout_threshold,
                                          lockout_duration_s=settings.lockout_duration_s)
    except ops.ConsoleError as exc:
        return _error(exc.http_status, exc.message)
    if result in (ops.LoginResult.LOCKED, ops.LoginResult.LOCKED_NOW):
        session.end()
        return render_template("operator/login.html",
                               message="Cuenta bloqueada por intentos fallidos. Intente más tarde."), 423
    if result is not ops.LoginResult.SUCCEEDED:
        return render_template("operator/enrol.html",
                               message="El código no corresponde. Revise la hora del teléfono e intente de nuevo, "
                                       "o genere un código QR nuevo."), 422
    session.start(int(session.operator_id), STAGE_IN)
    return redirect(url_for("operator.payments"), 303)


@bp.post("/salir")
def logout() -> Any:
    session = _op()
    if session.operator_id is not None:
        with session_scope() as db:
            ops.record_logout(db, _actor())
    session.end()
    return redirect(url_for("operator.login"), 303)


# ------------------------------------------------------------------ views

@bp.get("/")
@console_required
def payments() -> Any:
    query, state = request.args.get("q", ""), request.args.get("estado", "")
    try:
        with session_scope() as db:
            rows = views.search_intents(db, query=query, state=state)
    except views.BadQuery as exc:
        return _error(400, str(exc))
    return render_template("operator/payments.html", rows=rows, q=query, estado=state, states=views.STATES)


@bp.get("/pagos/<intent_id>")
@console_required
def story(intent_id: str) -> Any:
    try:
        number = _intent_id(intent_id)
    except ops.ConsoleError as exc:
        return _error(exc.http_status, exc.message)
    with session_scope() as db:
        data = views.intent_story(db, number)
    if data is None:
        return _error(404, "El pago indicado no existe")
    return render_template("operator/story.html", s=data, me=_op().operator_id)


@bp.get("/atascados")
@console_required
def stuck() -> Any:
    with session_scope() as db:
        rows = views.stuck_intents(db, now=datetime.now(timezone.utc))
    return render_template("operator/stuck.html", rows=rows)


@bp.get("/pse")
@console_required
def pse_pending() -> Any:
    with session_scope() as db:
        rows = views.pse_pending(db)
    return render_template("operator/pse.html", rows=rows)


@bp.get("/incumplimientos")
@console_required
def breaches() -> Any:
    with session_scope() as db:
        rows = views.promise_breaches(db, now=datetime.now(timezone.utc), promise_s=_settings().payment_promise_s)
    return render_template("operator/breaches.html", rows=rows, promise_min=_settings().payment_promise_s // 60)


@bp.get("/revision")
@console_required
def review() -> Any:
    state = request.args.get("estado", "open")
    try:
        with session_scope() as db:
            rows = views.review_queue(db, state=state)
    except views.BadQuery as exc:
        return _error(400, str(exc))
    return render_template("operator/review.html", rows=rows, estado=state)


@bp.get("/solicitudes")
@console_required
def requests_page() -> Any:
    with session_scope() as db:
        pending = views.requests(db, state="pending")
        decided = views.requests(db, limit=50)
    return render_template("operator/requests.html", pending=pending,
                           decided=[r for r in decided if r["state"] != "pending"], me=_op().operator_id)


@bp.get("/trabajadores")
@console_required
def workers_page() -> Any:
    from .monitor import snapshot

    settings = _settings()
    flower_url = f"http://{request.host.split(':')[0]}:{settings.flower_port}/"
    return render_template("operator/workers.html", m=snapshot(settings), flower_url=flower_url)


# ------------------------------------------------------------------ actions

@bp.post("/pagos/<intent_id>/consultar")
@console_required
def query_now(intent_id: str) -> Any:
    from workers.pse_tasks import enqueue_query_now

    try:
        number = _intent_id(intent_id)
    except ops.ConsoleError as exc:
        return _error(exc.http_status, exc.message)
    tx_id, failure = _run(lambda db: ops.prepare_query_now(db, _actor(), number, request.form.get("motivo")))
    if failure is not None:
        return failure
    enqueue_query_now(tx_id)
    return redirect(url_for("operator.story", intent_id=number, hecho="consulta"), 303)


@bp.post("/pagos/<intent_id>/reimpulsar")
@console_required
def redrive(intent_id: str) -> Any:
    from workers.payment_tasks import enqueue_step

    try:
        number = _intent_id(intent_id)
    except ops.ConsoleError as exc:
        return _error(exc.http_status, exc.message)
    step, failure = _run(lambda db: ops.prepare_redrive(db, _actor(), number, request.form.get("motivo")))
    if failure is not None:
        return failure
    enqueue_step(step, number)
    return redirect(url_for("operator.story", intent_id=number, hecho="reimpulso"), 303)


@bp.post("/pagos/<intent_id>/solicitar")
@console_required
def request_change(intent_id: str) -> Any:
    try:
        number = _intent_id(intent_id)
    except ops.ConsoleError as exc:
        return _error(exc.http_status, exc.message)
    kind = request.form.get("tipo", "")
    _, failure = _run(lambda db: ops.request_change(db, _actor(), number, kind, request.form.get("motivo"),
                                                    amount=request.form.get("valor"),
                                                    review_item_id=request.form.get("revision")))
    if failure is not None:
        return failure
    return redirect(url_for("operator.story", intent_id=number, hecho="solicitud"), 303)


@bp.post("/revision/<int:item_id>/resolver")
@console_required
def resolve(item_id: int) -> Any:
    _, failure = _run(lambda db: ops.resolve_review_item(db, _actor(), item_id, request.form.get("resolucion")))
    if failure is not None:
        return failure
    return redirect(url_for("operator.review"), 303)


def _decide(request_id: int, decide: Callable[..., None]) -> Any:
    _, failure = _run(lambda db: decide(db, _actor(), request_id, request.form.get("motivo")))
    if failure is not None:
        return failure
    return redirect(url_for("operator.requests_page"), 303)


@bp.post("/solicitudes/<int:request_id>/aprobar")
@console_required
def approve(request_id: int) -> Any:
    return _decide(request_id, ops.approve_request)


@bp.post("/solicitudes/<int:request_id>/rechazar")
@console_required
def reject(request_id: int) -> Any:
    return _decide(request_id, ops.reject_request)
