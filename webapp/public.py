"""The cooperative's public home page, with "Zona privada de asociados" at the top right."""
from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("public", __name__)


@bp.get("/")
def home():  # noqa: ANN201
    return render_template("public/home.html")
