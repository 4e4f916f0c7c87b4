"""A real browser, as the manual's demo member: opens Estado de cuenta, downloads the
statement PDF and the certificate of contributions, reads them back with a PDF text
extractor, and has the public verification page call both genuine (and a copy with one
byte changed not)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.zone_login import login_member
from tests.e2e.zone_stack import zone_stack
from tests.integration.zone_documents.conftest import pdf_text

pytestmark = pytest.mark.e2e

DEMO = "1077227777"


@pytest.fixture(scope="module")
def stack(database_url: str, state_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with zone_stack(database_url, state_dir, tmp_path_factory.mktemp("e2e-documents"), worker_concurrency=1) as running:
        yield running


def _download(page: Any, button: str, folder: Path) -> Path:
    with page.expect_download() as info:
        page.click(button)
    target = folder / info.value.suggested_filename
    info.value.save_as(target)
    return target


def _verify_upload(page: Any, base: str, pdf: Path) -> str:
    page.goto(f"{base}/verificar")
    page.set_input_files("#archivo", str(pdf))
    page.click("#verificar-archivo")
    return page.locator("#verify-result").inner_text()


def test_member_downloads_statement_and_certificate_and_verifies_them(stack: dict[str, Any], page: Any,
                                                                       tmp_path: Path) -> None:
    base = stack["base"]
    login_member(page, base, DEMO, stack["creds"][DEMO])
    page.get_by_role("link", name="Estado de cuenta").click()
    page.get_by_role("heading", name="Estado de cuenta", level=1).wait_for()
    assert "Saldo final" in page.content()
    # Printed, only the statement remains: no tabs, no forms.
    page.emulate_media(media="print")
    assert page.locator(".statement-product").first.is_visible()
    assert not page.locator("nav.tabs").is_visible() and not page.locator("#descargar-pdf").is_visible()
    page.emulate_media(media="screen")
    statement = _download(page, "#descargar-pdf", tmp_path)
    text = pdf_text(statement.read_bytes())
    assert "María Fernanda Rojas Gutiérrez" in text and "$1,250,000.00" in text and "Saldo final" in text

    page.get_by_role("link", name="Certificaciones y descargas").click()
    certificate = _download(page, "#cert-aportes", tmp_path)
    assert "Certificado de aportes" in pdf_text(certificate.read_bytes())

    for pdf in (statement, certificate):
        assert "Documento auténtico" in _verify_upload(page, base, pdf)
    changed = bytearray(certificate.read_bytes())
    changed[len(changed) // 2] ^= 0x01
    forged = tmp_path / "cambiado.pdf"
    forged.write_bytes(bytes(changed))
    assert "NO es auténtico" in _verify_upload(page, base, forged)
