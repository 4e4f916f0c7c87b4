"""CSRF on every form (Flask-WTF), security headers on every response, request limits.

The CSP allows scripts only from our own origin (no inline script anywhere), forbids
framing, and pins forms to our origin. HSTS is sent outside development, where the site
is served over HTTPS only.
"""
from __future__ import annotations

from flask import Flask, Response, request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HSTS = "max-age=31536000; includeSubDomains"
# Bank pages are never cached: a shared computer's back button must not show them.
_PRIVATE_PREFIXES = ("/ingresar", "/zona", "/sesion", "/salir")
MAX_REQUEST_BYTES = 512 * 1024


def init_app(app: Flask) -> None:
    settings = app.config["ZONA_SETTINGS"]
    # Flask ships these keys with permissive defaults; tighten unless the app set them.
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = min(app.config.get("MAX_FORM_MEMORY_SIZE") or MAX_REQUEST_BYTES,
                                             MAX_REQUEST_BYTES)
    app.config["MAX_FORM_PARTS"] = min(app.config.get("MAX_FORM_PARTS") or 1000, 1000)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", settings.session_absolute_timeout_s)
    app.config.setdefault("WTF_CSRF_SSL_STRICT", True)
    csrf.init_app(app)
    strict_transport = not settings.is_development

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if strict_transport:
            headers.setdefault("Strict-Transport-Security", HSTS)
        if request.path.startswith(_PRIVATE_PREFIXES):
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        return response
