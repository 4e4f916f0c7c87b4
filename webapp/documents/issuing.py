"""What the statement and certificate views share: the member as printed, today's
Bogotá date, and issuing a PDF (stored, audited) as a download."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone

from flask import Response, current_app, request, url_for
from sqlalchemy.orm import Session

from db.audit import Requester
from db.models import Member, MemberDocument
from db.zone.documents import issue_document
from domain.bogota_calendar import BOGOTA, bogota_date

from .pdf_layout import Holder, Stamp


def today_bogota() -> date:
    return bogota_date(datetime.now(BOGOTA))


def holder_of(session: Session, member_id: int) -> Holder:
    member = session.get(Member, member_id)
    assert member is not None, "a logged-in member exists"
    return Holder(full_name=member.full_name, identification=f"{member.document_type} {member.document_number}")


def verify_url(code: str) -> str:
    """The printed QR's address: the configured public site (as PSE's return URL uses),
    so a rewritten Host header cannot make a genuine PDF point somewhere else."""
    public_url = current_app.config["ZONA_SETTINGS"].public_url
    path = url_for("documents.verify_code", code=code)
    return f"{public_url.rstrip('/')}{path}" if public_url else url_for("documents.verify_code", code=code,
                                                                         _external=True)


def issue_pdf(session: Session, member_id: int, kind: str, period: str,
              render: Callable[[Holder, Stamp], bytes]) -> MemberDocument:
    holder = holder_of(session, member_id)
    issued_at = datetime.now(timezone.utc)

    def with_code(code: str) -> bytes:
        return render(holder, Stamp(code=code, verify_url=verify_url(code), issued_at=issued_at))

    requester = Requester(ip=request.remote_addr, user_agent=request.user_agent.string)
    return issue_document(session, member_id=member_id, kind=kind, period=period, issued_at=issued_at,
                          render=with_code, requester=requester)


def pdf_response(document: MemberDocument) -> Response:
    filename = f"{document.kind}-{document.code}.pdf"
    return Response(document.content, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Verification-Code": document.code,
    })
