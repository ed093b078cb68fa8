#!/usr/bin/env python3
"""``make test-wheel``: the provider as pip installs it from its wheel, next to each supported Airflow.

1. ``python -m build``, in a venv of its own, makes the sdist and then the wheel from that sdist, in a
   temporary directory. The wheel must hold the package with ``py.typed``, both entry points
   (``apache_airflow_provider``, ``pytest11``) and the ``emulator`` extra, and nothing from the checkout
   beside the package (tests, examples, benchmarks).
2. For each Airflow version given (default ``3.1.*`` and ``3.3.*``), a fresh venv outside the checkout
   gets ``apache-airflow==<version>`` and the wheel file alone: no checkout, no ``-e``. Run from a
   directory that is not the checkout, with a throwaway ``AIRFLOW_HOME``, ``airflow_flowrun`` must come
   from the venv's site-packages, ``pip check`` must pass, the emulator must import, and
   ``airflow providers list|hooks|links|triggers`` must show the provider, the ``aep`` hook, the two
   links and the trigger, and print no warning, error, exception or traceback on stdout or stderr
   beyond what the same command prints once the provider is uninstalled again (Airflow's own, e.g.
   Airflow 3.1 with the newest common-compat provider warns of a deprecated import; they are listed).

Usage: ``scripts/check_wheel.py [AIRFLOW_VERSION ...]``. Environment: ``PYTHON`` the interpreter of
the venvs (default: this one), ``PARALLEL=0`` installs the Airflow venvs one after the other (default:
both at once), ``KEEP=1`` keeps the temporary directory. Standard library only; pip's cache is reused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: Pins Airflow 3.1 needs beside the newest packages (see the file).
OLDEST_CONSTRAINTS = REPO / "scripts" / "airflow-3.1-constraints.txt"
DEFAULT_AIRFLOW_VERSIONS = ("3.1.*", "3.3.*")
PACKAGE = "airflow-flowrun"
HOOK_CLASS = "airflow_flowrun.hooks.flow_service.AdobeFlowServiceHook"
LINKS = ("airflow_flowrun.links.AdobeFlowRunLink", "airflow_flowrun.links.AdobeFlowActivityLink")
TRIGGER_MODULES = (
    "airflow_flowrun.triggers.flow_run",
    "airflow_flowrun.triggers.flow_window",
    "airflow_flowrun.triggers.flow_run_events",
)
ENTRY_POINTS = (
    "[apache_airflow_provider]\nprovider_info = airflow_flowrun.get_provider_info:get_provider_info",
    "[pytest11]\naep_emulator = airflow_flowrun.emulator.pytest_plugin",
)
COMMANDS = ("list", "hooks", "links", "triggers")
#: What ``python -m build`` must not print, nor Airflow's CLI because of the provider.
NOISE = re.compile(r"WARNING|Warning|ERROR|Exception|Traceback|Deprecat")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z?\s*")
PIP_TIMEOUT = 900
CLI_TIMEOUT = 180


class CheckFailed(Exception):
    """One check of the wheel did not hold; the message says which and shows the evidence."""


def run(
    cmd: Sequence[str | Path], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = PIP_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; a non-zero exit fails the check with its output."""
    finished = subprocess.run(
        [str(part) for part in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if finished.returncode != 0:
        raise CheckFailed(f"{' '.join(map(str, cmd))} exited {finished.returncode}\n{finished.stdout}{finished.stderr}")
    return finished


def make_venv(path: Path, python: str, *packages: str | Path) -> Path:
    """A new venv at ``path`` with an up-to-date pip and ``packages``; returns its interpreter.

    ``--no-compile``: Python compiles what the checks import, not all of Airflow's modules up front.
    """
    run([python, "-m", "venv", path], cwd=path.parent)
    venv_python = path / "bin" / "python"
    run([venv_python, "-m", "pip", "install", "-q", "--upgrade", "pip"], cwd=path.parent)
    run([venv_python, "-m", "pip", "install", "-q", "--no-compile", *packages], cwd=path.parent)
    return venv_python


def build(work: Path, python: str) -> tuple[Path, Path]:
    """Build the sdist and, from it, the wheel; returns their paths."""
    build_python = make_venv(work / "build-venv", python, "build")
    dist = work / "dist"
    finished = run([build_python, "-m", "build", "--outdir", dist, REPO], cwd=work)
    noise = [line for line in (finished.stdout + finished.stderr).splitlines() if NOISE.search(line)]
    if noise:
        raise CheckFailed("python -m build warned:\n" + "\n".join(noise))
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    return sdist, wheel


def check_wheel_contents(wheel: Path) -> None:
    """The package, its marker and entry points, the emulator extra, and nothing else of the checkout."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    strays = sorted({name.split("/")[0] for name in names} - {"airflow_flowrun", dist_info})
    if strays:
        raise CheckFailed(f"the wheel holds more than the package: {strays}")
    for required in (
        "airflow_flowrun/py.typed",
        "airflow_flowrun/get_provider_info.py",
        "airflow_flowrun/emulator/server.py",
    ):
        if required not in names:
            raise CheckFailed(f"the wheel lacks {required}")
    for section in ENTRY_POINTS:
        if section not in entry_points:
            raise CheckFailed(f"the wheel's entry_points.txt lacks {section!r}:\n{entry_points}")
    if "Provides-Extra: emulator" not in metadata or not re.search(
        r'Requires-Dist: fastapi.*extra == "emulator"', metadata
    ):
        raise CheckFailed(f"the wheel's METADATA has no emulator extra:\n{metadata}")


def check_airflow(airflow_version: str, wheel: Path, work: Path, python: str) -> str:
    """Install Airflow and the wheel alone in a fresh venv and read the provider back through the CLI."""
    place = work / f"airflow-{airflow_version.replace('*', 'x')}"
    place.mkdir()
    started = time.monotonic()
    pins = ["-c", str(OLDEST_CONSTRAINTS)] if airflow_version.startswith("3.1") else []
    venv_python = make_venv(place / "venv", python, *pins, f"apache-airflow=={airflow_version}", wheel)
    installed = time.monotonic() - started
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "PYTHON"))}
    env |= {"AIRFLOW_HOME": str(place / "home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}

    origin = run([venv_python, "-c", "import airflow_flowrun; print(airflow_flowrun.__file__)"], cwd=place, env=env)
    if not Path(origin.stdout.strip()).is_relative_to(place / "venv"):
        raise CheckFailed(f"airflow_flowrun came from {origin.stdout.strip()}, not from the venv")
    run([venv_python, "-m", "pip", "check"], cwd=place, env=env)
    run([venv_python, "-c", "from airflow_flowrun.emulator import FlowServiceEmulator"], cwd=place, env=env)
    versions = run(
        [venv_python, "-c", "import airflow, airflow_flowrun; print(airflow.__version__, airflow_flowrun.__version__)"],
        cwd=place,
        env=env,
    ).stdout.split()
    airflow_installed, version = versions
    if version != wheel.name.split("-")[1]:
        raise CheckFailed(f"airflow_flowrun.__version__ is {version}, the wheel's version {wheel.name.split('-')[1]}")

    shown = {command: providers_cli(command, place, env) for command in COMMANDS}
    noisy = {command: lines for command, finished in shown.items() if (lines := noise(finished))}
    airflows_own = airflow_own_noise(noisy, place, env) if noisy else {}
    for command, lines in noisy.items():
        ours = [line for line in lines if line not in airflows_own[command]]
        if ours:
            raise CheckFailed(f"with the provider, airflow providers {command} printed:\n" + "\n".join(ours))
    for command, wanted in expected_rows(version).items():
        try:
            rows = json.loads(shown[command].stdout)
        except json.JSONDecodeError as error:
            raise CheckFailed(
                f"airflow providers {command} -o json printed more than JSON:\n{shown[command].stdout}"
            ) from error
        missing = [row for row in wanted if not any(row.items() <= listed.items() for listed in rows)]
        if missing:
            raise CheckFailed(f"airflow providers {command} lacks {missing}; it shows:\n{json.dumps(rows, indent=1)}")
    checked = time.monotonic() - started - installed
    own = sorted({line for lines in airflows_own.values() for line in lines})
    return (
        f"Airflow {airflow_installed} + {PACKAGE} {version} from the wheel: provider, aep hook, 2 links and the "
        f"trigger listed, no warning of ours (install {installed:.0f} s, checks {checked:.0f} s)"
        + "".join(f"\n    Airflow's own, printed without the provider too: {line}" for line in own)
    )


def airflow_own_noise(noisy: dict[str, list[str]], place: Path, env: dict[str, str]) -> dict[str, set[str]]:
    """What the noisy commands print once the provider is uninstalled: Airflow's own warnings, not ours.

    Leaves the venv without the provider: call it after every other check.
    """
    run([place / "venv/bin/python", "-m", "pip", "uninstall", "-q", "-y", PACKAGE], cwd=place)
    return {command: set(noise(providers_cli(command, place, env))) for command in noisy}


def expected_rows(version: str) -> dict[str, list[dict[str, str]]]:
    """Per ``airflow providers`` command, the rows (or the part of a row) it must show for the provider."""
    return {
        "list": [{"package_name": PACKAGE, "version": version}],
        "hooks": [{"connection_type": "aep", "class": HOOK_CLASS, "package_name": PACKAGE}],
        "links": [{"extra_link_class_name": link} for link in LINKS],
        "triggers": [{"class": module, "package_name": PACKAGE} for module in TRIGGER_MODULES],
    }


def providers_cli(command: str, place: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``airflow providers <command> -o json``, run from ``place`` (not the checkout)."""
    return run(
        [place / "venv/bin/airflow", "providers", command, "-o", "json"], cwd=place, env=env, timeout=CLI_TIMEOUT
    )


def noise(finished: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines of stdout and stderr that warn or report an error, without their timestamps."""
    lines = (finished.stdout + finished.stderr).splitlines()
    return [TIMESTAMP.sub("", line) for line in lines if NOISE.search(line)]


def main(argv: Sequence[str]) -> int:
    airflow_versions = list(argv) or list(DEFAULT_AIRFLOW_VERSIONS)
    python = os.environ.get("PYTHON") or sys.executable
    parallel = os.environ.get("PARALLEL", "1") != "0"
    work = Path(tempfile.mkdtemp(prefix="aep-wheel-check-"))
    started = time.monotonic()
    try:
        sdist, wheel = build(work, python)
        check_wheel_contents(wheel)
        print(f"==> built {sdist.name} and {wheel.name} ({time.monotonic() - started:.0f} s)", flush=True)
        with ThreadPoolExecutor(max_workers=len(airflow_versions) if parallel else 1) as pool:
            checks = {version: pool.submit(check_airflow, version, wheel, work, python) for version in airflow_versions}
        failed = False
        for version, check in checks.items():
            try:
                print(f"==> {check.result()}", flush=True)
            except (CheckFailed, subprocess.TimeoutExpired) as error:
                failed = True
                print(f"FAILED on apache-airflow=={version}: {error}", flush=True)
    except (CheckFailed, subprocess.TimeoutExpired) as error:
        print(f"FAILED: {error}", flush=True)
        failed = True
    finally:
        if os.environ.get("KEEP") == "1":
            print(f"==> kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"==> test-wheel {'FAILED' if failed else 'passed'} in {time.monotonic() - started:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
