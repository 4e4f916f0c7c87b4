"""`zona seed --members N`: synthetic members for load tests, loaded with COPY.

Every synthetic member looks like one `db.enrollment` would create, a year into
membership: credentials that force the first access, aportes and ahorro permanente
(12 monthly dues installments, most paid), Rentadiario (GMF exempt) and Rentahorrito,
0-2 payroll loans with the French schedule of `domain.amortization.french_schedule`,
this period's payroll discounts and 12 months of ledger history:

- one opening deposit per member (banks -> both savings accounts);
- one disbursement entry per loan (loan receivable -> Rentadiario, as `disburse_loan`);
- per member and month ONE payroll-collection entry: banks debit; credits to aportes,
  ahorro permanente, each loan's receivable (principal), interest income and insurance
  payable. The split of each installment comes from `domain.allocation.allocate`, and
  the installments' paid_* columns are exactly what the entries credited.

Speed: rows are written as pre-formatted COPY text, one COPY per table per batch and one
transaction per batch, with the ledger triggers ON (the deferred balance check runs once
per entry at each commit). Ids are reserved up front by moving the sequences
(`setval(nextval() + n - 1)`), so rows reference each other without round trips.
Schedules are cached by (amount, E.A., term, first due date): amounts, rates and terms
come from small sets of round values. Two loader processes, each with its own
connection, keep both cores busy, and in each a thread formats the next batch while
PostgreSQL loads the current one. The server's per-row work (foreign-key checks, three
indexes on the big tables, the ledger triggers) is about 90 % of the CPU time.

The same `seed` gives the same members (only ids and document numbers depend on what the
database already holds). Document numbers start above 9,000,000,000 and above any
existing document in that range, so loading twice never collides.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import random
import threading
import time
import traceback
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from domain.allocation import InstallmentDue, allocate
from domain.amortization import french_schedule
from domain.bogota_calendar import BOGOTA, add_months

from . import chart
from .engine import get_engine
from .enrollment import ensure_paying_entity
from .models import Nature, ObligationKind, ObligationStatus, SavingsProduct, SavingsStatus

BATCH_SIZE = 2_500
DOCUMENT_BASE = 9_000_000_000
HISTORY_MONTHS = 12
DUE_DAY = 5  # payroll is discounted and remitted on the 5th
DISBURSEMENT_DAY = 10

# Tables in load order (each COPY's foreign keys point at tables loaded before it).
TABLES: tuple[str, ...] = (
    "members",
    "credentials",
    "ledger_accounts",
    "obligations",
    "loans",
    "installments",
    "savings_accounts",
    "payroll_discounts",
    "journal_entries",
    "journal_lines",
)
# Tables whose ids come from a sequence the loader reserves ranges of.
SEQUENCED: tuple[str, ...] = (
    "members",
    "ledger_accounts",
    "obligations",
    "installments",
    "savings_accounts",
    "payroll_discounts",
    "journal_entries",
    "journal_lines",
)
COLUMNS: dict[str, str] = {
    "members": "id, document_type, document_number, first_names, last_names, mobile, email, "
    "paying_entity_id, basic_salary, join_date",
    "credentials": "member_id, must_change, failed_attempts",
    "ledger_accounts": "id, code, cuif_code, name, nature, member_id",
    "obligations": "id, member_id, kind, number, description, status, installment_amount, ledger_account_id, opened_on",
    "loans": "obligation_id, product_name, amount, ea_rate, late_ea_rate, term_months, disbursement_date, monthly_fee",
    "installments": "id, obligation_id, number, due_date, principal, interest, fees, late_interest, "
    "paid_principal, paid_interest, paid_fees, paid_late_interest",
    "savings_accounts": "id, member_id, product, number, status, minimum_balance, gmf_exempt, ledger_account_id, opened_on",
    "payroll_discounts": "id, member_id, period, concept, amount",
    "journal_entries": "id, posted_at, kind, description",
    "journal_lines": "id, entry_id, ledger_account_id, debit, credit",
}

# ---------------------------------------------------------------------------------------
# The small sets everything is drawn from (round values, so schedules cache well).

FIRST_NAMES = (
    "María Fernanda", "Carlos Andrés", "Luz Marina", "Juan Carlos", "Ana María", "José Luis", "Diana Carolina",
    "Jorge Eliécer", "Sandra Milena", "Luis Fernando", "Claudia Patricia", "Andrés Felipe", "Paola Andrea",
    "Óscar Iván", "Martha Lucía", "Julián David", "Ángela María", "Édgar Mauricio", "Yolanda", "Camilo",
    "Natalia", "Sebastián", "Gloria Inés", "Héctor Fabio", "Valentina", "Santiago", "Luisa Fernanda", "Mauricio",
    "Adriana", "Germán", "Liliana", "Ricardo", "Beatriz Elena", "Fabián", "Marcela", "Wilson",
)
LAST_NAMES = (
    "Rojas", "Gutiérrez", "Mejía", "Ospina", "Rodríguez", "Martínez", "García", "López", "González", "Hernández",
    "Pérez", "Sánchez", "Ramírez", "Torres", "Díaz", "Vargas", "Moreno", "Jiménez", "Muñoz", "Castro", "Ortiz",
    "Restrepo", "Zapata", "Londoño", "Cárdenas", "Valencia", "Arango", "Quintero", "Salazar", "Patiño", "Ríos",
    "Giraldo", "Cardona", "Henao", "Betancur", "Osorio",
)
PAYING_ENTITIES = (
    ("901", "SECRETARÍA DE EDUCACIÓN DEPARTAMENTAL (SINTÉTICO)", Decimal("0.5000")),
    ("902", "HOSPITAL UNIVERSITARIO (SINTÉTICO)", Decimal("0.5000")),
    ("903", "ALCALDÍA MUNICIPAL (SINTÉTICO)", Decimal("0.4500")),
    ("904", "EMPRESA DE SERVICIOS PÚBLICOS (SINTÉTICO)", Decimal("0.5000")),
)
SALARIES = (1_423_500, 1_800_000, 2_200_000, 2_800_000, 3_500_000, 4_200_000, 5_000_000, 6_500_000, 8_000_000)
APORTES = (3_800, 5_000, 8_000, 10_000, 15_000, 20_000)
AHORRO_PERMANENTE = (30_000, 45_000, 60_000, 80_000, 100_000, 150_000)
RENTADIARIO_OPENING = (50_000, 120_000, 250_000, 480_000, 1_000_000, 1_250_000, 2_300_000)
RENTAHORRITO_OPENING = (20_000, 50_000, 150_000, 300_000, 480_000)
RENTADIARIO_MINIMUM = 10_000
LOAN_AMOUNTS = (1_000_000, 2_000_000, 3_000_000, 5_000_000, 8_000_000, 10_000_000, 15_000_000, 20_000_000, 30_000_000)
LOAN_EAS = (Decimal("0.1450"), Decimal("0.1680"), Decimal("0.1920"))
LOAN_LATE_EA = Decimal("0.2200")
# Terms in months, repeated by weight: payroll loans are mostly 12-36 months (mean 29).
LOAN_TERMS = (12,) * 4 + (18,) * 3 + (24,) * 5 + (36,) * 4 + (48,) * 2 + (60,) * 2
LOAN_PRODUCT = "Crédito de consumo libranza"
INSURANCE_PER_MILLE = Decimal("0.4")  # monthly life insurance: 0.4 per thousand of the amount
FUNERAL_POLICY = 12_896
LOAN_COUNT_WEIGHTS = (0.40, 0.40, 0.20)  # 0, 1 or 2 loans

# ---------------------------------------------------------------------------------------
# Formatting helpers: money is handled in integer cents in the hot path.

_CENTS_TEXT: dict[int, str] = {}


def _money(cents: int) -> str:
    text = _CENTS_TEXT.get(cents)
    if text is None:
        text = f"{cents // 100}.{cents % 100:02d}"
        if len(_CENTS_TEXT) < 200_000:
            _CENTS_TEXT[cents] = text
    return text


def _cents(value: Decimal) -> int:
    return int(value * 100)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "")


# ---------------------------------------------------------------------------------------
# The calendar of one load: everything is relative to `today`.


@dataclass(frozen=True, slots=True)
class Calendar:
    today: date
    period: date  # this month's first day: payroll discounts' period
    due_dates: tuple[date, ...]  # the 12 dues installments, the last one <= today

    @classmethod
    def for_today(cls, today: date) -> Calendar:
        last_due = today.replace(day=DUE_DAY)
        if last_due > today:
            last_due = add_months(last_due, -1)
        dues = tuple(add_months(last_due, m - (HISTORY_MONTHS - 1)) for m in range(HISTORY_MONTHS))
        return cls(today=today, period=today.replace(day=1), due_dates=dues)


@dataclass(frozen=True, slots=True)
class LoanPlan:
    """One loan's schedule (cached), ready to be written: installment rows without their
    ids, and what each month's payroll collected of it (from `allocate`)."""

    amount: str
    ea: str
    term: int
    fee: str
    installment_amount: str
    disbursement_date: str
    first_due: date
    rows: tuple[str, ...]  # "\tnumber\tdue\tprincipal\tinterest\tfees\tlate\tpaid...\n"
    paid: tuple[tuple[int, int, int], ...]  # per paid installment: (principal, interest, fees) in cents
    amount_cents: int


_LOAN_CACHE: dict[tuple[int, int, int, date, date], LoanPlan] = {}


def loan_plan(amount: int, ea_index: int, term: int, first_due: date, today: date) -> LoanPlan:
    """The French schedule of `domain.amortization`, cached by (amount, E.A., term, first due);
    installments due by `today` are paid, so it is part of the key too."""
    key = (amount, ea_index, term, first_due, today)
    plan = _LOAN_CACHE.get(key)
    if plan is not None:
        return plan
    ea = LOAN_EAS[ea_index]
    fee = (Decimal(amount) * INSURANCE_PER_MILLE / 1000).quantize(Decimal("1"))
    schedule = french_schedule(Decimal(amount), ea, term, first_due, monthly_fee=fee)
    rows: list[str] = []
    paid: list[tuple[int, int, int]] = []
    for inst in schedule:
        billed = (_cents(inst.principal), _cents(inst.interest), _cents(inst.fees))
        if inst.due_date <= today:
            # The paying entity remitted the whole installment; split it like any payment.
            due = InstallmentDue(inst.number, inst.number, inst.due_date, Decimal(0), inst.fees, inst.interest,
                                 inst.principal)
            (row,) = allocate(inst.total, [due]).rows
            got = (_cents(row.principal), _cents(row.interest), _cents(row.fees))
            paid.append(got)
        else:
            got = (0, 0, 0)
        rows.append(
            f"\t{inst.number}\t{inst.due_date.isoformat()}\t{_money(billed[0])}\t{_money(billed[1])}\t"
            f"{_money(billed[2])}\t0.00\t{_money(got[0])}\t{_money(got[1])}\t{_money(got[2])}\t0.00\n"
        )
    plan = LoanPlan(
        amount=_money(amount * 100),
        ea=str(ea),
        term=term,
        fee=_money(_cents(fee)),
        installment_amount=_money(_cents(schedule[0].total)),
        disbursement_date=add_months(first_due, -1).replace(day=DISBURSEMENT_DAY).isoformat(),
        first_due=first_due,
        rows=tuple(rows),
        paid=tuple(paid),
        amount_cents=amount * 100,
    )
    _LOAN_CACHE[key] = plan
    return plan


# ---------------------------------------------------------------------------------------
# Phase 1: the random decisions for a batch (cheap), which fix every row count.

# (first, last, salary, entity, join_months_ago, mobile, aportes, ahorro, unpaid_aportes,
#  rentadiario, rentahorrito, funeral_policy, loans: ((amount, ea_index, term, months_paid), ...))
MemberPlan = tuple[int, int, int, int, int, int, int, int, int, int, int, bool, tuple[tuple[int, int, int, int], ...]]


def plan_batch(seed: int, batch_index: int, count: int) -> list[MemberPlan]:
    rng = random.Random(seed * 1_000_003 + batch_index)
    rnd = rng.random
    n_first, n_last = len(FIRST_NAMES), len(LAST_NAMES)
    plans: list[MemberPlan] = []
    for _ in range(count):
        r = rnd()
        n_loans = 0 if r < LOAN_COUNT_WEIGHTS[0] else (1 if r < LOAN_COUNT_WEIGHTS[0] + LOAN_COUNT_WEIGHTS[1] else 2)
        loans = tuple(
            (
                LOAN_AMOUNTS[int(rnd() * len(LOAN_AMOUNTS))],
                int(rnd() * len(LOAN_EAS)),
                LOAN_TERMS[int(rnd() * len(LOAN_TERMS))],
                1 + int(rnd() * (HISTORY_MONTHS - 1)),  # installments paid so far: 1..11
            )
            for _ in range(n_loans)
        )
        u = rnd()
        plans.append(
            (
                int(rnd() * n_first),
                int(rnd() * n_last) * n_last + int(rnd() * n_last),
                int(rnd() * len(SALARIES)),
                int(rnd() * len(PAYING_ENTITIES)),
                HISTORY_MONTHS + int(rnd() * 228),  # joined 1 to 20 years ago
                300_000_000 + int(rnd() * 99_999_999),
                int(rnd() * len(APORTES)),
                int(rnd() * len(AHORRO_PERMANENTE)),
                2 if u < 0.03 else (1 if u < 0.12 else 0),  # most dues are paid
                int(rnd() * len(RENTADIARIO_OPENING)),
                int(rnd() * len(RENTAHORRITO_OPENING)),
                rnd() < 0.25,
                loans,
            )
        )
    return plans


def count_rows(plans: Sequence[MemberPlan]) -> dict[str, int]:
    counts = dict.fromkeys(TABLES, 0)
    n = len(plans)
    counts["members"] = counts["credentials"] = n
    counts["savings_accounts"] = 2 * n
    for plan in plans:
        loans = plan[12]
        n_loans = len(loans)
        counts["ledger_accounts"] += 4 + n_loans
        counts["obligations"] += 2 + n_loans
        counts["loans"] += n_loans
        counts["installments"] += 2 * HISTORY_MONTHS + sum(loan[2] for loan in loans)
        counts["payroll_discounts"] += 2 + n_loans + (1 if plan[11] else 0)
        counts["journal_entries"] += 1 + n_loans + HISTORY_MONTHS
        months_paid = [loan[3] for loan in loans]
        counts["journal_lines"] += (
            3  # opening deposit
            + 2 * n_loans  # disbursements
            + HISTORY_MONTHS * 2 + (HISTORY_MONTHS - plan[8])  # banks + ahorro permanente (+ aportes when paid)
            + sum(months_paid) + 2 * max(months_paid, default=0)  # loan principal, interest, insurance
        )
    return counts


# ---------------------------------------------------------------------------------------
# Phase 2: the COPY text of a batch, given the first id of each table.


@dataclass(frozen=True, slots=True)
class LoadContext:
    conninfo: str
    today: date
    coop: dict[str, int]  # cooperative ledger account ids by key
    entity_ids: tuple[int, ...]
    document_base: int  # document = document_base + (member id - first member id)
    first_member_id: int


def format_batch(ctx: LoadContext, plans: Sequence[MemberPlan], first_ids: dict[str, int]) -> dict[str, str]:
    cal = Calendar.for_today(ctx.today)
    today = ctx.today
    banks, interest_income, insurance = ctx.coop["banks"], ctx.coop["interest_income"], ctx.coop["insurance_payable"]
    period = cal.period.isoformat()
    dues = cal.due_dates
    first_due_month = dues[0]
    month_posted = [f"{d.isoformat()} 17:00:00+00" for d in dues]
    month_entry = [f"\t{month_posted[m]}\tpayroll_collection\tRecaudo nómina {dues[m]:%Y-%m}\n" for m in range(HISTORY_MONTHS)]
    # Dues installment rows (without ids) per amount: paid and unpaid variants.
    def dues_rows(amount: int) -> tuple[list[str], list[str]]:
        a = _money(amount * 100)
        paid = [f"\t{m + 1}\t{dues[m].isoformat()}\t{a}\t0.00\t0.00\t0.00\t{a}\t0.00\t0.00\t0.00\n" for m in range(HISTORY_MONTHS)]
        unpaid = [f"\t{m + 1}\t{dues[m].isoformat()}\t{a}\t0.00\t0.00\t0.00\t0.00\t0.00\t0.00\t0.00\n" for m in range(HISTORY_MONTHS)]
        return paid, unpaid

    aportes_rows = [dues_rows(a) for a in APORTES]
    ahorro_rows = [dues_rows(a)[0] for a in AHORRO_PERMANENTE]
    # Dues pass through `allocate` once per amount: all principal, as `collect_from_payroll`.
    for amount in {*APORTES, *AHORRO_PERMANENTE}:
        (row,) = allocate(Decimal(amount), [InstallmentDue(0, 1, dues[0], Decimal(0), Decimal(0), Decimal(0),
                                                             Decimal(amount))]).rows
        assert row.principal == amount
    aportes_text = [_money(a * 100) for a in APORTES]
    ahorro_text = [_money(a * 100) for a in AHORRO_PERMANENTE]
    salary_text = [_money(s * 100) for s in SALARIES]
    first_ascii = [_ascii(f.split()[0]) for f in FIRST_NAMES]
    n_last = len(LAST_NAMES)
    last_ascii = [_ascii(x) for x in LAST_NAMES]
    rd_open = [a * 100 for a in RENTADIARIO_OPENING]
    rh_open = [a * 100 for a in RENTAHORRITO_OPENING]
    rd_min = _money(RENTADIARIO_MINIMUM * 100)
    funeral = _money(FUNERAL_POLICY * 100)

    out: dict[str, list[str]] = {t: [] for t in TABLES}
    w_members = out["members"].append
    w_credentials = out["credentials"].append
    w_accounts = out["ledger_accounts"].append
    w_obligations = out["obligations"].append
    w_loans = out["loans"].append
    w_installments = out["installments"].append
    w_savings = out["savings_accounts"].append
    w_payroll = out["payroll_discounts"].append
    w_entries = out["journal_entries"].append
    w_lines = out["journal_lines"].append

    mid = first_ids["members"]
    la = first_ids["ledger_accounts"]
    ob = first_ids["obligations"]
    inst = first_ids["installments"]
    sa = first_ids["savings_accounts"]
    pd = first_ids["payroll_discounts"]
    je = first_ids["journal_entries"]
    jl = first_ids["journal_lines"]
    doc_offset = ctx.document_base - ctx.first_member_id
    entity_ids = ctx.entity_ids
    money = _money
    apo_kind, ahp_kind, loan_kind = ObligationKind.APORTES.value, ObligationKind.AHORRO_PERMANENTE.value, ObligationKind.LOAN.value
    active_status, savings_active = ObligationStatus.ACTIVE.value, SavingsStatus.ACTIVE.value
    rd_product, rh_product = SavingsProduct.RENTADIARIO.value, SavingsProduct.RENTAHORRITO.value
    credit_nature, debit_nature = Nature.CREDIT.value, Nature.DEBIT.value

    for (first, last, salary, entity, joined_ago, mobile, aportes, ahorro, unpaid, rd, rh, funeral_policy,
         loans) in plans:
        doc = doc_offset + mid
        join_date = add_months(first_due_month, -joined_ago).replace(day=1 + (mid % 28)).isoformat()
        l1, l2 = divmod(last, n_last)
        w_members(
            f"{mid}\tCC\t{doc}\t{FIRST_NAMES[first]}\t{LAST_NAMES[l1]} {LAST_NAMES[l2]}\t{mobile}\t"
            f"{first_ascii[first]}.{last_ascii[l1]}.{doc}@asociados.example\t{entity_ids[entity]}\t"
            f"{salary_text[salary]}\t{join_date}\n"
        )
        w_credentials(f"{mid}\tt\t0\n")

        # Ledger accounts: aportes, ahorro permanente, Rentadiario, Rentahorrito, loans.
        apo_acc, ahp_acc, rd_acc, rh_acc = la, la + 1, la + 2, la + 3
        w_accounts(
            f"{apo_acc}\tAPO-{mid}\t{chart.SOCIAL_CONTRIBUTIONS.cuif_code}\tAportes sociales {doc}\t{credit_nature}\t{mid}\n"
            f"{ahp_acc}\tAHP-{mid}\t{chart.PERMANENT_SAVINGS.cuif_code}\tAhorro permanente {doc}\t{credit_nature}\t{mid}\n"
            f"{rd_acc}\tAHV-RD-{doc}\t{chart.SAVINGS_ON_DEMAND.cuif_code}\tRentadiario RD-{doc}\t{credit_nature}\t{mid}\n"
            f"{rh_acc}\tAHV-RH-{doc}\t{chart.SAVINGS_ON_DEMAND.cuif_code}\tRentahorrito RH-{doc}\t{credit_nature}\t{mid}\n"
        )
        la += 4

        # Dues obligations with their 12 installments.
        a_text, h_text = aportes_text[aportes], ahorro_text[ahorro]
        w_obligations(
            f"{ob}\t{mid}\t{apo_kind}\tAPO-{doc}\tAportes sociales\t{active_status}\t{a_text}\t{apo_acc}\t{join_date}\n"
            f"{ob + 1}\t{mid}\t{ahp_kind}\tAHP-{doc}\tAhorro permanente\t{active_status}\t{h_text}\t{ahp_acc}\t{join_date}\n"
        )
        paid_rows, unpaid_rows = aportes_rows[aportes]
        cut = HISTORY_MONTHS - unpaid
        prefix = f"\t{ob}"
        for m in range(HISTORY_MONTHS):
            w_installments(f"{inst}{prefix}{paid_rows[m] if m < cut else unpaid_rows[m]}")
            inst += 1
        prefix = f"\t{ob + 1}"
        for text in ahorro_rows[ahorro]:
            w_installments(f"{inst}{prefix}{text}")
            inst += 1
        ob += 2

        # Savings accounts and their opening deposit.
        w_savings(
            f"{sa}\t{mid}\t{rd_product}\tRD-{doc}\t{savings_active}\t{rd_min}\tt\t{rd_acc}\t{join_date}\n"
            f"{sa + 1}\t{mid}\t{rh_product}\tRH-{doc}\t{savings_active}\t0.00\tf\t{rh_acc}\t{join_date}\n"
        )
        sa += 2
        rd_c, rh_c = rd_open[rd], rh_open[rh]
        w_entries(f"{je}\t{join_date} 15:00:00+00\tdeposit\tConsignación inicial\n")
        w_lines(
            f"{jl}\t{je}\t{banks}\t{money(rd_c + rh_c)}\t0\n"
            f"{jl + 1}\t{je}\t{rd_acc}\t0\t{money(rd_c)}\n"
            f"{jl + 2}\t{je}\t{rh_acc}\t0\t{money(rh_c)}\n"
        )
        je += 1
        jl += 3

        # Payroll discounts of this period.
        w_payroll(f"{pd}\t{mid}\t{period}\tAportes sociales\t{a_text}\n{pd + 1}\t{mid}\t{period}\tAhorro permanente\t{h_text}\n")
        pd += 2
        if funeral_policy:
            w_payroll(f"{pd}\t{mid}\t{period}\tPóliza exequial\t{funeral}\n")
            pd += 1

        # Loans: obligation, loan row, schedule, disbursement into Rentadiario.
        active: list[tuple[int, int, LoanPlan, int]] = []  # (account, first month index, plan, months paid)
        for k, (amount, ea_index, term, months_paid) in enumerate(loans, start=1):
            first_m = HISTORY_MONTHS - months_paid
            plan = loan_plan(amount, ea_index, term, dues[first_m], today)
            number = f"CRE-{doc}-{k}"
            acc = la
            la += 1
            w_accounts(f"{acc}\tCRE-{number}\t{chart.CONSUMER_LOANS.cuif_code}\t{LOAN_PRODUCT} {number}\t{debit_nature}\t{mid}\n")
            w_obligations(
                f"{ob}\t{mid}\t{loan_kind}\t{number}\t{LOAN_PRODUCT}\t{active_status}\t{plan.installment_amount}\t{acc}\t"
                f"{plan.disbursement_date}\n"
            )
            w_loans(
                f"{ob}\t{LOAN_PRODUCT}\t{plan.amount}\t{plan.ea}\t{LOAN_LATE_EA}\t{term}\t{plan.disbursement_date}\t{plan.fee}\n"
            )
            prefix = f"\t{ob}"
            for text in plan.rows:
                w_installments(f"{inst}{prefix}{text}")
                inst += 1
            w_payroll(f"{pd}\t{mid}\t{period}\tCrédito {number}\t{plan.installment_amount}\n")
            pd += 1
            w_entries(f"{je}\t{plan.disbursement_date} 16:00:00+00\tloan_disbursement\tDesembolso {LOAN_PRODUCT} {number}\n")
            w_lines(f"{jl}\t{je}\t{acc}\t{plan.amount}\t0\n{jl + 1}\t{je}\t{rd_acc}\t0\t{plan.amount}\n")
            je += 1
            jl += 2
            ob += 1
            active.append((acc, first_m, plan, months_paid))

        # Twelve months of payroll collections: ONE entry per month.
        a_c, h_c = APORTES[aportes] * 100, AHORRO_PERMANENTE[ahorro] * 100
        for m in range(HISTORY_MONTHS):
            w_entries(f"{je}{month_entry[m]}")
            credits: list[str] = []
            total = h_c
            if m < cut:
                total += a_c
                credits.append(f"\t{je}\t{apo_acc}\t0\t{a_text}\n")
            credits.append(f"\t{je}\t{ahp_acc}\t0\t{h_text}\n")
            interest = fees = 0
            for acc, first_m, plan, _paid in active:
                if m >= first_m:
                    p, i, f = plan.paid[m - first_m]
                    total += p + i + f
                    interest += i
                    fees += f
                    credits.append(f"\t{je}\t{acc}\t0\t{money(p)}\n")
            if interest:
                credits.append(f"\t{je}\t{interest_income}\t0\t{money(interest)}\n")
            if fees:
                credits.append(f"\t{je}\t{insurance}\t0\t{money(fees)}\n")
            w_lines(f"{jl}\t{je}\t{banks}\t{money(total)}\t0\n")
            jl += 1
            for text in credits:
                w_lines(f"{jl}{text}")
                jl += 1
            je += 1
        mid += 1

    # The ids used must be exactly the ranges reserved from `count_rows`, or batches would overlap.
    used = {"members": mid, "ledger_accounts": la, "obligations": ob, "installments": inst, "savings_accounts": sa,
            "payroll_discounts": pd, "journal_entries": je, "journal_lines": jl}
    expected = count_rows(plans)
    for table, next_id in used.items():
        if next_id - first_ids[table] != expected[table]:
            raise AssertionError(f"{table}: used {next_id - first_ids[table]} ids, reserved {expected[table]}")
    return {table: "".join(rows) for table, rows in out.items()}


# ---------------------------------------------------------------------------------------
# Loading a batch: one transaction, one COPY per table.

_COPY_CHUNK = 4 << 20


def copy_batch(conn: psycopg.Connection, texts: dict[str, str]) -> dict[str, float]:
    timings: dict[str, float] = {}
    with conn.transaction(), conn.cursor() as cur:
        for table in TABLES:
            data = texts[table]
            if not data:
                continue
            started = time.perf_counter()
            with cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                for start in range(0, len(data), _COPY_CHUNK):
                    copy.write(data[start:start + _COPY_CHUNK])
            timings[table] = time.perf_counter() - started
        started = time.perf_counter()
    # The deferred per-entry balance check ran at the commit above.
    timings["commit"] = time.perf_counter() - started
    return timings


def _connect(conninfo: str) -> psycopg.Connection:
    conn = psycopg.connect(conninfo, application_name="zona-bulk-seed")
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()
    return conn


Task = tuple[int, list[MemberPlan], dict[str, int]]
# (batch index, members, seconds formatting + loading, seconds per step)
BatchResult = tuple[int, int, float, dict[str, float]]


def _pipeline(ctx: LoadContext, next_task: Callable[[], Task | None], done: Callable[[BatchResult], None]) -> None:
    """Load batches on one connection; a thread formats the next batch while PostgreSQL
    loads the current one, so the Python work hides behind the server's."""
    conn = _connect(ctx.conninfo)
    ready: queue.Queue[tuple[int, int, dict[str, str], float] | BaseException | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: tuple[int, int, dict[str, str], float] | BaseException | None) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            while not stop.is_set():
                task = next_task()
                if task is None:
                    break
                index, plans, first_ids = task
                started = time.perf_counter()
                texts = format_batch(ctx, plans, first_ids)
                offer((index, len(plans), texts, time.perf_counter() - started))
        except BaseException as exc:  # noqa: BLE001 - handed to the loading thread, which raises it
            offer(exc)
            return
        offer(None)

    producer = threading.Thread(target=produce, name="bulk-seed-format", daemon=True)
    producer.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            index, count, texts, formatting = item
            started = time.perf_counter()
            timings = copy_batch(conn, texts)
            timings["format"] = formatting
            done((index, count, time.perf_counter() - started + formatting, timings))
    finally:
        stop.set()
        conn.close()
    producer.join(timeout=5)


def _child_main(ctx: LoadContext, tasks: Any, results: Any) -> None:
    """A loader process: its own connection, batches taken from the shared queue."""
    from .engine import dispose_after_fork

    dispose_after_fork()  # never touch the parent's pooled connections
    try:
        _pipeline(ctx, tasks.get, lambda result: results.put(("done", result)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        results.put(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        raise SystemExit(1) from None


STALL_S = 600


def _run_in_processes(ctx: LoadContext, tasks: list[Task], workers: int, done: Callable[[BatchResult], None]) -> None:
    # Spawn, not fork: a forked child inherits every lock another thread of the parent
    # held at that moment (logging, stdio, a driver's) and can hang on it forever; the
    # children need nothing from the parent but the picklable LoadContext.
    mp = multiprocessing.get_context("spawn")
    task_queue = mp.Queue()
    results = mp.Queue()
    for task in tasks:
        task_queue.put(task)
    for _ in range(workers):
        task_queue.put(None)
    procs = [mp.Process(target=_child_main, args=(ctx, task_queue, results), name=f"bulk-seed-{i}") for i in range(workers)]
    for proc in procs:
        proc.start()
    try:
        remaining = len(tasks)
        last_progress = time.monotonic()
        while remaining:
            try:
                kind, payload = results.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"bulk seed: loader process {dead[0].name} died (exit code {dead[0].exitcode})") from None
                # A batch is seconds of work: a loader silent this long is stuck, not slow.
                if time.monotonic() - last_progress > STALL_S:
                    raise RuntimeError(f"bulk seed: no batch finished in {STALL_S} s; the loaders are stuck") from None
                continue
            last_progress = time.monotonic()
            if kind == "error":
                raise RuntimeError(f"bulk seed: a batch failed and was rolled back: {payload}")
            done(payload)
            remaining -= 1
        for proc in procs:
            proc.join()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=10)
        task_queue.close()
        results.close()


# ---------------------------------------------------------------------------------------
# Setting up a load: cooperative accounts, paying entities, document numbers, id ranges.


def _conninfo() -> str:
    return make_url(get_engine().url.render_as_string(hide_password=False)).set(drivername="postgresql").render_as_string(
        hide_password=False
    )


def _prepare(today: date) -> tuple[dict[str, int], tuple[int, ...]]:
    from sqlalchemy.orm import Session

    with Session(get_engine()) as session, session.begin():
        chart.ensure_chart(session)
        entities = tuple(ensure_paying_entity(session, *spec).id for spec in PAYING_ENTITIES)
        coop = chart.coop_account_ids(session)
    return coop, entities


def reserve_ids(conn: psycopg.Connection, counts: dict[str, int]) -> dict[str, int]:
    """Move each sequence past `counts[table]` values at once; returns each range's first id.

    `setval(nextval() + n - 1)` is one statement, so the window in which another session
    could take a value inside the range is microseconds; if it ever happened, the COPY
    would fail on the primary key and the batch roll back, never corrupt anything.
    """
    tables = [t for t in SEQUENCED if counts.get(t)]
    if not tables:
        return {}
    selects = ", ".join(
        f"setval(pg_get_serial_sequence('{t}', 'id'), nextval(pg_get_serial_sequence('{t}', 'id')) + {counts[t] - 1})"
        for t in tables
    )
    row = conn.execute(f"SELECT {selects}").fetchone()
    conn.commit()
    assert row is not None
    return {t: last - counts[t] + 1 for t, last in zip(tables, row, strict=True)}


def _document_base(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT max(document_number::bigint) FROM members WHERE document_number ~ '^9[0-9]{9}$'"
    ).fetchone()
    conn.commit()
    top = row[0] if row and row[0] is not None else None
    return DOCUMENT_BASE if top is None else max(DOCUMENT_BASE, top + 1)


def _batches(n: int, batch_size: int) -> Iterator[tuple[int, int]]:
    for index, start in enumerate(range(0, n, batch_size)):
        yield index, min(batch_size, n - start)


def load_synthetic_members(
    n: int,
    *,
    seed: int = 1,
    today: date | None = None,
    progress: Callable[[str], None] = print,
    batch_size: int = BATCH_SIZE,
    workers: int | None = None,
) -> dict[str, int]:
    """Add `n` synthetic members with a year of history; returns rows added per table."""
    if n <= 0:
        return dict.fromkeys(TABLES, 0)
    started = time.perf_counter()
    today = today or datetime.now(BOGOTA).date()
    coop, entity_ids = _prepare(today)
    conninfo = _conninfo()

    batches = list(_batches(n, batch_size))
    plans = [plan_batch(seed, index, count) for index, count in batches]
    batch_counts = [count_rows(p) for p in plans]
    totals = {t: sum(c[t] for c in batch_counts) for t in TABLES}

    with _connect(conninfo) as conn:
        document_base = _document_base(conn)
        first = reserve_ids(conn, totals)
    tasks = []
    next_ids = dict(first)
    for (index, _count), batch_plans, counts in zip(batches, plans, batch_counts, strict=True):
        tasks.append((index, batch_plans, dict(next_ids)))
        for t in SEQUENCED:
            next_ids[t] += counts[t]
    ctx = LoadContext(
        conninfo=conninfo, today=today, coop=coop, entity_ids=entity_ids, document_base=document_base,
        first_member_id=first["members"],
    )
    progress(
        f"bulk seed: {n} members in {len(tasks)} batch(es) of up to {batch_size}, "
        f"{sum(totals.values()):,} rows (prepared in {time.perf_counter() - started:.1f} s)"
    )

    if workers is None:
        workers = int(os.environ.get("ZONA_SEED_WORKERS", "0")) or min(2, os.cpu_count() or 1)
    workers = max(1, min(workers, len(tasks)))
    done = 0
    phase: dict[str, float] = {}

    def report(result: BatchResult) -> None:
        nonlocal done
        _index, count, seconds, timings = result
        done += count
        for key, value in timings.items():
            phase[key] = phase.get(key, 0.0) + value
        progress(f"  {done:,}/{n:,} members ({time.perf_counter() - started:.1f} s; batch {seconds:.1f} s)")

    if workers == 1:
        pending = iter(tasks)
        _pipeline(ctx, lambda: next(pending, None), report)
    else:
        _run_in_processes(ctx, tasks, workers, report)

    elapsed = time.perf_counter() - started
    # Fresh statistics: autovacuum would get there in its own time, and until then the
    # planner takes a table grown a hundredfold for the small one it last sampled (the
    # zone's dashboard at 100,000 members: p50 42 ms before, 8 ms after).
    analyze_started = time.perf_counter()
    with _connect(conninfo) as conn:
        conn.autocommit = True
        conn.execute("ANALYZE " + ", ".join(TABLES))
    progress(f"bulk seed: statistics refreshed (ANALYZE) in {time.perf_counter() - analyze_started:.1f} s")
    rows = sum(totals.values())
    progress("bulk seed: rows added per table")
    for table in TABLES:
        progress(f"  {table:<18} {totals[table]:>12,}")
    progress(
        f"bulk seed: {n:,} members, {rows:,} rows in {elapsed:.1f} s ({rows / elapsed:,.0f} rows/s); "
        "time per step summed over batches: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(phase.items(), key=lambda kv: -kv[1]))
    )
    return totals


__all__ = ["load_synthetic_members"]
