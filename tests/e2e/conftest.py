"""Browser fixtures: Playwright driving Debian's chromium (installed by `zona test`)."""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("ZONA_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as pw:
        kwargs = {"args": CHROMIUM_ARGS, "headless": True}
        if os.path.exists(executable):
            kwargs["executable_path"] = executable
        browser = pw.chromium.launch(**kwargs)
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator[object]:  # noqa: ANN001
    context = browser.new_context(locale="es-CO", timezone_id="America/Bogota")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
