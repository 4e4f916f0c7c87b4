"""Helpers the tests share (imported as `tests.support.…`, never from a conftest)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
