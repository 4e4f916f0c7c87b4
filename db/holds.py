"""The held amount of a savings account, defined once (issue 9 item 3): the sum of its
pending holds (TigerBeetle's pending transfers), optionally leaving out one intent's own
holds (they reserve money FOR that intent, so they must not count against it)."""
from __future__ import annotations

from sqlalchemy import ColumnElement, func, select

from domain.payment_states import HoldState

from .models import FundingAttempt, Hold


def held_amount(savings_account_id: ColumnElement[int], *, exclude_intent_id: object = None) -> ColumnElement:
    """A correlated scalar subquery: what the pending holds of `savings_account_id`
    reserve. `exclude_intent_id` may be a value or a bind parameter."""
    query = select(func.coalesce(func.sum(Hold.amount), 0)).where(
        Hold.savings_account_id == savings_account_id, Hold.state == HoldState.PENDING)
    if exclude_intent_id is not None:
        query = query.join(FundingAttempt, FundingAttempt.id == Hold.attempt_id).where(
            FundingAttempt.intent_id.is_distinct_from(exclude_intent_id))
    return query.scalar_subquery()
