"""Put on the triggerer's ``PYTHONPATH`` by ``E2E_LOOP_DIAGNOSTICS=1``: who holds the event loop, and how.

Airflow's watchdog only says the loop was blocked. This times every callback the loop runs (a
task step names its coroutine) and, for each that held the loop longer than 0.1 s, appends to
``$E2E_LOOP_LOG`` its wall time, the CPU time the loop thread spent in it and the load average:
a step that used its whole wall time on the CPU is code blocking the loop; one that used a small
fraction of it is the process waiting for a CPU. Garbage collections longer than 0.05 s are
logged too (``gc gen=2 ...``): they stop the loop inside whatever step allocated last.
"""

import asyncio.events
import gc
import os
import time

_path = os.environ.get("E2E_LOOP_LOG")
_THRESHOLD = 0.1


def _name(callback: object) -> str:
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        code = getattr(coro, "cr_code", None)
        where = f" ({code.co_filename}:{code.co_firstlineno})" if code is not None else ""
        return f"task {task.get_name()} {getattr(coro, '__qualname__', coro)}{where}"
    return repr(callback)


if _path:
    _run = asyncio.events.Handle._run

    def _timed_run(self: asyncio.events.Handle) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        _run(self)
        held = time.perf_counter() - wall
        if held > _THRESHOLD:
            used = time.thread_time() - cpu
            with open(_path, "a") as log:
                log.write(
                    f"{time.strftime('%H:%M:%S')} pid={os.getpid()} held={held:.3f}s cpu={used:.3f}s "
                    f"load1={os.getloadavg()[0]:.1f} {_name(self._callback)}\n"
                )

    asyncio.events.Handle._run = _timed_run  # type: ignore[method-assign]

    _gc_started = [0.0]

    def _time_gc(phase: str, info: dict) -> None:
        if phase == "start":
            _gc_started[0] = time.perf_counter()
            return
        took = time.perf_counter() - _gc_started[0]
        if took > 0.05:
            with open(_path, "a") as log:
                log.write(
                    f"{time.strftime('%H:%M:%S')} pid={os.getpid()} gc gen={info['generation']} took={took:.3f}s "
                    f"collected={info['collected']}\n"
                )

    gc.callbacks.append(_time_gc)
