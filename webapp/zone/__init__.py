"""The zone after login: the member's header, the tab bar and the pages behind it."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("zone", __name__, url_prefix="/zona")

from . import views  # noqa: E402,F401  (registers the routes)
