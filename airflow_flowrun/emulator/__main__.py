"""``python -m airflow_flowrun.emulator``: serve the emulator until Ctrl-C / SIGTERM.

Prints, flushed, the ``export AIRFLOW_CONN_AEP_DEFAULT='...'`` line to use, the URL it serves on
and the seeded flow ids. ``--config FILE.json`` takes the constructor settings (``host``,
``port``, ``run_duration``, ``token_lifetime``, ``visibility_delay``, ``seed``,
``create_run_response_shape``, ``request_log_size``, ``client_id``, ``client_secret``,
``token_prefix``, ``page_size``, ``sandboxes``) plus ``"faults": [rule, ...]``,
``"flows": {flow_id: {"duration", "outcome", "fail_first", "counts"}}`` and
``"schedules": {flow_id: {"every", "start", "delay"}}``; command-line flags win over the file.
``--schedule FLOW_ID=SECONDS`` (repeatable) makes a recurring flow start a run every SECONDS
seconds (see ``FlowServiceEmulator.schedule_flow``). Note that ``POST /_emulator/reset`` also
drops the configured faults, flow settings and schedules.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow_flowrun.emulator.seeds import SEEDED_FLOW_IDS

_SETTING_FLAGS = ("host", "port", "run_duration", "token_lifetime", "visibility_delay", "seed", "client_id")
#: The config file's keys: the flags' settings, the settings without a flag, and what is not a setting.
_CONFIG_KEYS = frozenset(_SETTING_FLAGS) | {
    "create_run_response_shape", "request_log_size", "client_secret", "token_prefix", "page_size", "sandboxes",
    "faults", "flows", "schedules",
}  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_flowrun.emulator",
        description="Serve a local Adobe IMS + Flow Service emulator.",
    )
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default 8765; 0 picks a free one)")
    parser.add_argument("--config", type=Path, help="JSON file: settings, 'faults' and 'flows'")
    parser.add_argument("--run-duration", type=float, help="seconds a run stays inProgress (default 3)")
    parser.add_argument("--token-lifetime", type=float, help="seconds a token stays valid (default 86399)")
    parser.add_argument("--visibility-delay", type=float, help="seconds a new run stays invisible (default 0)")
    parser.add_argument("--seed", type=int, help="seed of the fault RNGs (default 0)")
    parser.add_argument("--client-id", help="client id (API key) IMS accepts (default emulator-client-id)")
    parser.add_argument(
        "--fault",
        action="extend",
        nargs="+",
        default=[],
        metavar="JSON",
        help='fault rules (repeatable), e.g. \'{"kind": "drop", "nth": [1]}\'',
    )
    parser.add_argument(
        "--schedule",
        action="append",
        default=[],
        type=_schedule_flag,
        metavar="FLOW_ID=SECONDS",
        help="a recurring flow starts a run every SECONDS seconds (repeatable)",
    )
    return parser


def _schedule_flag(value: str) -> tuple[str, dict[str, int]]:
    """``FLOW_ID=SECONDS`` as ``(flow_id, {"every": seconds})``."""
    flow_id, _, seconds = value.partition("=")
    if not flow_id or not seconds.isdigit():
        raise argparse.ArgumentTypeError(f"expected FLOW_ID=SECONDS (a whole number of seconds), got {value!r}")
    return flow_id, {"every": int(seconds)}


def load_config(path: Path | None) -> dict[str, Any]:
    """Read and check a config file (empty config when ``path`` is None).

    :raises ValueError: when the file is not a JSON object or has unknown keys.
    """
    if path is None:
        return {}
    config = json.loads(path.read_text())
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the config must be a JSON object")
    unknown = set(config) - _CONFIG_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown config keys {sorted(unknown)}")
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    from airflow_flowrun.emulator import FlowServiceEmulator  # names the emulator extra when FastAPI is missing

    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
        faults = list(config.pop("faults", [])) + [json.loads(rule) for rule in args.fault]
        flows = config.pop("flows", {})
        schedules = dict(config.pop("schedules", {})) | dict(args.schedule)
        config.setdefault("port", 8765)
        config |= {name: getattr(args, name) for name in _SETTING_FLAGS if getattr(args, name) is not None}
        emulator = FlowServiceEmulator(**config)
        for flow_id, changes in flows.items():
            emulator.configure_flow(flow_id, **changes)
        for rule in faults:
            emulator.inject(**rule)
        for flow_id, schedule in schedules.items():
            emulator.schedule_flow(flow_id, **schedule)
    except (ValueError, KeyError, TypeError) as error:
        print(f"error: invalid emulator configuration: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with emulator:
        print(f"export AIRFLOW_CONN_AEP_DEFAULT='{emulator.connection}'", flush=True)
        print(f"Flow Service emulator serving on {emulator.url} (Ctrl-C to stop)", flush=True)
        for name, flow_id in SEEDED_FLOW_IDS.items():
            print(f"  {name:<11} flow: {flow_id}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
