"""Spanish error pages (or JSON for API callers) for every error a member can meet.

Bad input is always a 4xx with a clear message; a 500 is only ever a bug, and even then
the member reads Spanish and no detail leaks."""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Solicitud no válida", "No pudimos procesar la información enviada. Vuelve a la página anterior e intenta de nuevo."),
    401: ("Ingreso requerido", "Debes ingresar a la zona privada para ver esta página."),
    403: ("Acceso no permitido", "No tienes permiso para ver esta página."),
    404: ("Página no encontrada", "La página que buscas no existe o cambió de dirección."),
    405: ("Operación no permitida", "Esta página no admite la operación solicitada."),
    413: ("Información demasiado extensa", "La información enviada supera el tamaño permitido."),
    422: ("Datos no válidos", "Revisa los datos ingresados e intenta de nuevo."),
    429: ("Demasiados intentos", "Hiciste demasiadas solicitudes en poco tiempo. Espera unos minutos e intenta de nuevo."),
    500: ("Error inesperado", "Tuvimos un problema al procesar tu solicitud. Intenta de nuevo en unos minutos."),
}
CSRF_MESSAGE = ("El formulario expiró o no es válido. Vuelve a cargar la página e intenta de nuevo.")


class SpanishHTTPError(HTTPException):
    """Raised by views with a message for the member: `raise_error(422, "...")`."""

    def __init__(self, code: int, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(description=message)
        self.code = code
        self.retry_after_s = retry_after_s


def raise_error(code: int, message: str, *, retry_after_s: int | None = None) -> None:
    """`retry_after_s` (a 429's wait) goes out as the Retry-After header."""
    raise SpanishHTTPError(code, message, retry_after_s)


def wants_json() -> bool:
    # A `.json` route answers JSON even for a URL that matched no rule (an id out of
    # range): the status poll reads the body, and an HTML page there is a broken contract.
    if request.is_json or request.path.startswith("/sesion/") or request.path.endswith(".json"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(code: int, message: str | None = None) -> tuple[Response | str, int]:
    title, default = MESSAGES.get(code, MESSAGES[400 if code < 500 else 500])
    text = message or default
    if wants_json():
        return jsonify(error=title, mensaje=text, status=code), code
    return render_template("errors/error.html", code=code, title=title, message=text), code


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(_exc: CSRFError):  # noqa: ANN202
        return error_response(400, CSRF_MESSAGE)

    @app.errorhandler(SpanishHTTPError)
    def _spanish(exc: SpanishHTTPError):  # noqa: ANN202
        response, status = error_response(exc.code or 400, exc.description)
        if exc.retry_after_s is not None:
            response = make_response(response, status)
            response.headers["Retry-After"] = str(max(1, exc.retry_after_s))
        return response, status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # noqa: ANN202
        code = exc.code or 500
        if code >= 500:
            log.error("http error %s on %s", code, request.path)
        response, status = error_response(code)
        if code == 405 and isinstance(response, Response) and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # noqa: ANN202
        if isinstance(exc, HTTPException):  # pragma: no cover - handled above
            return _http(exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(InternalServerError.code)
