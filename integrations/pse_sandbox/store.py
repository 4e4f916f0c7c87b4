"""The sandbox's own state: one SQLite file under its state folder (never the project's
database), so transactions, spent nonces, planted faults and the log of every
createTransactionPayment received survive a restart of the sandbox.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (
    cus TEXT PRIMARY KEY,
    ticket_id INTEGER NOT NULL UNIQUE,
    bank_code TEXT NOT NULL,
    entity_code TEXT NOT NULL,
    service_code TEXT NOT NULL,
    amount TEXT NOT NULL,
    vat TEXT NOT NULL,
    currency TEXT NOT NULL,
    entityurl TEXT NOT NULL,
    user_type TEXT NOT NULL,
    refs TEXT NOT NULL,
    description TEXT NOT NULL,
    solicite_date TEXT NOT NULL,
    cycle TEXT NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL,
    decide_at REAL,
    decide_state TEXT,
    bank_process_date TEXT,
    finalized INTEGER NOT NULL DEFAULT 0,
    in_conciliation INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS create_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER,
    received_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    cus TEXT
);
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, seen_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS control (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conciliation_extra (
    id INTEGER PRIMARY KEY AUTOINCREMENT, date TEXT NOT NULL, line TEXT NOT NULL
);
"""

BOGOTA = ZoneInfo("America/Bogota")
FINAL_STATES = ("OK", "NOT_AUTHORIZED", "FAILED")


@dataclass
class Transaction:
    cus: str
    ticket_id: int
    bank_code: str
    entity_code: str
    service_code: str
    amount: Decimal
    vat: Decimal
    currency: str
    entityurl: str
    user_type: str
    refs: list[str]
    description: str
    solicite_date: str
    cycle: str
    created_at: float
    state: str
    decide_at: float | None
    decide_state: str | None
    bank_process_date: str | None
    finalized: bool
    in_conciliation: bool

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Transaction:
        data = dict(row)
        data["amount"] = Decimal(data["amount"])
        data["vat"] = Decimal(data["vat"])
        data["refs"] = json.loads(data["refs"])
        data["finalized"] = bool(data["finalized"])
        data["in_conciliation"] = bool(data["in_conciliation"])
        return cls(**data)

    def public(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items()}
        out["amount"] = str(self.amount)
        out["vat"] = str(self.vat)
        return out


class Store:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "pse_sandbox.sqlite3"
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a recorded create must survive a kill
        self._db.executescript(SCHEMA)

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def atomically(self, fn: Any) -> Any:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

    # --- nonces -------------------------------------------------------------------
    def remember_nonce(self, nonce: str, keep_s: float) -> bool:
        now = time.time()

        def run(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM nonces WHERE seen_at < ?", (now - keep_s,))
            return db.execute("INSERT OR IGNORE INTO nonces (nonce, seen_at) VALUES (?, ?)",
                              (nonce, now)).rowcount == 1
        return bool(self.atomically(run))

    # --- the create log -----------------------------------------------------------
    def log_create(self, db: sqlite3.Connection, ticket_id: int | None, outcome: str, cus: str | None = None) -> None:
        db.execute("INSERT INTO create_log (ticket_id, received_at, outcome, cus) VALUES (?, ?, ?, ?)",
                   (ticket_id, time.time(), outcome, cus))

    def create_log(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.execute("SELECT * FROM create_log ORDER BY id")]

    # --- transactions -------------------------------------------------------------
    def by_ticket(self, db: sqlite3.Connection, ticket_id: int) -> Transaction | None:
        row = db.execute("SELECT * FROM transactions WHERE ticket_id = ?", (ticket_id,)).fetchone()
        return Transaction.from_row(row) if row else None

    def insert(self, db: sqlite3.Connection, tx: Transaction) -> None:
        data = tx.public()
        data["refs"] = json.dumps(tx.refs)
        data["finalized"] = int(tx.finalized)
        data["in_conciliation"] = int(tx.in_conciliation)
        cols = ", ".join(data)
        db.execute(f"INSERT INTO transactions ({cols}) VALUES ({', '.join('?' for _ in data)})",
                   tuple(data.values()))

    def get(self, cus: str) -> Transaction | None:
        """The transaction, with a scheduled decision applied once its time has come."""
        def run(db: sqlite3.Connection) -> Transaction | None:
            row = db.execute("SELECT * FROM transactions WHERE cus = ?", (cus,)).fetchone()
            if row is None:
                return None
            tx = Transaction.from_row(row)
            if tx.state == "PENDING" and tx.decide_at is not None and tx.decide_at <= time.time():
                self._set_state(db, tx, tx.decide_state or "OK")
            return tx
        return self.atomically(run)  # type: ignore[no-any-return]

    def all(self) -> list[Transaction]:
        cuses = [r["cus"] for r in self.execute("SELECT cus FROM transactions ORDER BY created_at")]
        return [tx for tx in (self.get(c) for c in cuses) if tx is not None]

    def _set_state(self, db: sqlite3.Connection, tx: Transaction, state: str) -> None:
        tx.state = state
        tx.decide_at = None
        tx.decide_state = None
        tx.bank_process_date = datetime.now(BOGOTA).date().isoformat() if state in FINAL_STATES else None
        db.execute("UPDATE transactions SET state = ?, decide_at = NULL, decide_state = NULL, "
                   "bank_process_date = ? WHERE cus = ?", (state, tx.bank_process_date, tx.cus))

    def decide(self, cus: str, state: str, *, only_if_pending: bool = True) -> Transaction | None:
        def run(db: sqlite3.Connection) -> Transaction | None:
            row = db.execute("SELECT * FROM transactions WHERE cus = ?", (cus,)).fetchone()
            if row is None:
                return None
            tx = Transaction.from_row(row)
            if tx.state == "PENDING" or not only_if_pending:
                if state == "PENDING":
                    # Left pending at the bank: any schedule is dropped, PSE keeps it pending.
                    db.execute("UPDATE transactions SET decide_at = NULL, decide_state = NULL WHERE cus = ?", (cus,))
                else:
                    self._set_state(db, tx, state)
            return tx
        return self.atomically(run)  # type: ignore[no-any-return]

    def schedule(self, cus: str, after_s: float, state: str) -> None:
        self.execute("UPDATE transactions SET state = 'PENDING', decide_at = ?, decide_state = ?, "
                     "bank_process_date = NULL WHERE cus = ?", (time.time() + after_s, state, cus))

    def patch(self, cus: str, fields: dict[str, Any]) -> bool:
        allowed = {"state", "amount", "in_conciliation", "finalized"}
        sets = {k: (str(v) if k == "amount" else v) for k, v in fields.items() if k in allowed}
        if not sets:
            return False
        if "state" in sets:
            sets["bank_process_date"] = datetime.now(BOGOTA).date().isoformat() if sets["state"] in FINAL_STATES else None
            sets["decide_at"] = None
            sets["decide_state"] = None
        assignments = ", ".join(f"{k} = ?" for k in sets)
        with self._lock:
            return self._db.execute(f"UPDATE transactions SET {assignments} WHERE cus = ?",
                                    (*sets.values(), cus)).rowcount == 1

    def set_finalized(self, cus: str) -> None:
        self.execute("UPDATE transactions SET finalized = 1 WHERE cus = ?", (cus,))

    # --- control values (planted faults, the fault mix) -----------------------------
    def control(self, key: str, default: Any) -> Any:
        rows = self.execute("SELECT value FROM control WHERE key = ?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    def set_control(self, key: str, value: Any) -> None:
        self.execute("INSERT INTO control (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                     (key, json.dumps(value)))

    def take_fault(self, operation: str) -> dict[str, Any] | None:
        """Pops the next planted fault for this operation (or for every operation: '*')."""
        def run(db: sqlite3.Connection) -> dict[str, Any] | None:
            row = db.execute("SELECT value FROM control WHERE key = 'faults'").fetchone()
            faults: list[dict[str, Any]] = json.loads(row["value"]) if row else []
            for fault in faults:
                if fault.get("operation", "*") in (operation, "*"):
                    fault["times"] = int(fault.get("times", 1)) - 1
                    if fault["times"] <= 0:
                        faults.remove(fault)
                    db.execute("INSERT INTO control (key, value) VALUES ('faults', ?) ON CONFLICT (key) "
                               "DO UPDATE SET value = excluded.value", (json.dumps(faults),))
                    return fault
            return None
        return self.atomically(run)  # type: ignore[no-any-return]

    def add_conciliation_line(self, date: str, line: str) -> None:
        self.execute("INSERT INTO conciliation_extra (date, line) VALUES (?, ?)", (date, line))

    def conciliation_extra(self, date: str) -> list[str]:
        return [r["line"] for r in self.execute("SELECT line FROM conciliation_extra WHERE date = ? ORDER BY id", (date,))]

    def reset(self) -> None:
        with self._lock:
            for table in ("transactions", "create_log", "nonces", "control", "conciliation_extra"):
                self._db.execute(f"DELETE FROM {table}")
