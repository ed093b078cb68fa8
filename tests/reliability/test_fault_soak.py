"""The fault soak, small enough for every test run: exactly one run per window, whatever fails.

40 ingestion tasks over contiguous windows of six flows, in sync, deferrable and reschedule modes,
against an emulator that answers 5xx, 429 with Retry-After, drops connections, stalls, commits a
``POST /runs`` then answers 502 or late, lists new runs late and expires tokens every three seconds; some
tries die mid-wait or between submit and persist. ``benchmarks/fault_soak.py`` runs the same soak
larger. The soak itself is the session's ``fault_soak`` fixture (tests/reliability/conftest.py), which
test_secrets.py judges too. Run with ``-s`` (and without ``-n``) to see the figures.
"""

from __future__ import annotations

import pytest
from reliability.crashes import BEFORE_PERSIST, MID_WAIT
from reliability.soak import SOAK_FAULT_KINDS

pytestmark = pytest.mark.xdist_group("fault_soak")


def test_fault_soak_ingests_every_window_exactly_once_with_the_right_outcomes(fault_soak, capfd):
    result, output = fault_soak.result, fault_soak.output
    figures = result.figures(output)
    with capfd.disabled():
        print("\nfault soak (tests/reliability/test_fault_soak.py)", *figures, sep="\n")

    # the weather really happened
    assert all(result.faults[kind] > 0 for kind in SOAK_FAULT_KINDS), result.faults
    assert result.token_requests >= 5, "tokens must have expired and been fetched again"
    assert result.crashes_planned[MID_WAIT] >= 3
    assert result.crashes_planned[BEFORE_PERSIST] >= 3
    assert result.crashes_happened == result.crashes_planned, result.diagnosis(output)
    modes_run = {task.mode for task in result.tasks}
    assert modes_run == {"sync", "deferrable", "reschedule"}

    # and changed nothing that matters
    assert result.wrong_outcomes() == {}, result.diagnosis(output)
    assert result.window_findings() == {"duplicates": [], "missing": [], "unplanned": [], "excess": []}
    assert result.gaps_and_overlaps() == ([], [])
    assert result.leaks(output) == []
