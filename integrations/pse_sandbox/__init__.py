"""PSE sandbox: a stand-in for ACH Colombia's MainServices (see app.py).

    python -m integrations.pse_sandbox --port 8100 --state-dir var/pse_sandbox
"""
from __future__ import annotations

from integrations.pse_sandbox.app import create_app

__all__ = ["create_app"]
