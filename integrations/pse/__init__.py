"""PSE (ACH Colombia) client: the provider interface (provider.py), the direct ACH
implementation over SOAP (ach.py) and its retry rules (retry.py)."""
from __future__ import annotations

from integrations.pse.provider import (Bank, ConciliationFile, ConciliationResult, CreateRequest, CreateResult,
                                       FinalizeResult, PseError, PseOutcomeUnknown, PseProvider,
                                       PseRejectedRequest, PseUnavailable, TransactionInfo)

__all__ = ["Bank", "ConciliationFile", "ConciliationResult", "CreateRequest", "CreateResult", "FinalizeResult",
           "PseError", "PseOutcomeUnknown", "PseProvider", "PseRejectedRequest", "PseUnavailable",
           "TransactionInfo", "make_provider"]


def make_provider() -> PseProvider:
    from integrations.pse.ach import AchPseProvider
    from zona_privada.settings import load_pse_settings
    return AchPseProvider(load_pse_settings())
