"""The payment pages' fixtures (demo members seeded once and reused, the app, a logged-in
client), shared here: the documents are read by the same member the same way."""
from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader

from tests.integration.web_payments.conftest import make_app, member, seeded, smtp_sink  # noqa: F401


def pdf_text(content: bytes) -> str:
    """What a reader of the PDF sees, through a PDF text extractor."""
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)


def upload(client: Any, content: bytes | None, csrf: str, filename: str = "documento.pdf") -> Any:
    data: dict[str, Any] = {"csrf_token": csrf}
    if content is not None:
        data["archivo"] = (io.BytesIO(content), filename)
    return client.post("/verificar/archivo", data=data, content_type="multipart/form-data")
