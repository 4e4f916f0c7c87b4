"""Declarative base and the column types every model shares."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from sqlalchemy import DateTime, MetaData, Numeric, func
from sqlalchemy.orm import DeclarativeBase, mapped_column

# Deterministic constraint names, so Alembic autogenerate and hand-written migrations agree.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# Money is NUMERIC, never float (DESIGN §3): 18 digits, 2 decimals covers any peso amount.
Money = Annotated[Decimal, mapped_column(Numeric(18, 2))]
# Rates as fractions (0.1268 = 12.68 % E.A.).
Rate = Annotated[Decimal, mapped_column(Numeric(10, 8))]
# Times are stored in UTC, shown in America/Bogota.
UtcNow = Annotated[datetime, mapped_column(DateTime(timezone=True), server_default=func.now())]
