"""The package as pip delivers it: every import declared, the ``emulator`` extra, a pytest plugin that costs nothing.

``make test-wheel`` (scripts/check_wheel.py) checks the built wheel itself in fresh venvs; these tests
keep the declarations in pyproject.toml true as the code changes.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "airflow_flowrun"
EMULATOR = PACKAGE / "emulator"
#: Extras for working on the project, not features of the package: no module may rely on them.
TOOLING_EXTRAS = ("dev", "e2e", "ui")
#: Modules whose caller brings what they import from outside the requirements.
CALLER_PROVIDED = {
    # pytest loads the plugin through its ``pytest11`` entry point: pytest is there whenever it runs.
    EMULATOR / "pytest_plugin.py": {"pytest"},
    # Airflow 3.1 calls ``get_connection_form_widgets()`` with its own stand-ins for these in
    # ``sys.modules`` (airflow/api_fastapi/core_api/services/ui/connections.py).
    PACKAGE / "connection_form.py": {"flask_appbuilder", "flask_babel", "wtforms"},
}
SERVER_MODULES = ("fastapi", "starlette", "uvicorn")
INSTALL_HINT = 'pip install "airflow-flowrun[emulator]"'


def _project() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _declared(extra: str | None = None) -> set[str]:
    project = _project()
    requirements = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return {canonicalize_name(Requirement(requirement).name) for requirement in requirements}


def _feature_extras() -> list[str]:
    return [extra for extra in _project()["optional-dependencies"] if extra not in TOOLING_EXTRAS]


def _allowed(path: Path) -> tuple[set[str], set[str]]:
    """What a module may import from when it is imported, and inside functions or ``TYPE_CHECKING``.

    When imported: the dependencies, plus the ``emulator`` extra inside the emulator (whose server
    needs it). Inside functions (optional integrations, imported only when used): any feature extra too.
    """
    eager = _declared() | (_declared("emulator") if path.is_relative_to(EMULATOR) else set())
    deferred = eager.union(*(_declared(extra) for extra in _feature_extras()))
    return eager, deferred


@cache
def _airflow_parts() -> frozenset[str]:
    """``apache-airflow`` is a meta-package: ``airflow.*`` lives in the distributions it pins exactly
    (airflow-core, the task SDK), which a provider declares through it."""
    requirements = map(Requirement, metadata.requires("apache-airflow") or [])
    return frozenset(canonicalize_name(requirement.name) for requirement in requirements if requirement.marker is None)


def _covered(allowed: set[str]) -> set[str]:
    return allowed | (_airflow_parts() if "apache-airflow" in allowed else set())


@cache
def _files(distribution: str) -> frozenset[str]:
    return frozenset(str(path) for path in metadata.distribution(distribution).files or ())


@cache
def _top_level_owners() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def _owners(module: str) -> set[str]:
    """The installed distributions that ship ``module``: for ``airflow.providers.http.hooks.http``
    the HTTP provider, not every distribution with files under ``airflow/``."""
    parts = module.split(".")
    candidates = _top_level_owners().get(parts[0], [])
    for depth in range(len(parts), 0, -1):
        path = "/".join(parts[:depth])
        owners: set[str] = {
            canonicalize_name(name)
            for name in candidates
            if any(file == f"{path}.py" or file.startswith(f"{path}/") for file in _files(name))
        }
        if owners:
            return owners
    return set()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST, deferred: bool = False) -> Iterator[tuple[str, bool]]:
    """``(module, deferred)`` for every absolute import outside the standard library and the package;
    ``deferred``: inside a function or an ``if TYPE_CHECKING:`` block, so importing the module does not run it."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            if isinstance(child, ast.Import):
                modules = [alias.name for alias in child.names]
            else:
                modules = [child.module] if child.level == 0 and child.module else []
            for module in modules:
                top = module.partition(".")[0]
                if top not in sys.stdlib_module_names and top != "airflow_flowrun":
                    yield module, deferred
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for statement in child.body:
                yield from _imports(ast.Module(body=[statement], type_ignores=[]), True)
            for statement in child.orelse:
                yield from _imports(ast.Module(body=[statement], type_ignores=[]), deferred)
        else:
            in_function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from _imports(child, deferred or in_function)


def _undeclared(
    source: str, allowed: tuple[set[str], set[str]], caller_provided: AbstractSet[str] = frozenset()
) -> list[str]:
    eager, deferred = (_covered(names) for names in allowed)
    problems = []
    for module, is_deferred in sorted(set(_imports(ast.parse(source)))):
        if module.partition(".")[0] in caller_provided:
            continue
        owners = _owners(module)
        if not owners & (deferred if is_deferred else eager):
            where = "when used: declare it in dependencies or an extra" if is_deferred else "when imported"
            problems.append(f"imports {module} {where} (from {sorted(owners) or 'no installed distribution'})")
    return problems


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_import_of_the_package_is_a_declared_requirement():
    problems = [
        f"{path.relative_to(ROOT)} {problem}"
        for path in _modules()
        for problem in _undeclared(path.read_text(), _allowed(path), CALLER_PROVIDED.get(path, set()))
    ]

    assert problems == [], "declare these in pyproject.toml (dependencies, or an extra), and install them in dev"


def test_every_declared_requirement_is_imported():
    imported: dict[str, set[str]] = {"dependencies": set(), "emulator": set()}
    for path in _modules():
        area = "emulator" if path.is_relative_to(EMULATOR) else "dependencies"
        for module, _ in _imports(ast.parse(path.read_text())):
            imported[area] |= _owners(module)
    anywhere = imported["dependencies"] | imported["emulator"]

    unused = {name for name in _declared() if not _covered({name}) & anywhere}
    unused |= {name for extra in _feature_extras() for name in _declared(extra) if name not in anywhere}
    unused |= {name for name in _declared("emulator") if name not in imported["emulator"]}
    assert unused == set()


def test_the_exemptions_name_modules_that_exist():
    assert [path for path in CALLER_PROVIDED if not path.exists()] == []


@pytest.mark.parametrize(
    ("source", "eager", "deferred", "undeclared"),
    [
        ("import jsonschema", {"requests"}, {"requests"}, ["imports jsonschema when imported (from ['jsonschema'])"]),
        ("from fastapi import FastAPI", set(), {"fastapi"}, ["imports fastapi when imported (from ['fastapi'])"]),
        ("def serve():\n    from fastapi import FastAPI", set(), {"fastapi"}, []),
        (
            "if TYPE_CHECKING:\n    from airflow.providers.http.hooks.http import HttpHook",
            {"apache-airflow"},
            {"apache-airflow"},
            [
                "imports airflow.providers.http.hooks.http when used: declare it in dependencies or an extra "
                "(from ['apache-airflow-providers-http'])"
            ],
        ),
        (
            "class Hook:\n    def f(self):\n        import not_installed_anywhere",
            set(),
            set(),
            [
                "imports not_installed_anywhere when used: declare it in dependencies or an extra "
                "(from no installed distribution)"
            ],
        ),
        ("from airflow.sdk import BaseHook\nimport os\nfrom airflow_flowrun import api", {"apache-airflow"}, set(), []),
        ("from airflow.providers.http.hooks.http import HttpHook", {"apache-airflow-providers-http"}, set(), []),
    ],
)
def test_the_audit_flags_what_no_requirement_provides(
    source: str, eager: set[str], deferred: set[str], undeclared: list[str]
):
    assert _undeclared(source, (eager, eager | deferred)) == undeclared


def test_the_emulator_extra_is_what_the_server_imports_and_dev_installs_every_feature_extra():
    (itself,) = [
        Requirement(requirement)
        for requirement in _project()["optional-dependencies"]["dev"]
        if canonicalize_name(Requirement(requirement).name) == "airflow-flowrun"
    ]

    assert _declared("emulator") == set(SERVER_MODULES)
    assert itself.extras == set(_feature_extras()), "make install must install what the audit resolves"


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.parametrize("missing", SERVER_MODULES)
def test_the_emulator_without_its_extra_says_how_to_install_it(missing: str):
    finished = _python(
        f"import sys\nsys.modules[{missing!r}] = None\nfrom airflow_flowrun.emulator import FlowServiceEmulator\n"
    )

    assert finished.returncode == 1
    last_line = finished.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ModuleNotFoundError: The AEP emulator needs ")
    assert last_line.endswith(INSTALL_HINT)


def test_importing_the_pytest_plugin_imports_nothing_but_the_standard_library():
    finished = _python(
        "import sys, threading\n"
        "import pytest\n"
        "before = set(sys.modules)\n"
        "import airflow_flowrun.emulator.pytest_plugin\n"
        "new = set(sys.modules) - before\n"
        "print(sorted(name for name in new if name.partition('.')[0] not in sys.stdlib_module_names))\n"
        "print(threading.active_count())\n"
    )

    assert finished.stdout.splitlines() == [
        "['airflow_flowrun', 'airflow_flowrun.emulator', 'airflow_flowrun.emulator.pytest_plugin', "
        "'airflow_flowrun.emulator.seeds']",
        "1",
    ], finished.stderr


def _user_session(tmp_path: Path, test_source: str, conftest: str = "") -> subprocess.CompletedProcess[str]:
    """A user's pytest session in a project of its own, with the plugin loaded from its entry point."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_user.py").write_text(test_source)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_user.py"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def test_a_session_that_uses_no_emulator_fixture_gets_no_server_no_airflow_and_no_hooks(tmp_path: Path):
    finished = _user_session(
        tmp_path,
        "import sys, threading\n"
        "def test_user(pytestconfig):\n"
        "    manager = pytestconfig.pluginmanager\n"
        "    plugin = manager.get_plugin('aep_emulator')\n"
        "    assert plugin is not None\n"
        "    assert [caller.name for caller in manager.get_hookcallers(plugin)] == ['pytest_addoption']\n"
        "    assert sorted({'fastapi', 'starlette', 'uvicorn', 'airflow'} & set(sys.modules)) == []\n"
        "    assert threading.active_count() == 1\n",
    )

    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "1 passed" in finished.stdout


def test_the_fixture_without_the_emulator_extra_says_how_to_install_it(tmp_path: Path):
    finished = _user_session(
        tmp_path,
        "def test_user(aep_emulator):\n    pass\n",
        conftest="import sys\nsys.modules['fastapi'] = None\n",
    )

    assert finished.returncode == 1
    assert "1 error" in finished.stdout
    assert f"ModuleNotFoundError: The AEP emulator needs fastapi, which is not installed: {INSTALL_HINT}" in (
        finished.stdout
    )
