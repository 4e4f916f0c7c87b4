"""The public verification page (/verificar): type the code, follow the QR, or upload
the PDF. It says whether the document is genuine and unchanged, for whom (masked) and
when it was issued, and nothing more."""
from __future__ import annotations

import re

from flask import render_template, request

from db.engine import session_scope
from db.zone.documents import Verified, verify_bytes, verify_code
from domain.document_codes import normalize_code
from webapp.zone.frame import bogota_text

from . import bp

PDF_MAGIC = b"%PDF-"
# An issued PDF names its code in its metadata; a changed copy still does.
_CODE_IN_PDF = re.compile(rb"ZP-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")

MSG_BAD_CODE = "El código de verificación no es válido: tiene la forma ZP-XXXX-XXXX-XXXX."
MSG_UNKNOWN_CODE = "No existe ningún documento expedido con ese código de verificación."
MSG_NO_FILE = "Selecciona el archivo PDF del documento que quieres verificar."
MSG_NOT_PDF = "El archivo cargado no es un documento PDF."
MSG_NOT_GENUINE = ("El archivo NO es auténtico: no corresponde a ningún documento expedido por la cooperativa, "
                   "o fue modificado después de expedido.")
MSG_CHANGED = ("El archivo NO es auténtico: dice tener el código {code}, pero su contenido no es el del documento "
               "expedido con ese código (fue modificado).")


def _render(*, verified: Verified | None = None, error: str | None = None, status: int = 200, code: str = ""):  # noqa: ANN202
    return render_template("documents/verificar.html", verified=verified, error=error, code=code,
                           issued=bogota_text(verified.issued_at) if verified else None), status


def _by_code(text: str):  # noqa: ANN202
    code = normalize_code(text)
    if code is None:
        return _render(error=MSG_BAD_CODE, status=400, code=text[:40])
    with session_scope() as db:
        verified = verify_code(db, code)
    if verified is None:
        return _render(error=MSG_UNKNOWN_CODE, status=404, code=code)
    return _render(verified=verified, code=code)


@bp.get("/verificar")
def verify():  # noqa: ANN201
    return _render()


@bp.get("/verificar/<code>", endpoint="verify_code")
def verify_code_page(code: str):  # noqa: ANN201
    """Where the printed QR code points."""
    return _by_code(code)


@bp.post("/verificar")
def verify_typed():  # noqa: ANN201
    return _by_code(request.form.get("codigo", ""))


@bp.post("/verificar/archivo")
def verify_upload():  # noqa: ANN201
    upload = request.files.get("archivo")  # past MAX_CONTENT_LENGTH this raises the 413 page
    if upload is None or not upload.filename:
        return _render(error=MSG_NO_FILE, status=400)
    content = upload.read()
    if not content:
        return _render(error=MSG_NO_FILE, status=400)
    if not content.startswith(PDF_MAGIC):
        return _render(error=MSG_NOT_PDF, status=400)
    with session_scope() as db:
        verified = verify_bytes(db, content)
        claimed = _CODE_IN_PDF.search(content)
        if verified is None and claimed is not None and verify_code(db, claimed.group().decode()) is not None:
            return _render(error=MSG_CHANGED.format(code=claimed.group().decode()), status=422)
    if verified is None:
        return _render(error=MSG_NOT_GENUINE, status=422)
    return _render(verified=verified, code=verified.code)
