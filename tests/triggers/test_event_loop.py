"""Nothing of ours blocks the triggerer's event loop, not even the first trigger of a fresh process.

A triggerer imports a trigger's module when it loads the trigger, and everything the trigger imports
later runs inside the loop. The poller and the async hook pull in aiohttp, a few hundred milliseconds
of imports on a cold process: done in the loop, Airflow's triggerer warns "async thread was blocked
... badly-written trigger" and every other trigger waits that long. The check runs in a new
interpreter (modules already imported by the test session would hide the import) and records, with
an import hook, the thread each of our heavy modules is executed on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from airflow_flowrun.emulator import FILE_FLOW_ID

#: Modules the trigger needs only once it waits; their first import must not run on the loop's thread.
HEAVY = ("airflow_flowrun.triggers._poller", "airflow_flowrun.hooks.flow_service_async")

SCRIPT = textwrap.dedent(
    """
    import asyncio, importlib.abc, json, sys, threading, time

    heavy = set(sys.argv[2].split(","))
    imported_on = {}

    class Recorder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name in heavy:
                imported_on[name] = threading.get_ident()
            return None

    sys.meta_path.insert(0, Recorder())

    from airflow_flowrun.triggers.flow_run import AdobeFlowRunTrigger

    loaded_before_run = sorted(name for name in heavy if name in sys.modules)

    async def main():
        loop_thread = threading.get_ident()
        trigger = AdobeFlowRunTrigger(run_id=sys.argv[1], poll_interval=0.2, end_time=time.time() + 30)
        event = None
        async for event in trigger.run():
            break
        return loop_thread, event.payload

    loop_thread, payload = asyncio.run(main())
    print(json.dumps({
        "loaded_before_run": loaded_before_run,
        "on_loop_thread": sorted(name for name, ident in imported_on.items() if ident == loop_thread),
        "imported": sorted(imported_on),
        "status": payload["status"],
    }))
    """
)


def test_first_trigger_of_a_process_imports_its_poller_off_the_event_loop(emulator, create_run):
    run_id = create_run(FILE_FLOW_ID)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, run_id, ",".join(HEAVY)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["status"] == "success"
    assert seen["loaded_before_run"] == [], "loading the trigger's module must not import the poller or aiohttp"
    assert seen["imported"] == sorted(HEAVY)
    assert seen["on_loop_thread"] == []
