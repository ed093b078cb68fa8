# Quick start: `make demo` (an ingestion run end to end against the local emulator) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint unit test-oldest test-3.2 test-wheel bench clean e2e e2e-celery test-ui

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# pytest-xdist workers (0: none), each with its own Airflow home, sqlite DB and emulators; the tests
# of an xdist_group run on one worker (the fault soak and the secrets test share one soak). Three on
# 2 cores: most tests wait on loopback HTTP and Airflow's timers, not on the CPU.
PYTEST_WORKERS ?= 3
unit: install
	timeout -k 15 1800 $(PY) -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadgroup

test: lint unit

# The suite on the oldest Airflow minor we support (see pyproject), in a venv of its own.
OLDEST_AIRFLOW ?= 3.1.*
OLD_VENV ?= .venv-oldest
test-oldest:
	test -x $(OLD_VENV)/bin/python || $(PYTHON) -m venv $(OLD_VENV)
	$(OLD_VENV)/bin/python -m pip install -q --upgrade pip
	$(OLD_VENV)/bin/python -m pip install -q -c scripts/airflow-3.1-constraints.txt "apache-airflow==$(OLDEST_AIRFLOW)" -e ".[dev]"
	timeout -k 15 1800 $(OLD_VENV)/bin/python -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadgroup

# By hand: the suite on Airflow 3.2, the minor between the oldest and the newest, in a venv of its own.
VENV_3_2 ?= .venv-3.2
test-3.2:
	test -x $(VENV_3_2)/bin/python || $(PYTHON) -m venv $(VENV_3_2)
	$(VENV_3_2)/bin/python -m pip install -q --upgrade pip
	$(VENV_3_2)/bin/python -m pip install -q -c scripts/airflow-3.2-constraints.txt "apache-airflow==3.2.*" -e ".[dev]"
	timeout -k 15 1800 $(VENV_3_2)/bin/python -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadgroup

# The wheel as users get it: build the sdist and wheel, then install the wheel file alone next to the
# oldest and the newest Airflow, each in a fresh venv outside the checkout, and check that `airflow
# providers list|hooks|links|triggers` show the provider with no warning (scripts/check_wheel.py).
NEWEST_AIRFLOW ?= 3.3.*
test-wheel:
	timeout -k 15 1800 $(PYTHON) scripts/check_wheel.py "$(OLDEST_AIRFLOW)" "$(NEWEST_AIRFLOW)"

# The provider on a real deployment (PostgreSQL, scheduler, dag-processor, triggerer, api-server) driven
# through the REST API, with crash drills: see e2e/driver.py. PostgreSQL and Redis come from Debian
# packages when missing (apt-get: run as root).
E2E_STAMP := $(VENV)/.e2e-stamp
$(E2E_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install -q -e ".[dev,e2e]"
	touch $(E2E_STAMP)

e2e: $(E2E_STAMP)
	timeout -k 30 900 bash e2e/run.sh --executor local

e2e-celery: $(E2E_STAMP)
	timeout -k 30 900 bash e2e/run.sh --executor celery

# The `aep` connection form in a real browser (tests/ui): Debian's chromium (apt-get, as root, when
# missing) driven by Playwright from the `ui` extra, against a throwaway api-server and the emulator.
# It rewrites the screenshots in docs/. About a minute.
UI_STAMP := $(VENV)/.ui-stamp
$(UI_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install -q -e ".[dev,ui]"
	touch $(UI_STAMP)

test-ui: $(UI_STAMP)
	test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
	AIRFLOW_FLOWRUN_UI_TESTS=1 timeout -k 15 600 $(PY) -m pytest -q -p no:cacheprovider tests/ui

bench: install
	$(PY) benchmarks/triggerer_scale.py
	$(PY) benchmarks/fault_soak.py
	$(PY) benchmarks/triggerer_cost.py
	$(PY) benchmarks/window_waiters.py

clean:
	rm -rf $(VENV) $(OLD_VENV) $(VENV_3_2) dist .demo .pytest_cache .mypy_cache .ruff_cache
