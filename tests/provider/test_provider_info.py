"""The provider's registration: the metadata Airflow validates, and the ``[aep_flowrun]`` options it loads.

The CLI checks run ``airflow`` in a new process, as a user would, so they see what the entry point
registers rather than what this test process imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.resources import files

import jsonschema
import pytest

from airflow_flowrun import token_file
from airflow_flowrun.get_provider_info import get_provider_info

AIRFLOW = [sys.executable, "-m", "airflow"]


def test_provider_info_is_valid_for_airflow() -> None:
    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_config_defaults_are_the_ones_the_code_falls_back_to() -> None:
    options = get_provider_info()["config"][token_file.CONFIG_SECTION]["options"]
    assert options["token_cache"]["default"] == token_file.SHARED_MODE
    assert options["token_cache"]["example"] == token_file.PROCESS_MODE
    assert options["token_cache_dir"]["default"] == ""
    gc_freeze = options["triggerer_gc_freeze"]
    assert (gc_freeze["type"], gc_freeze["default"]) == ("boolean", "True")


def _airflow(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW__AEP_FLOWRUN__")}
    return subprocess.run(
        [*AIRFLOW, *args], env={**environ, **env}, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("option", "expected"), [("token_cache", "file"), ("token_cache_dir", ""), ("triggerer_gc_freeze", "True")]
)
def test_airflow_config_knows_the_options_and_their_defaults(option: str, expected: str) -> None:
    result = _airflow("config", "get-value", "aep_flowrun", option)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1:] == ([expected] if expected else [])


def test_an_environment_variable_overrides_the_default() -> None:
    result = _airflow("config", "get-value", "aep_flowrun", "token_cache", AIRFLOW__AEP_FLOWRUN__TOKEN_CACHE="process")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "process"


def test_airflow_lists_the_section_with_descriptions() -> None:
    result = _airflow("config", "list", "--section", "aep_flowrun", "--include-descriptions", "--defaults")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[aep_flowrun]" in result.stdout
    for option in ("token_cache", "token_cache_dir", "triggerer_gc_freeze"):
        assert f"{option} =" in result.stdout
    assert "gc.freeze()" in result.stdout
