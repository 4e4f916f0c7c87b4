""""Pagos y Transferencias": the manual's payment wizard, transfers between one's own
accounts, the status page the member watches until the payment is applied, the
printable receipt and the history. The money work itself is `db.payments` + workers."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("payments", __name__, url_prefix="/zona/pagos")

from . import views  # noqa: E402,F401  (registers the routes)
from . import pse_pages  # noqa: E402,F401
