"""Mis Datos Personales: the member's data, the data-processing authorisation they gave,
and the change of mobile, e-mail and address confirmed by typing the key again on the
on-screen keyboard (the login's keyboard, counter and lock)."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app, redirect, request, url_for

from db import audit, credentials
from db.audit import Requester
from db.credentials import LoginResult
from db.engine import session_scope
from db.zone.personal import change_contact, personal_data
from domain.contact_rules import ContactError, read_contact
from webapp.auth.guard import current_member_id, member_required
from webapp.auth.views import (
    MSG_EMPTY_KEY,
    _decode_keyboard_form,
    _keyboard_context,
    _lock_message,
    _login_slots,
    _send_after_commit,
)
from webapp.security import csrf
from webapp.zone.frame import bogota_text, render_zone

from . import bp

MSG_BAD_KEY = "La clave no es correcta. No se cambió ningún dato."
MSG_SAVED = "Tus datos fueron actualizados. Enviamos un aviso a tu correo y celular anteriores."
MSG_SAME = "Los datos escritos son los mismos que ya tenías; no se cambió nada."


def _page(*, error: str | None = None, error_field: str | None = None, notice: str | None = None,
          typed: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    with session_scope() as db:
        data = personal_data(db, current_member_id())
    form = typed or {"celular": data.mobile, "correo": data.email, "direccion": data.address or "",
                     "ciudad": data.city or ""}
    return render_zone("personal/datos.html", "datos", d=data, form=form, error=error, error_field=error_field,
                       notice=notice, when=bogota_text, max_chars=_login_slots(),
                       **_keyboard_context(_login_slots())), status


@bp.get("/")
@member_required
def view():  # noqa: ANN201
    saved = request.args.get("guardado")
    return _page(notice={"1": MSG_SAVED, "0": MSG_SAME}.get(saved if isinstance(saved, str) else ""))


@csrf.exempt  # the keyboard form carries its own CSRF token ("c"), checked first
@bp.post("/")
@member_required
def change():  # noqa: ANN201
    member_id = current_member_id()
    (secret,) = _decode_keyboard_form(("k",), _login_slots())
    typed = {k: str(request.form.get(k, ""))[:300] for k in ("celular", "correo", "direccion", "ciudad")}
    try:
        contact = read_contact(typed["celular"], typed["correo"], typed["direccion"], typed["ciudad"])
    except ContactError as exc:
        return _page(error=str(exc), error_field=exc.field, typed=typed, status=400)
    if not secret:
        return _page(error=MSG_EMPTY_KEY, error_field="clave", typed=typed, status=400)
    settings = current_app.config["ZONA_SETTINGS"]
    requester = Requester(ip=request.remote_addr, user_agent=request.user_agent.string)
    now = datetime.now(timezone.utc)
    with session_scope() as db:
        check = credentials.confirm_key(db, member_id, secret, now=now,
                                                lockout_threshold=settings.lockout_threshold,
                                                lockout_duration_s=settings.lockout_duration_s)
        if check is LoginResult.SUCCEEDED:
            changed, notices = change_contact(db, member_id, contact, requester=requester, now=now)
        else:
            audit.record(db, "personal_data_key_failed", requester, member_id=member_id, result=check.value)
    if check is not LoginResult.SUCCEEDED:
        locked = check in (LoginResult.LOCKED, LoginResult.LOCKED_NOW)
        return _page(error=_lock_message() if locked else MSG_BAD_KEY, error_field="clave", typed=typed,
                     status=403 if locked else 401)
    for message_id in notices:
        _send_after_commit(message_id)
    return redirect(url_for(".view", guardado="1" if changed else "0"), code=303)
