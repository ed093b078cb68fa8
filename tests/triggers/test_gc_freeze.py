"""In a triggerer, the first AEP trigger freezes the heap out of garbage collection, once; elsewhere never.

Each case runs in a fresh interpreter: ``gc.freeze()`` is process-wide and must not touch pytest's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import asyncio, gc, json, sys
if sys.argv[1] == "triggerer":
    import airflow.jobs.triggerer_job_runner
from airflow_flowrun.triggers import flow_run
asyncio.run(flow_run._import_poller())
first = gc.get_freeze_count()
flow_run._poller = None
asyncio.run(flow_run._import_poller())
print(json.dumps({"first": first, "again": gc.get_freeze_count()}))
"""


def probe(where: str, **env: str) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, where], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_triggerer_process_is_frozen_once():
    counts = probe("triggerer")
    assert counts["first"] > 10_000, counts  # Airflow's heap, not a handful of objects
    assert counts["again"] == counts["first"], "a second start must not freeze again"


@pytest.mark.parametrize(
    ("where", "env"),
    [("worker", {}), ("triggerer", {"AIRFLOW__AEP_FLOWRUN__TRIGGERER_GC_FREEZE": "False"})],
    ids=["not_a_triggerer", "turned_off"],
)
def test_nothing_is_frozen_outside_a_triggerer_or_when_turned_off(where, env):
    assert probe(where, **env) == {"first": 0, "again": 0}
