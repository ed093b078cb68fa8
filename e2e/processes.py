"""Every process the e2e starts: each in a session of its own, logged to its own file, stopped by id.

Each process leads a new session (and so a new process group): stopping it signals that group,
which also reaches what it forked (LocalExecutor workers, task processes, the triggerer's runner),
and nothing the harness did not start. Every pid is appended to ``pids`` in the run directory as
soon as it exists, so ``e2e/run.sh`` can stop what is left even if this Python process is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class Managed:
    """One started process: its name (``scheduler-2``), argv, log file and ``Popen``."""

    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]
    log_file: IO[bytes]
    stop_signal: signal.Signals = signal.SIGTERM
    started_at: float = field(default_factory=time.time)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


class ProcessSet:
    """The processes of one e2e run.

    :param run_dir: where logs and the ``pids`` file go
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.pid_file = run_dir / "pids"
        self.processes: list[Managed] = []
        self._counts: dict[str, int] = {}

    def start(
        self,
        role: str,
        argv: list[str],
        env: dict[str, str],
        *,
        user: str | None = None,
        cwd: Path | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> Managed:
        """Start ``argv`` as the next process of ``role`` (``scheduler`` -> ``scheduler-1``, ``scheduler-2``...).

        :param stop_signal: what :meth:`stop_all` sends first (PostgreSQL shuts down fast on SIGINT)
        """
        self._counts[role] = self._counts.get(role, 0) + 1
        name = f"{role}-{self._counts[role]}"
        log_path = self.run_dir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = log_path.open("ab")
        popen = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user,
        )
        managed = Managed(name, argv, log_path, popen, log_file, stop_signal)
        self.processes.append(managed)
        with self.pid_file.open("a") as pids:
            pids.write(f"{popen.pid} {name}\n")
        return managed

    def latest(self, role: str) -> Managed:
        """The most recently started process of ``role``."""
        for managed in reversed(self.processes):
            if managed.name.rsplit("-", 1)[0] == role:
                return managed
        raise KeyError(f"no {role} process was started")

    def kill(self, managed: Managed, sig: signal.Signals = signal.SIGKILL, *, group: bool = True) -> None:
        """Signal one process (and, with ``group``, everything in its process group)."""
        try:
            if group:
                os.killpg(managed.pid, sig)
            else:
                os.kill(managed.pid, sig)
        except ProcessLookupError:
            pass

    def wait_exit(self, managed: Managed, timeout: float) -> bool:
        """Whether the process exited within ``timeout`` seconds."""
        try:
            managed.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop_all(self, grace: float = 15.0) -> list[str]:
        """Signal every process group still there, newest first, then SIGKILL what remains after ``grace`` s.

        :return: lines naming what had to be killed or would not go
        """
        report: list[str] = []
        for managed in reversed(self.processes):
            if _group_exists(managed.pid):
                self.kill(managed, managed.stop_signal)
        deadline = time.monotonic() + grace
        for managed in reversed(self.processes):
            if not self._gone(managed, deadline):
                self.kill(managed, signal.SIGKILL)
                report.append(f"{managed.name} (pid {managed.pid}): SIGKILL after {grace:.0f} s")
                if not self._gone(managed, time.monotonic() + 5):
                    report.append(f"{managed.name} (pid {managed.pid}): still there after SIGKILL")
            managed.log_file.close()
        return report

    @staticmethod
    def _gone(managed: Managed, deadline: float) -> bool:
        while True:
            managed.popen.poll()  # reap the leader, or its zombie keeps the group alive
            if not _group_exists(managed.pid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
