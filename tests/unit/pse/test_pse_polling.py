"""The query schedule of a PSE transaction with no final state."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.pse_polling import DEFAULT_PHASES, Phase, next_query_at, parse_phases, schedule

T0 = datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)


def test_default_schedule_every_3_min_to_25_then_12_to_90_then_daily_for_7_days() -> None:
    times = [t - T0 for t in schedule(T0)]
    minutes = [t / timedelta(minutes=1) for t in times]
    assert minutes[:9] == [3, 6, 9, 12, 15, 18, 21, 24, 25]
    # 25 + 12k up to 90: 37, 49, 61, 73, 85, then the phase's end at 90.
    assert minutes[9:15] == [37, 49, 61, 73, 85, 90]
    days = [t / timedelta(days=1) for t in times[15:]]
    assert days[-1] == 7 and len(days) == 7
    assert times == sorted(times) and len(set(times)) == len(times)
    assert next_query_at(T0, T0 + timedelta(days=7)) is None


def test_settings_string_is_read_and_checked() -> None:
    assert parse_phases("180:1500,720:5400,86400:604800") == DEFAULT_PHASES
    assert parse_phases("0.5:3, 2:10") == (Phase(timedelta(seconds=0.5), timedelta(seconds=3)),
                                           Phase(timedelta(seconds=2), timedelta(seconds=10)))
    for bad in ("", "180", "0:10", "10:-1", "5:100,5:50", "a:b"):
        with pytest.raises(ValueError):
            parse_phases(bad)


@given(st.floats(min_value=0, max_value=8 * 86400, allow_nan=False))
def test_next_query_is_after_now_within_the_phase_and_never_late(elapsed_s: float) -> None:
    now = T0 + timedelta(seconds=elapsed_s)
    nxt = next_query_at(T0, now)
    if elapsed_s >= 7 * 86400:
        assert nxt is None
        return
    assert nxt is not None and now < nxt
    phase = next(p for p in DEFAULT_PHASES if now - T0 < p.until)
    assert nxt - now <= phase.every and nxt - T0 <= phase.until


def test_the_default_setting_is_the_default_schedule() -> None:
    from zona_privada.settings import load_pse_settings

    assert parse_phases(load_pse_settings({}).query_phases) == DEFAULT_PHASES
