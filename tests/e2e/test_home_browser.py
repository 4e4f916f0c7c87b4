"""The public home page in a real browser, served by gunicorn: the manual's first step
is "esquina superior derecha, Zona privada de asociados"."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.processes import start_web, wait_http

pytestmark = pytest.mark.e2e


def test_home_shows_private_zone_link_top_right(page, database_url: str, subprocess_env, tmp_path: Path) -> None:  # noqa: ANN001
    port = free_port()
    web = start_web(subprocess_env, tmp_path, port, workers=1)
    try:
        assert wait_http(f"http://127.0.0.1:{port}/", 30) == 200, web.log()
        page.goto(f"http://127.0.0.1:{port}/")
        link = page.get_by_role("link", name="Zona privada de asociados")
        box = link.bounding_box()
        viewport = page.viewport_size
        assert box is not None and box["x"] > viewport["width"] / 2 and box["y"] < 120
        assert page.locator("html").get_attribute("lang") == "es-CO"
    finally:
        web.stop()
