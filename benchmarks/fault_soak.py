"""The fault soak at a larger size: many ingestion tasks against a misbehaving Flow Service.

Runs the soak engine of ``tests/reliability/soak.py`` (the same one ``tests/reliability/test_fault_soak.py``
asserts on) with more tasks, and prints its figures one per line: tasks, faults injected per kind,
tries killed, retries spent, runs created, duplicates, missing windows, gaps, overlaps, wrong
outcomes (each explained), leaked secrets, wall time. It measures and prints; it asserts nothing.

    python benchmarks/fault_soak.py                  # 200 tasks: about 5 minutes on 2 cores
    python benchmarks/fault_soak.py --tasks 60 --seed 3

Airflow runs from a throwaway ``AIRFLOW_HOME`` with a migrated sqlite DB; every task runs in one
``dag.test()``. The tasks' logs are captured (and searched for the canary secret and tokens), not shown.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def prepare_airflow() -> None:
    """A throwaway Airflow home with a migrated DB, set up before anything imports Airflow's models."""
    home = Path(tempfile.mkdtemp(prefix="aep-fault-soak-"))
    (home / "dags").mkdir()
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(home / "dags")
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.utils import db

    db.initdb()
    DagBundlesManager().sync_bundles_to_db()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200, help="ingestion tasks (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the plan and the fault RNGs (default 0)")
    args = parser.parse_args()
    started = time.monotonic()

    from reliability.leaks import captured_output

    with captured_output() as captured:
        prepare_airflow()
        from reliability.soak import SoakConfig, run_soak

        result = run_soak(SoakConfig(tasks=args.tasks, seed=args.seed))
        gc.collect()  # what the inline triggers' event loops left behind is reported here, not after the figures
    print(f"fault soak: --tasks {args.tasks} --seed {args.seed}")
    for line in result.figures(captured.text):
        print(line)
    if result.wrong_outcomes() or result.crashes_missed:
        print(result.diagnosis(captured.text))
    print(f"total wall time (Airflow start included): {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))
    main()
