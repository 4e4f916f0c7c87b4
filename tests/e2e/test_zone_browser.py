"""A real browser, as the manual's demo member on a desktop and on a phone: the header
block shows the manual's figures, every tab of the zone opens, no page scrolls sideways
on a phone, the tab bar is reachable by keyboard, and screenshots of the dashboard at
both sizes are written for a person to look at."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.zone_login import login_member
from tests.e2e.zone_stack import zone_stack

pytestmark = pytest.mark.e2e

DEMO = "1077227777"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def stack(database_url: str, state_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with zone_stack(database_url, state_dir, tmp_path_factory.mktemp("e2e-zone"), worker_concurrency=1) as running:
        yield running


def sideways_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def tab_links(page: Any) -> list[tuple[str, str]]:
    links = page.locator("nav.tabs a")
    return [(links.nth(i).inner_text().strip(), links.nth(i).get_attribute("href")) for i in range(links.count())]


@pytest.mark.parametrize(("size", "name"), [(DESKTOP, "escritorio"), (PHONE, "celular")])
def test_dashboard_and_every_tab_at_desktop_and_phone_size(stack: dict[str, Any], browser: Any, tmp_path: Path,
                                                           size: dict[str, int], name: str) -> None:
    base = stack["base"]
    context = browser.new_context(viewport=size, locale="es-CO")
    page = context.new_page()
    try:
        login_member(page, base, DEMO, stack["creds"][DEMO])
        header = page.locator("section.member-header").inner_text()
        # The manual's demo member: salary, payment capacity and seniority.
        assert "$3,500,000.00" in header and "$3,327,104.00" in header and "39 meses" in header
        shot = tmp_path / f"tablero-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        print(f"\nscreenshot: {shot}")
        assert sideways_overflow(page) <= 0, f"the dashboard scrolls sideways at {size}"

        tabs = tab_links(page)
        assert [label for label, _ in tabs] == ["Mis productos y servicios", "Certificaciones y descargas",
                                                "Pagos y Transferencias", "Mis Datos Personales", "Estado de cuenta"]
        for label, href in tabs:
            response = page.goto(base + href)
            assert response is not None and response.status == 200, (label, href)
            current = page.locator("nav.tabs a[aria-current=page]")
            assert current.count() == 1 and current.inner_text().strip() == label
            assert sideways_overflow(page) <= 0, f"{label} scrolls sideways at {size}"

        # Every sub-tab of "Mis productos y servicios", then a product's movements.
        page.goto(base + "/zona/")
        subtabs = page.locator("nav.subtabs a")
        hrefs = [subtabs.nth(i).get_attribute("href") for i in range(subtabs.count())]
        assert len(hrefs) == 7
        for href in hrefs:
            response = page.goto(base + href)
            assert response is not None and response.status == 200, href
            assert page.locator("nav.subtabs a[aria-current=page]").count() == 1
            assert sideways_overflow(page) <= 0, f"{href} scrolls sideways at {size}"
        page.goto(base + "/zona/productos/ahorros")
        page.get_by_role("link", name=re.compile("Ver movimientos")).first.click()
        page.locator("#tabla-movimientos").wait_for()
        assert page.locator("#tabla-movimientos tbody tr").count() > 0
        assert sideways_overflow(page) <= 0
    finally:
        context.close()


def test_the_tab_bar_is_reached_and_followed_by_keyboard(stack: dict[str, Any], page: Any) -> None:
    base = stack["base"]
    login_member(page, base, DEMO, stack["creds"][DEMO])
    first_tab = page.locator("nav.tabs a").nth(1)
    for _ in range(40):  # Tab through the page until the second tab has the focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.closest('nav.tabs') !== null "
                         "&& document.activeElement === document.querySelectorAll('nav.tabs a')[1]"):
            break
    else:
        pytest.fail("the tab bar never took the keyboard focus")
    # The focus is visible (an outline or a box shadow), and Enter follows the link.
    style = page.evaluate("(() => { const s = getComputedStyle(document.activeElement); "
                          "return s.outlineStyle + '|' + s.outlineWidth + '|' + s.boxShadow; })()")
    outline_style, outline_width, shadow = style.split("|")
    assert (outline_style != "none" and outline_width != "0px") or shadow != "none", style
    expected = first_tab.get_attribute("href")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{expected}")


def test_member_changes_their_email_typing_the_key_on_the_keyboard(stack: dict[str, Any], page: Any) -> None:
    from sqlalchemy import text

    from db.engine import session_scope
    from tests.e2e.zone_login import click_keys

    base, secret = stack["base"], stack["creds"][DEMO]
    login_member(page, base, DEMO, secret)
    page.get_by_role("link", name="Mis Datos Personales").click()
    assert "Ley 1581 de 2012" in page.locator("#autorizacion").inner_text()
    old_email = page.locator("#dato-correo").inner_text()
    page.fill("#correo", "maria.navegador@example.coop")
    page.fill("#direccion", "Carrera 7 # 72-41")
    page.fill("#ciudad", "Bogotá")
    click_keys(page, secret)
    page.click("#guardar-datos")
    page.locator("#aviso").wait_for()
    assert page.locator("#dato-correo").inner_text() == "maria.navegador@example.coop"
    with session_scope() as db:
        told = db.execute(text("SELECT count(*) FROM notification_outbox WHERE recipient = :r "
                               "AND subject LIKE 'Cambio de tus datos%'"), {"r": old_email}).scalar_one()
        db.execute(text("UPDATE members SET email = :e, address = NULL, city = NULL WHERE document_number = :d"),
                   {"e": old_email, "d": DEMO})
    assert told == 1


def test_member_pages_back_through_movements(stack: dict[str, Any], page: Any) -> None:
    """45 deposits on Rentahorrito: three pages of 20, 20 and the rest, none repeated."""
    from decimal import Decimal

    from sqlalchemy import select

    from db.engine import session_scope
    from db.enrollment import deposit
    from db.models import Member, SavingsAccount, SavingsProduct

    with session_scope() as db:
        account = db.execute(select(SavingsAccount).join(Member, Member.id == SavingsAccount.member_id).where(
            Member.document_number == DEMO, SavingsAccount.product == SavingsProduct.RENTAHORRITO)).scalar_one()
        for n in range(45):
            deposit(db, account, Decimal(100 + n), f"Consignación {n}")
        account_id = account.id
    login_member(page, stack["base"], DEMO, stack["creds"][DEMO])
    page.get_by_role("link", name="Ahorros", exact=True).click()
    page.locator(f'a[href="/zona/productos/ahorros/{account_id}/movimientos"]').click()
    seen: list[str] = []
    while True:
        page.locator("#tabla-movimientos").wait_for()
        seen += page.locator("#tabla-movimientos tbody tr").evaluate_all("rows => rows.map(r => r.dataset.linea)")
        following = page.locator("#pagina-siguiente")
        if following.count() == 0:
            break
        following.click()
    assert len(seen) == len(set(seen)) and len(seen) >= 45
    assert page.locator("#primera-pagina").is_visible()
