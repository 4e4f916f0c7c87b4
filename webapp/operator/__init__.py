"""The operator console (/operador): its own accounts (key + TOTP, roles), views of every payment and four-eyes actions."""
from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("operator", __name__, url_prefix="/operador")

from . import views  # noqa: E402,F401  (registers the routes)


def init_app(app: Flask) -> None:
    """Its own sessions and CSRF (webapp.operator.sessions): members' CSRF, which lives in
    the member's session, does not apply here."""
    from webapp.security import csrf

    from . import sessions

    sessions.init_app(app)
    csrf.exempt(bp)
    app.register_blueprint(bp)
