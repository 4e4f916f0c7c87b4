"""The Flask front end. `create_app()` reads top to bottom, one blueprint a line."""
from __future__ import annotations

from typing import Any

from flask import Flask

from zona_privada.settings import get_settings


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    settings = get_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        ZONA_SETTINGS=settings,
        JSON_AS_ASCII=False,
    )
    if overrides:
        app.config.update(overrides)

    from . import converters, errors, security, sessions
    from .auth import bp as auth_bp
    from .health import bp as health_bp
    from .payments import bp as payments_bp
    from .public import bp as public_bp
    from .zone import bp as zone_bp

    converters.init_app(app)
    sessions.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(zone_bp)
    app.register_blueprint(payments_bp)
    return app
