"""A try killed mid-wait or between submit and persist: the next try takes over the same run.

The soak mixes these crashes with faults; here each crash place meets each waiting mode alone, so a
failure names its cause.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from reliability.crashes import AFTER_FINISH, BEFORE_PERSIST, MID_WAIT, SimulatedCrash, simulated_crashes
from reliability.soak import FIRST_WINDOW_START, MODES, SOAK_CONN_ID, SoakConfig, SoakFlow, SoakTask, build_soak_dag
from tries import DictStore, submit_once

from airflow_flowrun.emulator import FILE_FLOW_ID
from airflow_flowrun.submission import RunSubmitter, mark_finished

WINDOW = (FIRST_WINDOW_START, FIRST_WINDOW_START + 3600)


def run_with_crash(emu, run_dag, monkeypatch, mode: str, where: str) -> tuple[dict, list[dict], set]:
    """One file ingestion of WINDOW in ``mode`` whose first try dies at ``where``; returns states, runs, crashes."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{SOAK_CONN_ID.upper()}", json.dumps(emu.connection_dict))
    task = SoakTask("ingest", SoakFlow("file", FILE_FLOW_ID, "file"), WINDOW, mode, where)
    dag = build_soak_dag([task], SoakConfig(retries=1), dag_id=f"killed_{where}_{mode}")
    planned = {MID_WAIT: set(), BEFORE_PERSIST: set(), AFTER_FINISH: set()} | {where: {task.key}}
    with simulated_crashes(planned[MID_WAIT], planned[BEFORE_PERSIST], planned[AFTER_FINISH]) as ledger:
        dag_run = run_dag(dag, logical_date=None)
    states = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    return states, emu.runs(FILE_FLOW_ID), ledger.happened[where]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where", [MID_WAIT, BEFORE_PERSIST, AFTER_FINISH])
def test_killed_try_is_followed_by_a_try_that_takes_over_the_same_run(emu, run_dag, monkeypatch, mode, where):
    states, runs, crashed = run_with_crash(emu, run_dag, monkeypatch, mode, where)

    assert crashed == {(FILE_FLOW_ID, *WINDOW)}, "the planned crash did not happen"
    killed = "ingest_wait" if (mode, where) == ("reschedule", MID_WAIT) else "ingest"
    assert states[killed] == ("success", 2)
    assert all(state == "success" for state, _ in states.values())
    assert [run["params"]["windowStartTime"] for run in runs] == [WINDOW[0]], "one run, for the window"


def test_try_killed_before_persist_adopts_its_run_while_listings_lag(emu, run_dag, monkeypatch):
    """A new run can take a moment to appear in ``GET /runs`` (the emulator's visibility delay).

    The retry starts at once (``retry_delay=0``), before the run of the killed try is listed: the
    lookup must wait for it, as ``create_run`` does after a lost ``POST`` answer, instead of
    concluding that there is none and creating a second run for the window.
    """
    emu.visibility_delay = 1.0  # within the lost-answer grace the hook waits for a run to be listed
    states, runs, crashed = run_with_crash(emu, run_dag, monkeypatch, "sync", BEFORE_PERSIST)

    assert crashed == {(FILE_FLOW_ID, *WINDOW)}
    assert states == {"ingest": ("success", 2)}
    assert len(runs) == 1, f"the window was ingested {len(runs)} times"


def test_try_killed_before_persisting_the_replacement_of_a_failed_run_adopts_the_replacement(emu, run_dag, monkeypatch):
    """Try 1's run fails; try 2 creates a replacement and dies before storing it; try 3 must adopt it.

    While the replacement is not listed yet, the newest run of the window in ``GET /runs`` is the
    failed one: finding it is no reason to stop looking and create a third run.
    """
    emu.configure_flow(FILE_FLOW_ID, fail_first=1)
    emu.visibility_delay = 1.0
    monkeypatch.setenv(f"AIRFLOW_CONN_{SOAK_CONN_ID.upper()}", json.dumps(emu.connection_dict))
    remember = RunSubmitter._remember
    created: list[str] = []

    def die_after_creating_the_replacement(submitter: RunSubmitter, submission: Any) -> Any:
        if submission.how == "created":
            created.append(submission.run_id)
            if len(created) == 2:
                raise SimulatedCrash("killed after creating the replacement run, before storing it")
        return remember(submitter, submission)

    monkeypatch.setattr(RunSubmitter, "_remember", die_after_creating_the_replacement)
    task = SoakTask("ingest", SoakFlow("file", FILE_FLOW_ID, "file"), WINDOW, "sync")
    dag_run = run_dag(build_soak_dag([task], SoakConfig(retries=2), dag_id="killed_replacement"), logical_date=None)

    (ti,) = dag_run.get_task_instances()
    assert (ti.state, ti.try_number) == ("success", 3)
    statuses = [run["metrics"]["statusSummary"]["status"] for run in emu.runs(FILE_FLOW_ID)]
    assert statuses == ["failed", "success"], "the window must have one failed run and one replacement"


def test_re_ingest_of_a_cleared_task_killed_before_persist_adopts_the_new_run_not_the_old_one(emu):
    """A user clears a succeeded task to ingest its window again; that try dies right after creating
    the new run. The next try must take the new run: neither the old one nor a third run, even while
    the new run is not listed yet and the old one, seconds old, is."""
    store, started = DictStore(), datetime.now(UTC)
    old = submit_once(store, started, FILE_FLOW_ID, WINDOW, max_tries=1)
    mark_finished(store, old.run_id, max_tries=1)  # the task succeeded; then the user clears it
    emu.visibility_delay = 1.2  # longer than the next try takes to look, shorter than its patience (1.5 s)
    time.sleep(1.2)  # the old run is listed again, the new one will not be at first
    with (
        simulated_crashes(mid_wait=set(), before_persist={(FILE_FLOW_ID, *WINDOW)}) as ledger,
        pytest.raises(SimulatedCrash),
    ):
        submit_once(store, started, FILE_FLOW_ID, WINDOW, max_tries=2)
    taken = submit_once(store, started, FILE_FLOW_ID, WINDOW, max_tries=2)

    runs = emu.runs(FILE_FLOW_ID)
    assert ledger.happened[BEFORE_PERSIST] == {(FILE_FLOW_ID, *WINDOW)}
    assert len(runs) == 2, f"one old and one new run expected, the window has {len(runs)}"
    old_run, new_run = runs
    assert old_run["id"] == old.run_id
    assert (taken.run_id, taken.how) == (new_run["id"], "adopted")
