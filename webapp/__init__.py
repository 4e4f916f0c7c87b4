"""The Flask front end. `create_app()` reads top to bottom, one blueprint a line."""
from __future__ import annotations

from typing import Any

from flask import Flask

from db.engine import name_connections
from zona_privada.settings import get_settings


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    settings = get_settings()
    name_connections("web")
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        ZONA_SETTINGS=settings,
        JSON_AS_ASCII=False,
    )
    if overrides:
        app.config.update(overrides)
    if settings.trusted_proxies > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind the TLS proxy the peer is the proxy: the client is the address the last
        # `trusted_proxies` hops put in X-Forwarded-For. With 0 (development, or no proxy)
        # the header is ignored, since anybody can send it.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0, x_port=0, x_prefix=0)  # type: ignore[method-assign]

    from . import converters, errors, security, sessions
    from .auth import bp as auth_bp
    from .documents import bp as documents_bp
    from .products import bp as products_bp
    from .personal import bp as personal_bp
    from . import operator
    from .health import bp as health_bp
    from .metrics import bp as metrics_bp
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
    app.register_blueprint(documents_bp)
    app.register_blueprint(products_bp)
    app.register_blueprint(personal_bp)
    app.register_blueprint(metrics_bp)
    operator.init_app(app)
    return app
