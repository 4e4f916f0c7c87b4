"""How a payment's state is shown to the member (issue 9 item 3: presentation lives in
the web, not in db/). The database layer returns states; this maps each to the stage
the status page and the history name (recibido → fondeado → aplicado), whose texts are
`texts.STAGE_LABELS`."""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from domain.payment_states import IntentState

# Every state, no default: a new state fails test_every_state_has_a_stage until it is shown.
STAGE_OF_STATE: Mapping[IntentState, str] = MappingProxyType({
    IntentState.CREATED: "recibido",
    IntentState.FUNDING: "recibido",
    IntentState.FUNDED: "fondeado",
    IntentState.APPLIED: "aplicado",
    IntentState.REJECTED: "rechazado",
    IntentState.FAILED: "fallido",
    IntentState.EXPIRED: "vencido",
    IntentState.REVERSED: "reversado",
})


def stage_of(state: str) -> str:
    """The stage code of a stored state value ("applied" → "aplicado")."""
    return STAGE_OF_STATE[IntentState(state)]
