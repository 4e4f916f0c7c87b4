"""The login, as the manual describes it: document (step 1), security image and phrase
then the key on the virtual keyboard (step 2), "olvidé mi clave" (temporary key), and
after a temporary key: the data-processing notice, the forced change, image and phrase."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from flask import current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask.blueprints import BlueprintSetupState

from db import audit, contact_shapes, credentials, notices
from db.audit import Requester
from db.credentials import LoginResult
from db.engine import session_scope
from domain.bogota_calendar import BOGOTA
from domain.decoys import ContactShapes, decoy_for
from domain.hashing import verify_secret
from integrations.one_time_codes import CODE_DIGITS, CapReached, CodeStore, Verdict, verify
from domain.masking import mask_email, mask_mobile
from domain.password_policy import MSG_FORBIDDEN, PasswordPolicy
from webapp.errors import raise_error
from webapp.security import csrf
from webapp.sessions import MEMBER_ID, seconds_left

from . import bp, devices, forms, keyboard
from .guard import NEXT_URL, PENDING, finish_stage, logged_member_id, next_stage_url, safe_next, stage_required
from .images import IMAGE_NAMES as IMAGES_FOR_DECOYS, SECURITY_IMAGES
from .throttle import Throttle

log = logging.getLogger(__name__)

LOGIN_DOC = "login_doc"
DEVICE_OK = "device_ok"  # the document whose device code was right, in this login session
DEVICE_MAX_WRONG = 3
DEVICE_MAX_SENDS = 3  # codes per login session; the day's cap per document is ZONA_OTP_DAILY_CAP
STEP2_COUNTED = "step2_counted"
SHAPES_KEPT_S = 600
PREVIOUS_LOGIN = "prev_login"
MSG_BAD_LOGIN = "Los datos de ingreso no son correctos. Verifica tu documento y tu clave e intenta de nuevo."
MSG_KEYBOARD_USED = ("El teclado de esta página ya fue usado o expiró. Vuelve a escribir tu clave con el "
                     "teclado virtual que aparece ahora.")
MSG_KEYBOARD_BAD = "No pudimos leer la clave ingresada. Escríbela de nuevo con el teclado virtual."
MSG_EMPTY_KEY = "Ingresa tu clave con el teclado virtual."
MSG_IP_LIMIT = ("Hicimos una pausa por seguridad: hubo demasiados intentos de ingreso desde tu conexión. "
                "Espera unos minutos e intenta de nuevo.")
MSG_STEP_LIMIT = ("Hicimos una pausa por seguridad: hubo demasiadas consultas de ingreso desde tu conexión o "
                  "para este documento. Espera unos minutos e intenta de nuevo.")
MSG_TEMP_LIMIT = ("Ya se solicitaron varias claves temporales. Por seguridad, espera un tiempo antes de pedir "
                  "otra o usa la última que recibiste.")
# A member's failure count lasts until a success or a lock; a stranger's, about as long.
STRANGER_FAILURES_KEPT_S = 30 * 24 * 3600
SESSION_MESSAGES = {
    "idle": "Tu sesión se cerró por inactividad. Ingresa de nuevo.",
    "absolute": "Tu sesión alcanzó el tiempo máximo permitido. Ingresa de nuevo.",
    "replaced": "Tu sesión se cerró porque se ingresó con tu documento desde otro navegador o dispositivo.",
    "gone": "Tu sesión terminó. Ingresa de nuevo.",
    "salida": "Saliste de la zona privada de forma segura.",
}


def _settings():  # noqa: ANN202
    return current_app.config["ZONA_SETTINGS"]


@bp.record_once
def _make_throttle(state: BlueprintSetupState) -> None:
    # At app creation, not on the first login: request threads racing to make it would
    # each get their own (see webapp.sessions).
    state.app.extensions["zona_throttle"] = Throttle(state.app.config["ZONA_SETTINGS"].throttle_redis_url)


def _throttle() -> Throttle:
    return current_app.extensions["zona_throttle"]


def _check_step_limits(doc_type: str, doc_number: str) -> None:
    """Steps 1 and 2 (and the temporary-key page, which shows the same masks) per IP and
    per document: walking through document numbers to see whose page comes back is what
    a membership oracle needs. An IP already stopped for wrong keys is stopped here too."""
    settings = _settings()
    throttle = _throttle()
    ip = request.remote_addr
    checks = (
        (f"login-ip:{ip}", None),
        (f"step-ip:{ip}", settings.login_step_ip_limit),
        (f"step-doc:{doc_type}:{doc_number}", settings.login_step_document_limit),
    )
    for key, limit in checks:
        over = (throttle.count(key) > settings.login_ip_limit if limit is None
                else not throttle.hit(key, limit, settings.login_step_window_s))
        if over:
            raise_error(429, MSG_STEP_LIMIT, retry_after_s=throttle.seconds_left(key))


def _requester() -> Requester:
    return Requester(ip=request.remote_addr, user_agent=request.user_agent.string)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _policy() -> PasswordPolicy:
    s = _settings()
    return PasswordPolicy(min_length=s.password_min_length, max_length=s.password_max_length)


def _login_slots() -> int:
    return max(_settings().password_max_length, credentials.TEMP_KEY_LENGTH)


def _login_doc() -> tuple[str, str] | None:
    value = session.get(LOGIN_DOC)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    return str(value[0]), str(value[1])


def _lock_message() -> str:
    minutes = max(1, _settings().lockout_duration_s // 60)
    return ("Por seguridad, el acceso quedó bloqueado temporalmente por varios intentos fallidos. "
            f"Intenta de nuevo en {minutes} minutos o comunícate con la cooperativa.")


def _shapes() -> ContactShapes:
    """Members' mask shapes for the decoys, read at most every SHAPES_KEPT_S per process."""
    cached = current_app.extensions.get("zona_contact_shapes")
    now = time.monotonic()
    if cached is None or now - cached[0] > SHAPES_KEPT_S:
        with session_scope() as db:
            cached = (now, contact_shapes.load(db))
        current_app.extensions["zona_contact_shapes"] = cached
    return cached[1]


def _presentation(doc_type: str, doc_number: str) -> tuple[credentials.LoginSubject, dict[str, str | None]]:
    """What the login shows for a document. The image and phrase: a member's own only on
    a device the member used before (or after this session's device code); a new device,
    and any stranger, get none, and the step asks for a code first. On a known device a
    member who has not chosen them yet gets the HMAC decoy. The contact masks (to choose
    where a code goes): the member's, or a decoy drawn from members' own mask shapes."""
    with session_scope() as db:
        subject = credentials.find_subject(db, doc_type, doc_number)
    decoy = decoy_for(_settings().decoy_secret, doc_type, doc_number, IMAGES_FOR_DECOYS, _shapes())
    masks = {"sms": decoy.masked_mobile, "email": decoy.masked_email}
    if subject.member_id is not None:
        masks = {"sms": mask_mobile(subject.mobile or ""), "email": mask_email(subject.email or "")}
    verified = subject.member_id is not None and (
        devices.knows(request, subject.member_id) or session.get(DEVICE_OK) == [doc_type, doc_number])
    image, phrase = (decoy.image, decoy.phrase) if verified else (None, None)
    if verified and subject.security_image in SECURITY_IMAGES and subject.security_phrase:
        image, phrase = subject.security_image, subject.security_phrase
    return subject, {"image": image, "image_label": SECURITY_IMAGES[image] if image else None, "phrase": phrase,
                     **masks}


def _seeds() -> keyboard.SeedStore:
    return keyboard.SeedStore(current_app.session_interface.client, session.stable_id(),
                              _settings().session_idle_timeout_s)


def _keyboard_context(slots: int) -> dict[str, object]:
    kb = keyboard.new_keyboard(slots)
    keyboard.remember(_seeds(), kb)
    return {"kb": kb, "kb_csrf": keyboard.csrf_in_symbols(), "upper": keyboard.UPPER}


def _decode_keyboard_form(names: tuple[str, ...], max_chars: int) -> list[str]:
    """CSRF, single-use form id and tokens of a keyboard form; any failure is a 400."""
    keyboard.check_csrf_in_symbols(request.form.get("c"))
    redeemed = keyboard.redeem(_seeds(), request.form.get("f", ""))
    if redeemed is None:
        raise_error(400, MSG_KEYBOARD_USED)
    seed, slots = redeemed
    fields = [request.form.getlist(name) for name in names]
    if sum(len(f) for f in fields) > slots * len(keyboard.CHARACTERS):
        raise_error(400, MSG_KEYBOARD_BAD)
    try:
        return keyboard.decode(seed, slots, fields, max_chars=max_chars)
    except keyboard.KeyboardError:
        raise_error(400, MSG_KEYBOARD_BAD)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- step 1


@bp.get("/ingresar")
def login():  # noqa: ANN201
    reason = request.args.get("sesion", "")
    return render_template(
        "auth/login_document.html", doc_types=forms.DOCUMENT_TYPE_LABELS, selected_type="CC", number="",
        error=None, notice=SESSION_MESSAGES.get(reason if isinstance(reason, str) else ""),
        next_url=safe_next(request.args.get("next")),
    )


@bp.post("/ingresar")
def login_document():  # noqa: ANN201
    raw_type, raw_number = request.form.get("tipo"), request.form.get("documento")
    try:
        doc_type = forms.document_type(raw_type)
        doc_number = forms.document_number(raw_number, doc_type)
    except forms.FormError as exc:
        shown_type = raw_type if raw_type in forms.DOCUMENT_TYPE_LABELS else "CC"
        return render_template(
            "auth/login_document.html", doc_types=forms.DOCUMENT_TYPE_LABELS, selected_type=shown_type,
            number=(raw_number or "")[:20], error=exc.message, notice=None,
            next_url=safe_next(request.form.get("next")),
        ), 422
    _check_step_limits(doc_type, doc_number)
    wanted = safe_next(request.form.get("next"))
    # A new login starts from a clean session with a new id.
    session.clear()
    session.rotate()
    session[LOGIN_DOC] = [doc_type, doc_number]
    if wanted:
        session[NEXT_URL] = wanted
    return redirect(url_for("auth.login_key"), code=303)


# ---------------------------------------------------------------- step 2


def _device_owner(doc: tuple[str, str]) -> str:
    # By document, not by member: a stranger's code record is made exactly as a member's.
    return f"doc:{doc[0]}:{doc[1]}"


def _render_key_page(doc: tuple[str, str], *, error: str | None = None, status: int = 200,
                     device_error: str | None = None):  # noqa: ANN202
    _subject, shown = _presentation(*doc)
    device_code = None if shown["image"] else _codes().pending(_device_owner(doc), session.stable_id())
    return render_template(
        "auth/login_key.html", doc_type=doc[0], doc_number=doc[1], shown=shown, error=error,
        device_code=device_code, device_error=device_error, code_digits=CODE_DIGITS,
        channels={"sms": "mensaje de texto (SMS)", "email": "correo electrónico"},
        max_chars=_login_slots(), **_keyboard_context(_login_slots()),
    ), status


@bp.get("/ingresar/clave")
def login_key():  # noqa: ANN201
    doc = _login_doc()
    if doc is None:
        return redirect(url_for("auth.login"))
    # Counted once per login session and document: reloading the page shows nothing new,
    # a new document needs step 1 again (a new session), which counts it.
    if session.get(STEP2_COUNTED) != list(doc):
        _check_step_limits(*doc)
        session[STEP2_COUNTED] = list(doc)
    return _render_key_page(doc)


@csrf.exempt
@bp.post("/ingresar/clave")
def login_key_submit():  # noqa: ANN201
    settings = _settings()
    if not _throttle().hit(f"login-ip:{request.remote_addr}", settings.login_ip_limit, settings.login_ip_window_s):
        raise_error(429, MSG_IP_LIMIT, retry_after_s=_throttle().seconds_left(f"login-ip:{request.remote_addr}"))
    doc = _login_doc()
    if doc is None:
        keyboard.check_csrf_in_symbols(request.form.get("c"))
        raise_error(400, "Tu sesión de ingreso expiró. Ingresa de nuevo tu documento de identidad.")
    (secret,) = _decode_keyboard_form(("k",), _login_slots())
    if not secret:
        return _render_key_page(doc, error=MSG_EMPTY_KEY, status=422)

    requester = _requester()
    now = _now()
    stranger_key = f"stranger-fail:{doc[0]}:{doc[1]}"
    lock_notice: int | None = None
    replaced = False
    with session_scope() as db:
        outcome = credentials.attempt_login(
            db, doc[0], doc[1], secret, now=now, ip=requester.ip, lockout_threshold=settings.lockout_threshold,
            lockout_duration_s=settings.lockout_duration_s, consent_version=settings.data_consent_version,
        )
        result = outcome.result
        if outcome.member_id is None:
            # A stranger's number "locks" like a member's would, counted in Redis.
            if _throttle().count(stranger_key) >= settings.lockout_threshold:
                result = LoginResult.LOCKED
            elif _throttle().increment(stranger_key, STRANGER_FAILURES_KEPT_S) >= settings.lockout_threshold:
                # Locked from now on, for the same period a member's account would be.
                _throttle().expire(stranger_key, settings.lockout_duration_s)
                result = LoginResult.LOCKED_NOW
        if result is LoginResult.SUCCEEDED:
            replaced = current_app.session_interface.member_has_session(outcome.member_id)
            audit.record(db, "login_succeeded", requester, member_id=outcome.member_id,
                         temporary_key=outcome.used_temp_key)
            if replaced:
                audit.record(db, "session_replaced", requester, member_id=outcome.member_id)
        elif result is LoginResult.LOCKED:
            audit.record(db, "login_failed", requester, member_id=outcome.member_id, reason="locked",
                         **({} if outcome.member_id else {"document": f"{doc[0]} {doc[1]}"}))
        else:
            audit.record(db, "login_failed", requester, member_id=outcome.member_id,
                         **({} if outcome.member_id else {"document": f"{doc[0]} {doc[1]}"}))
            if result is LoginResult.LOCKED_NOW and outcome.member_id is not None:
                audit.record(db, "account_locked", requester, member_id=outcome.member_id,
                             until=outcome.locked_until.isoformat() if outcome.locked_until else None)
                lock_notice = notices.account_locked(
                    db, member_id=outcome.member_id, name=outcome.full_name or "", email=outcome.email or "",
                    locked_until=outcome.locked_until or now, ip=requester.ip,
                )
    if lock_notice is not None:
        _send_after_commit(lock_notice)

    if result is not LoginResult.SUCCEEDED:
        message = MSG_BAD_LOGIN if result is LoginResult.FAILED else _lock_message()
        return _render_key_page(doc, error=message, status=401 if result is LoginResult.FAILED else 403)

    pending = []
    if outcome.needs_consent:
        pending.append("consent")
    if outcome.must_change:
        pending.append("change")
    if outcome.needs_security_choice:
        pending.append("security")
    wanted = safe_next(session.get(NEXT_URL))
    session.clear()
    session.rotate()  # a session id known before login is worthless after it
    session[MEMBER_ID] = outcome.member_id
    session[PENDING] = pending
    if wanted:
        session[NEXT_URL] = wanted
    session[PREVIOUS_LOGIN] = [
        outcome.previous_login_at.isoformat() if outcome.previous_login_at else None, outcome.previous_login_ip,
    ]
    response = redirect(next_stage_url(), code=303)
    devices.remember(request, response, outcome.member_id)  # this device is known from now on
    return response


def _send_after_commit(message_id: int) -> None:
    from workers.notification_tasks import enqueue_send

    try:
        enqueue_send(message_id)
    except Exception:  # the broker is down: the row stays pending and the log says why
        log.exception("could not enqueue outbox message %s", message_id)


# ---------------------------------------------------------------- a new device

MSG_DEVICE_CAP = ("Ya se enviaron varios códigos para este documento. Por seguridad, espera un tiempo antes de "
                  "pedir otro.")
DEVICE_MESSAGES = {
    Verdict.NONE: "Solicita primero el código para reconocer este dispositivo.",
    Verdict.NOT_YET: "El código se está enviando; espera unos segundos e ingrésalo cuando lo recibas.",
    Verdict.EXPIRED: "El código venció; solicita uno nuevo.",
    Verdict.WRONG: "El código no es correcto. Revisa el mensaje que te enviamos e intenta de nuevo.",
    Verdict.VOIDED: "El código no es correcto y se anuló por seguridad; solicita uno nuevo.",
}


def _codes() -> CodeStore:
    return CodeStore(current_app.session_interface.client)


@bp.post("/ingresar/dispositivo")
def device_code_request():  # noqa: ANN201
    """Send the code a new device needs: the same work for any document (a code record,
    one audit row, one task); the worker sends it only to a member."""
    doc = _login_doc()
    if doc is None:
        raise_error(400, "Tu sesión de ingreso expiró. Ingresa de nuevo tu documento de identidad.")
    _check_step_limits(*doc)
    try:
        chosen = forms.channel(request.form.get("canal"))
    except forms.FormError as exc:
        return _render_key_page(doc, status=422, device_error=exc.message)
    settings = _settings()
    subject, shown = _presentation(*doc)
    try:
        reference = _codes().open(
            _device_owner(doc), session.stable_id(), day=datetime.now(BOGOTA).date().isoformat(), channel=chosen,
            masked=str(shown[chosen]), expires_at=time.time() + settings.otp_ttl_s, ttl_s=settings.otp_ttl_s,
            sends_cap=DEVICE_MAX_SENDS, daily_cap=settings.otp_daily_cap,
        )
    except CapReached:
        raise_error(429, MSG_DEVICE_CAP, retry_after_s=settings.otp_ttl_s)
    with session_scope() as db:
        audit.record(db, "device_code_requested", _requester(), member_id=subject.member_id, channel=chosen,
                     **({} if subject.member_id else {"document": f"{doc[0]} {doc[1]}"}))
    from workers.notification_tasks import enqueue_device_code

    try:
        enqueue_device_code(doc[0], doc[1], chosen, reference)
    except Exception:  # broker down: the member asks again; the log says why
        log.exception("could not enqueue a device code")
    return redirect(url_for("auth.login_key"), code=303)


@bp.post("/ingresar/dispositivo/codigo")
def device_code_check():  # noqa: ANN201
    doc = _login_doc()
    if doc is None:
        raise_error(400, "Tu sesión de ingreso expiró. Ingresa de nuevo tu documento de identidad.")
    _check_step_limits(*doc)
    typed = str(request.form.get("codigo") or "").strip()
    if len(typed) != CODE_DIGITS or not typed.isascii() or not typed.isdigit():
        return _render_key_page(doc, status=422,
                                device_error=f"Ingresa el código de {CODE_DIGITS} dígitos que te enviamos.")
    verdict = verify(_codes(), _device_owner(doc), session.stable_id(), typed, ttl_s=_settings().otp_ttl_s,
                     max_wrong=DEVICE_MAX_WRONG, now=time.time(), verify_hash=verify_secret)
    if verdict is not Verdict.ACCEPTED:
        return _render_key_page(doc, status=422, device_error=DEVICE_MESSAGES[verdict])
    session[DEVICE_OK] = list(doc)
    return redirect(url_for("auth.login_key"), code=303)


# ---------------------------------------------------------------- olvidé mi clave


@bp.get("/ingresar/clave-temporal")
def temp_key():  # noqa: ANN201
    doc = _login_doc()
    if doc is None:
        return redirect(url_for("auth.login"))
    _check_step_limits(*doc)
    _subject, shown = _presentation(*doc)
    return render_template("auth/temp_key.html", doc_type=doc[0], doc_number=doc[1], shown=shown, error=None,
                           ttl_minutes=max(1, _settings().temp_key_ttl_s // 60))


@bp.post("/ingresar/clave-temporal")
def temp_key_submit():  # noqa: ANN201
    doc = _login_doc()
    if doc is None:
        raise_error(400, "Tu sesión de ingreso expiró. Ingresa de nuevo tu documento de identidad.")
    settings = _settings()
    subject, shown = _presentation(*doc)
    try:
        chosen = forms.channel(request.form.get("canal"))
    except forms.FormError as exc:
        return render_template("auth/temp_key.html", doc_type=doc[0], doc_number=doc[1], shown=shown,
                               error=exc.message, ttl_minutes=max(1, settings.temp_key_ttl_s // 60)), 422
    throttle = _throttle()
    ip_ok = throttle.hit(f"temp-ip:{request.remote_addr}", settings.temp_key_ip_limit, settings.temp_key_window_s)
    doc_ok = throttle.hit(f"temp-doc:{doc[0]}:{doc[1]}", settings.temp_key_document_limit, settings.temp_key_window_s)
    if not (ip_ok and doc_ok):
        raise_error(429, MSG_TEMP_LIMIT)

    # The same work for a member and a stranger: one audit row, one task. The worker
    # looks the document up again, draws and hashes the key (or a decoy's) and sends it,
    # so this request neither costs more for a member nor ever holds the key.
    with session_scope() as db:
        audit.record(db, "temp_key_requested", _requester(), member_id=subject.member_id, channel=chosen,
                     **({} if subject.member_id else {"document": f"{doc[0]} {doc[1]}"}))
    from workers.notification_tasks import enqueue_temp_key

    try:
        enqueue_temp_key(doc[0], doc[1], chosen)
    except Exception:  # broker down: the member asks again; the log says why
        log.exception("could not enqueue a temporary key")
    return render_template("auth/temp_key_sent.html", channel=chosen, shown=shown,
                           ttl_minutes=max(1, settings.temp_key_ttl_s // 60))


# ---------------------------------------------------------------- after a temporary key


@bp.get("/ingresar/aviso-datos")
@stage_required("consent")
def consent():  # noqa: ANN201
    return render_template("auth/consent.html", error=None, version=_settings().data_consent_version)


@bp.post("/ingresar/aviso-datos")
@stage_required("consent")
def consent_submit():  # noqa: ANN201
    if request.form.get("acepto") != "si":
        return render_template(
            "auth/consent.html", version=_settings().data_consent_version,
            error="Para continuar debes aceptar el aviso de tratamiento de datos personales.",
        ), 422
    member_id = logged_member_id()
    with session_scope() as db:
        credentials.accept_data_consent(db, member_id, _settings().data_consent_version, now=_now())
        audit.record(db, "data_consent_accepted", _requester(), member_id=member_id,
                     version=_settings().data_consent_version)
    finish_stage("consent")
    return redirect(next_stage_url(), code=303)


def _change_page(errors: list[str] | None = None, status: int = 200):  # noqa: ANN202
    policy = _policy()
    return render_template(
        "auth/change_password.html", rules=policy.describe(), errors=errors or [], max_chars=policy.max_length,
        **_keyboard_context(2 * policy.max_length),
    ), status


@bp.get("/ingresar/cambiar-clave")
@stage_required("change")
def change_password():  # noqa: ANN201
    return _change_page()


@csrf.exempt
@bp.post("/ingresar/cambiar-clave")
@stage_required("change")
def change_password_submit():  # noqa: ANN201
    policy = _policy()
    new, repeated = _decode_keyboard_form(("n", "r"), 2 * policy.max_length)
    member_id = logged_member_id()
    assert member_id is not None
    if not new:
        return _change_page(["Ingresa tu nueva clave con el teclado virtual."], 422)
    if new != repeated:
        return _change_page(["La confirmación no coincide con la nueva clave."], 422)
    now = _now()
    requester = _requester()
    with session_scope() as db:
        name, email, doc_number = credentials.member_contact(db, member_id)
        errors = policy.violations(new, forbidden=[doc_number])
        if MSG_FORBIDDEN not in errors and credentials.matches_temp_key(db, member_id, new):
            errors.append(MSG_FORBIDDEN)
        if errors:
            return _change_page(errors, 422)
        credentials.change_password(db, member_id, new, now=now)
        audit.record(db, "password_changed", requester, member_id=member_id)
        notice = notices.password_changed(db, member_id=member_id, name=name, email=email, at=now, ip=requester.ip)
    _send_after_commit(notice)
    finish_stage("change")
    return redirect(next_stage_url(), code=303)


def _security_page(image: str | None, phrase: str, error: str | None = None, status: int = 200):  # noqa: ANN202
    return render_template("auth/security_choice.html", images=SECURITY_IMAGES, selected=image, phrase=phrase,
                           error=error, phrase_max=forms.PHRASE_MAX), status


@bp.get("/ingresar/seguridad")
@stage_required("security")
def security_choice():  # noqa: ANN201
    with session_scope() as db:
        image, phrase = credentials.security_choice(db, logged_member_id())
    return _security_page(image, phrase or "")


@bp.post("/ingresar/seguridad")
@stage_required("security")
def security_choice_submit():  # noqa: ANN201
    raw_image, raw_phrase = request.form.get("imagen"), request.form.get("frase")
    try:
        image = forms.choice(raw_image, SECURITY_IMAGES, "Elige una de las imágenes de seguridad.")
        phrase = forms.security_phrase(raw_phrase)
    except forms.FormError as exc:
        shown_image = raw_image if raw_image in SECURITY_IMAGES else None
        return _security_page(shown_image, (raw_phrase or "")[: forms.PHRASE_MAX], exc.message, 422)
    member_id = logged_member_id()
    with session_scope() as db:
        credentials.set_security_choice(db, member_id, image, phrase)
        audit.record(db, "security_choice_changed", _requester(), member_id=member_id)
    finish_stage("security")
    return redirect(next_stage_url(), code=303)


# ---------------------------------------------------------------- session end and status


@bp.post("/salir")
def logout():  # noqa: ANN201
    member_id = logged_member_id()
    if member_id is not None:
        with session_scope() as db:
            audit.record(db, "logout", _requester(), member_id=member_id)
    session.destroy()
    return redirect(url_for("auth.login", sesion="salida"), code=303)


@bp.get("/sesion/estado")
def session_status():  # noqa: ANN201
    g.session_no_touch = True  # asking must not count as activity
    active = logged_member_id() is not None
    return jsonify(activa=active, segundos_restantes=seconds_left(session, _settings()) if active else 0,
                   aviso_s=_settings().session_idle_warning_s)


@bp.post("/sesion/renovar")
def session_renew():  # noqa: ANN201
    active = logged_member_id() is not None
    if not active:
        raise_error(401, SESSION_MESSAGES["gone"])
    return jsonify(activa=True, segundos_restantes=_settings().session_idle_timeout_s)
