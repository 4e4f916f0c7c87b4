"""When to ask PSE again about a transaction that has no final state (issue 10 §4).

The schedule is a list of phases, each "every E until U" measured from the moment the
transaction was created at PSE: by default every 3 minutes up to 25 minutes (PSE's
session lasts about 21, Payty polls every 3), every 12 minutes up to 90 minutes
(PlacetoPay's "at least every 12 minutes"), then daily for 7 days (the bank may confirm
late; DESIGN §5: a late approval is applied or refunded, never dropped). After the last
phase there is no next query: the attempt goes to the review queue and conciliation.

The time of the next query is stored on the attempt and the reconciler picks up what is
due; nothing sleeps (DESIGN §4).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Phase:
    every: timedelta
    until: timedelta      # measured from the create


DEFAULT_PHASES: tuple[Phase, ...] = (
    Phase(every=timedelta(minutes=3), until=timedelta(minutes=25)),
    Phase(every=timedelta(minutes=12), until=timedelta(minutes=90)),
    Phase(every=timedelta(days=1), until=timedelta(days=7)),
)


def parse_phases(text: str) -> tuple[Phase, ...]:
    """Reads "every:until,every:until,..." in seconds (ZONA_PSE_QUERY_PHASES), e.g.
    "180:1500,720:5400,86400:604800". Phases must grow: each ends after the previous."""
    phases: list[Phase] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        every_s, sep, until_s = part.partition(":")
        if not sep:
            raise ValueError(f"query phase {part!r}: expected every:until in seconds")
        every, until = timedelta(seconds=float(every_s)), timedelta(seconds=float(until_s))
        if every <= timedelta(0) or until <= timedelta(0):
            raise ValueError(f"query phase {part!r}: both figures must be positive")
        if phases and until <= phases[-1].until:
            raise ValueError(f"query phase {part!r}: must end after the previous phase")
        phases.append(Phase(every=every, until=until))
    if not phases:
        raise ValueError("no query phases")
    return tuple(phases)


def next_query_at(created_at: datetime, now: datetime, phases: tuple[Phase, ...] = DEFAULT_PHASES) -> datetime | None:
    """The next time to query, or None when the schedule is over. A query is never set
    past the end of the phase it belongs to, so the last query of a phase happens at
    its end (the 25th minute is asked, not skipped to the 27th)."""
    elapsed = now - created_at
    for phase in phases:
        if elapsed < phase.until:
            return min(now + phase.every, created_at + phase.until)
    return None


def schedule(created_at: datetime, phases: tuple[Phase, ...] = DEFAULT_PHASES) -> list[datetime]:
    """Every query time of a transaction that never gets a final state (for tests and
    for the operator console's "next query" column)."""
    times: list[datetime] = []
    at = next_query_at(created_at, created_at, phases)
    while at is not None:
        times.append(at)
        at = next_query_at(created_at, at, phases)
    return times
