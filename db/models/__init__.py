"""All models, importable from one place; Alembic's env reads `Base.metadata` here."""
from .activity import AuditEvent, OutboxMessage
from .base import Base
from .documents import DOCUMENT_KINDS, MemberDocument
from .ledger import JournalEntry, JournalLine, LedgerAccount, Nature
from .members import DOCUMENT_TYPES, Credential, Member, PayingEntity
from .payments import (
    Allocation,
    FundingAttempt,
    Hold,
    IntentKind,
    PaymentIntent,
    PaymentIntentLine,
    PseResolution,
    PseState,
    PseTransaction,
    ReceiptCounter,
)
from .operators import Operator, OperatorAction, OperatorRequest, OperatorRole, RequestKind, RequestState
from .pse import PseBank
from .rates import LateInterestAccrual, UsuryRateRow
from .review import ReviewItem, ReviewKind, ReviewState
from .products import (
    Card,
    Cdat,
    Installment,
    Loan,
    Obligation,
    ObligationKind,
    ObligationStatus,
    PayrollDiscount,
    SavingsAccount,
    SavingsProduct,
    SavingsStatus,
)

__all__ = [
    "Allocation", "AuditEvent", "DOCUMENT_KINDS", "MemberDocument", "Base", "Card", "Cdat", "Credential", "DOCUMENT_TYPES", "FundingAttempt",
    "Hold", "Installment", "IntentKind", "JournalEntry", "JournalLine", "LedgerAccount", "Loan", "Member",
    "Nature", "Obligation", "Operator", "OperatorAction", "OperatorRequest", "OperatorRole", "ObligationKind", "ObligationStatus", "OutboxMessage", "PayingEntity",
    "PaymentIntent", "PaymentIntentLine", "PayrollDiscount", "PseBank", "PseResolution", "PseState", "PseTransaction", "ReceiptCounter",
    "RequestKind", "RequestState", "ReviewItem", "ReviewKind", "ReviewState",
    "SavingsAccount", "SavingsProduct", "SavingsStatus", "UsuryRateRow",
]
