"""PSE's list of banks as last fetched, so the member's bank choice never waits on ACH
(pse-reference §2.5: cache it, refresh once a day)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class PseBank(Base):
    __tablename__ = "pse_banks"

    # financialInstitutionCode: 4 digits at ACH, 5 at some gateways; the placeholder row
    # ("0", "A continuación seleccione su banco") is never stored.
    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer)        # the order PSE gave, shown as is
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
