"""The shapes of members' masked contacts, read from the members table, for the decoys
(domain.decoys.ContactShapes): what a stranger is shown is drawn from what members are
shown. The earliest members by id, so the pool, and with it every stranger's decoy, stays
the same as members join."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Member
from domain.decoys import ContactShapes
from domain.masking import mask_email, mask_mobile

POOL_SIZE = 2000


def load(session: Session, limit: int = POOL_SIZE) -> ContactShapes:
    rows = session.execute(select(Member.email, Member.mobile).order_by(Member.id).limit(limit)).all()
    return ContactShapes.from_masks([mask_email(r.email or "") for r in rows],
                                    [mask_mobile(r.mobile or "") for r in rows])
