"""The chart of accounts: the cooperative's own accounts and the per-member ones.

Codes follow the Catálogo Único de Información Financiera con fines de supervisión
(CUIF) that Supersolidaria prescribes for savings-and-credit cooperatives.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from .models import LedgerAccount, Nature


@dataclass(frozen=True, slots=True)
class CuifAccount:
    cuif_code: str
    name: str
    nature: Nature


# Cooperative-level accounts, keyed by the short code the code refers to them by.
BANKS = CuifAccount("111005", "Bancos - cuentas corrientes (recaudo PSE y nómina)", Nature.DEBIT)
INTEREST_INCOME = CuifAccount("415005", "Intereses cartera de créditos de consumo", Nature.CREDIT)
LATE_INTEREST_INCOME = CuifAccount("415010", "Intereses de mora cartera de consumo", Nature.CREDIT)
INSURANCE_PAYABLE = CuifAccount("246505", "Seguros por pagar - vida deudores", Nature.CREDIT)
GMF_PAYABLE = CuifAccount("244205", "Gravamen a los movimientos financieros por pagar", Nature.CREDIT)
# Late interest is income when it accrues, not when it is paid (accrual basis): the daily
# job debits this receivable and credits LATE_INTEREST_INCOME; a payment's late-interest
# part then settles the receivable. Group 1443 is where CUIF keeps the interest
# receivable of consumer loans, next to their principal (1441).
LATE_INTEREST_RECEIVABLE = CuifAccount("144305", "Intereses de mora por cobrar cartera de consumo", Nature.DEBIT)
COOPERATIVE_ACCOUNTS: dict[str, CuifAccount] = {
    "banks": BANKS,
    "interest_income": INTEREST_INCOME,
    "late_interest_income": LATE_INTEREST_INCOME,
    "insurance_payable": INSURANCE_PAYABLE,
    "gmf_payable": GMF_PAYABLE,
    "late_interest_receivable": LATE_INTEREST_RECEIVABLE,
}

# Per-member / per-product account families.
SAVINGS_ON_DEMAND = CuifAccount("210505", "Depósitos de ahorro a la vista", Nature.CREDIT)
CDAT = CuifAccount("211005", "Certificados de depósito de ahorro a término", Nature.CREDIT)
PERMANENT_SAVINGS = CuifAccount("212505", "Depósitos de ahorro permanente", Nature.CREDIT)
SOCIAL_CONTRIBUTIONS = CuifAccount("310505", "Aportes sociales", Nature.CREDIT)
CONSUMER_LOANS = CuifAccount("144105", "Cartera de créditos de consumo con libranza", Nature.DEBIT)
CARD_RECEIVABLES = CuifAccount("144205", "Cartera tarjeta de crédito", Nature.DEBIT)
OTHER_RECEIVABLES = CuifAccount("165005", "Cuentas por cobrar a asociados", Nature.DEBIT)


def coop_code(key: str) -> str:
    return f"COOP-{COOPERATIVE_ACCOUNTS[key].cuif_code}"


def ensure_chart(session: Session) -> None:
    """Create the cooperative's own accounts if missing (idempotent)."""
    session.execute(
        pg_insert(LedgerAccount)
        .values(
            [
                {"code": coop_code(key), "cuif_code": acc.cuif_code, "name": acc.name, "nature": acc.nature}
                for key, acc in COOPERATIVE_ACCOUNTS.items()
            ]
        )
        .on_conflict_do_nothing(index_elements=["code"])
    )


def coop_account_id(session: Session, key: str) -> int:
    return session.execute(select(LedgerAccount.id).where(LedgerAccount.code == coop_code(key))).scalar_one()


_COOP_IDS_SQL = text("SELECT code, id FROM ledger_accounts WHERE code = ANY(:codes)")


def coop_account_ids(session: Session) -> dict[str, int]:
    """Read on every payment, not cached: ids are the database's, and a cache outliving a
    reload would credit the wrong account."""
    codes = {coop_code(k): k for k in COOPERATIVE_ACCOUNTS}
    rows = session.execute(_COOP_IDS_SQL, {"codes": list(codes)}).all()
    return {codes[code]: account_id for code, account_id in rows}


def open_account(session: Session, family: CuifAccount, code: str, name: str, member_id: int | None) -> LedgerAccount:
    account = LedgerAccount(code=code, cuif_code=family.cuif_code, name=name, nature=family.nature, member_id=member_id)
    session.add(account)
    session.flush()
    return account
