"""Mis Datos Personales (issue 11 §5): what the member sees of their own data, and the
audited change of their contact data (mobile, e-mail, address), with the old e-mail and
mobile told of it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.contact_rules import Contact
from domain.masking import mask_email, mask_mobile

from .. import notices
from ..audit import Requester, record
from ..models import Member

FIELD_LABELS = {"mobile": "el celular", "email": "el correo electrónico", "address": "la dirección",
                "city": "la ciudad"}


@dataclass(frozen=True, slots=True)
class PersonalData:
    full_name: str
    document: str
    mobile: str
    email: str
    address: str | None
    city: str | None
    paying_entity: str
    join_date: object
    consent_at: datetime | None
    consent_version: str | None


def personal_data(session: Session, member_id: int) -> PersonalData:
    m = session.get(Member, member_id)
    if m is None:
        raise LookupError(f"no member {member_id}")
    return PersonalData(m.full_name, f"{m.document_type} {m.document_number}", m.mobile, m.email, m.address, m.city,
                        m.paying_entity.label, m.join_date, m.data_consent_at, m.data_consent_version)


def change_contact(session: Session, member_id: int, new: Contact, *, requester: Requester, now: datetime
                   ) -> tuple[list[str], list[int]]:
    """Store the new contact data; returns (what changed, the notices to send after the
    commit). Nothing changed: nothing audited, nobody told."""
    m = session.execute(select(Member).where(Member.id == member_id).with_for_update(of=Member)).scalar_one()
    before = {"mobile": m.mobile, "email": m.email, "address": m.address, "city": m.city}
    after = {"mobile": new.mobile, "email": new.email, "address": new.address, "city": new.city}
    changed = [k for k in before if (before[k] or "") != after[k]]
    if not changed:
        return [], []
    old_mobile, old_email = m.mobile, m.email
    m.mobile, m.email, m.address, m.city = new.mobile, new.email, new.address, new.city
    shown = {"mobile": mask_mobile, "email": mask_email}
    record(session, "personal_data_changed", requester, member_id=member_id, fields=changed,
           before={k: shown[k](before[k] or "") if k in shown else before[k] for k in changed},
           after={k: shown[k](after[k]) if k in shown else after[k] for k in changed})
    what = [FIELD_LABELS[k] for k in changed]
    sent = [notices.contact_changed(session, member_id=member_id, name=m.full_name, channel="email",
                                    recipient=old_email, changed=what, at=now, ip=requester.ip)]
    if "mobile" in changed or "email" in changed:
        sent.append(notices.contact_changed(session, member_id=member_id, name=m.full_name, channel="sms",
                                            recipient=old_mobile, changed=what, at=now, ip=requester.ip))
    return changed, sent
