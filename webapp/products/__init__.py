"""Mis productos y servicios: the sub-tabs and the movements of each product."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("products", __name__, url_prefix="/zona/productos")

from . import views  # noqa: E402,F401  (registers the routes)
