"""Mis Datos Personales: the member's data and its audited changes."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("personal", __name__, url_prefix="/zona/datos-personales")

from . import views  # noqa: E402,F401  (registers the routes)
