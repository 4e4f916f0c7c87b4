"""Estado de cuenta and Certificaciones y descargas: the statement, the PDFs and their public verification page."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("documents", __name__)

from . import views_certificates, views_statement, views_verify  # noqa: E402,F401  (registers the routes)
