"""A local emulator of Adobe IMS and Adobe Experience Platform Flow Service.

It serves, on one base URL, the IMS token endpoint (``POST /ims/token/v3``) and the Flow Service
API under ``/data/foundation/flowservice`` as Adobe documents them, plus an admin API under
``/_emulator``. Importing this package is cheap: the server (FastAPI, uvicorn) is imported only
when :class:`FlowServiceEmulator` is first used. FastAPI, Starlette and uvicorn come with Airflow 3;
elsewhere ``pip install "airflow-flowrun[emulator]"`` installs them.

Ways in::

    python -m airflow_flowrun.emulator --port 8765        # prints AIRFLOW_CONN_AEP_DEFAULT

    from airflow_flowrun.emulator import FlowServiceEmulator, TABLE_FLOW_ID
    with FlowServiceEmulator(run_duration=0.5) as emu:
        ...                                               # emu.url, emu.connection, emu.runs()

    def test_my_dag(aep_emulator): ...                    # pytest fixture (installed plugin)

Credentials and headers
    client id (``x-api-key``) ``emulator-client-id``, client secret ``emulator-client-secret``,
    org ``EMULATOR0000000000000000@AdobeOrg``, sandboxes ``prod`` (default) and ``dev``
    (sandboxes share flows and runs; the ``sandboxes`` setting names others). ``client_id``,
    ``client_secret`` and ``token_prefix`` (tokens start ``emu-at-``) are settings: set them at
    construction or in the CLI's config file, or change them while serving
    (``update_settings``, ``PUT /_emulator/settings``) to rotate a secret;
    :attr:`~FlowServiceEmulator.connection` carries the current ones, and the admin API shows
    the secret as ``***``. A token remembers the client it was issued to: runs record it in
    ``createdBy`` (``<client>@AdobeID``) and ``createdClient``.

Seeded flows (``SEEDED_FLOW_IDS``; all ``once`` and enabled unless said)
    - ``TABLE_FLOW_ID`` ``c1a19e2a-5ad6-4d2f-9b3a-6f1e0c7d2a01``: table-based (flow spec
      ``14518937-270c-4525-bdec-c2ba7cce3860`` CRMToAEP), no delta column stored: the first run
      must send one (a column of the source, e.g. ``updated_at``).
    - ``FILE_FLOW_ID`` ``f11e5b7c-3c4d-4e8a-a2b1-7d9c0e4f5b02``: file-based (flow spec
      ``9753525b-82c7-4dce-8a9b-5ccfce2b9876`` CloudStorageToAEP); takes no delta column.
    - ``FAILING_FLOW_ID`` ``fa11ed00-7e2b-4c6d-8f90-1a2b3c4d5e03``: table-based, delta column
      ``updated_at`` stored; runs end ``failed`` with ``CONNECTOR-1001-500`` errors.
    - ``ROW_ERRORS_FLOW_ID`` ``0e770125-8c1d-4b2a-9e3f-5a6b7c8d9e04``: file-based; runs end
      ``success`` with ``failedRecordCount > 0`` and errors (partial ingestion).
    - ``RECURRING_FLOW_ID`` ``da117000-2f3e-4a5b-8c6d-7e8f9a0b1c05``: table-based, frequency
      ``day``: ``POST /runs`` answers ``FLOW-1386-400``; it has no runs until
      :meth:`~FlowServiceEmulator.schedule_flow` makes it start its own.
    - ``DISABLED_FLOW_ID`` ``d15ab1ed-4a5b-4c6d-9e7f-8a9b0c1d2e06``: table-based, disabled:
      ``POST /runs`` answers ``FLOW-1384-400`` (Adobe documents no dedicated code).
    - ``TUTORIAL_FLOW_ID`` ``3abea21c-7e36-4be1-bec1-d3bad0e3e0de``: table-based, delta column
      ``DOB`` stored, so both requests of Adobe's on-demand ingestion tutorial work verbatim.

    ``add_flow(kind="table"|"file", frequency="once"|"minute"|"hour"|"day"|"week", flow_id=None,
    ...)`` adds a flow for one test (gone after ``reset()``) and returns its id.
    Source tables have columns ``id``, ``email``, ``DOB``, ``updated_at`` and one row every 36 s
    of epoch time; file sources one file every 15 min. A run ingests what falls in
    ``[windowStartTime, windowEndTime)``: counts are deterministic (``expected_counts``), unless
    ``configure_flow(flow_id, counts={...})`` (or ``add_run(counts=...)``) sets the metrics,
    failed records included, keyed as in Adobe's run metrics (``inputRecordCount``,
    ``outputRecordCount``, ``failedRecordCount``, ``inputFileCount``, ``outputFileCount``,
    ``failedFileCount``, ``inputBytes``, ``outputBytes``) or as in the run summary
    (``input_records``, ``output_records``, ``failed_records``, ...).

Run lifecycle
    ``scheduled`` until ``startTime``, ``inProgress`` for the flow's duration (default
    ``run_duration``), then ``success`` or ``failed``; ``partial`` flows end ``success`` with
    ``failedRecordCount > 0`` and errors. Metrics are zeros until the run finishes;
    ``completedAtUTC`` is absent until then. ``fail_first=N`` makes a flow's first N executions
    (re-triggers and scheduled runs included) fail.

Runs Flow Service starts itself
    ``add_run(flow_id, window_start=, window_end=, created_at=None, outcome=None, duration=None,
    counts=None, sandbox=None, created_by=None)`` adds a run "from elsewhere" (the AEP UI,
    another tool) without ``POST /runs``' checks (recurring and disabled flows take it, no
    delta column needed): it starts at ``created_at`` (epoch seconds, default now, may be in the
    past), is visible from then on, and records ``created_by`` (default ``UI_CLIENT_ID``
    ``exc_app``, the Experience Cloud UI). It returns the run as ``GET /runs/{id}`` shows it.
    ``schedule_flow(flow_id, every=, start=None, delay=0.0)`` makes a recurring flow start its
    own runs on a sped-up clock: for each k >= 1 with ``start + k*every + delay <= now`` there
    is exactly one run over ``[start + (k-1)*every, start + k*every)``, created at
    ``start + k*every + delay`` by ``SCHEDULER_CLIENT_ID`` (``acp_flow_scheduler``, the
    emulator's own name: Adobe documents none), then the normal lifecycle. An hourly AEP flow
    scheduled ``every=5`` runs every 5 s here; ``scheduleParams.startTime`` shows ``start``.
    Runs appear whenever the emulator is read (no background thread), so tests are
    deterministic. ``unschedule_flow(flow_id)`` stops it (its runs stay); ``reset()`` forgets
    schedules; ``once`` flows cannot be scheduled. The CLI takes ``--schedule FLOW_ID=SECONDS``.

Window coverage
    ``window_coverage(flow_id, start, end)`` reports how the flow's visible runs cover
    ``[start, end)`` by the rules the provider's ``AdobeFlowServiceHook.window_coverage``
    follows, written separately so each checks the other: windows clipped to the range,
    ``success`` (partial included) covers, ``failed`` fails, anything else is pending;
    ``{"covered", "gaps", "overlaps": [{"window", "run_ids"}], "failed": [{"run_id", "window"}],
    "pending"}`` (see :func:`.windows.window_coverage`). ``window_report(flow_id)`` lists every
    window ingested, with gaps and overlaps between them.

Errors
    Gateway: 403 ``403010`` no token, 401 ``401013`` bad/expired token, 403 ``403000``/``403003``
    API key missing/wrong, 400 ``400003`` no org header, 403 ``403025`` another org ("Profile
    is not valid"), ``FLOW-2105-400`` no sandbox header, ``FLOW-2100-404`` unknown sandbox.
    IMS: 400 ``invalid_request`` (no grant type or client id), ``unsupported_grant_type``,
    ``invalid_scope`` (no ``scope``), 401 ``invalid_client``.
    ``POST /runs``: 400 ``{"title": "BadRequestError", "detail": "A valid content-type must be
    specified"}`` without a JSON ``Content-Type``; ``FLOW-1430-400`` unknown flow,
    ``FLOW-1386-400`` frequency not ``once``, ``FLOW-1384-400`` disabled flow / missing
    (``startTime``, ``windowStartTime``, ``windowEndTime`` are all required) or malformed params
    / delta column sent to a file flow or naming no column, ``FLOW-1340-400`` time string not an
    integer, ``FLOW-1381-400`` window end before start (an empty window is accepted, as Adobe
    documents it), ``FLOW-1383-400`` first table run without delta column, ``FLOW-1382-400``
    delta column differs from the stored one. ``GET /runs/{id}`` and re-trigger of an unknown
    run: ``FLOW-1101-404``; ``GET /flows/{id}`` and other paths: ``FLOW-1439-404``; bad listing
    query or re-trigger of a run that has not failed: ``FLOW-1384-400``; ``limit`` with
    ``count``: ``FLOW-1401-400``.

Answers
    ``POST /runs`` → 201 ``{"items": [{"id", "etag"}]}`` (``create_run_response_shape``
    ``"bare"``: ``{"id", "etag"}``, ``"run"``: the run object). ``GET /runs`` and ``GET /flows``
    page by ``limit`` (default and max the ``page_size`` setting, 100), ``orderby``
    (``-createdAt`` default), relative ``_links.next.href``; ``count=true`` answers
    ``{"count": N}``. ``POST /runs/{id}/action?op=re-trigger`` → 200 ``{"id", "etag"}``.

Faults (see :mod:`.faults`)
    ``emu.inject(kind, **rule)`` with ``kind`` ``status`` (``status``, ``retry_after``), ``drop``
    (connection closed, no response), ``latency`` (``delay``), ``commit_then_502`` (the request
    is handled, then answered 502), ``commit_then_delay`` (the request is handled, then its
    answer is held ``delay`` seconds), ``reject_tokens`` (401 ``401013`` whatever the token) or
    ``revoke_tokens`` (every issued token is invalidated as the request arrives); matched by
    ``method`` and ``path`` (regex; default: Flow Service paths only), selected by ``nth``,
    ``every`` or ``probability`` (seeded), capped by ``max_count``. ``visibility_delay``: new
    runs answer 404 and stay out of listings that long.

Python API and state
    ``reset()`` restores the seeded flows and constructor settings and forgets runs, schedules,
    faults, requests and counters; issued tokens stay valid (``revoke_tokens()`` invalidates
    them). Runtime settings (``update_settings``): ``run_duration``, ``token_lifetime``,
    ``visibility_delay``, ``create_run_response_shape``, ``retrigger_mode``,
    ``retrigger_status_lag``, ``client_id``, ``client_secret``, ``token_prefix``, ``page_size``,
    ``sandboxes``. The request log (``emu.requests``) records each request as it arrives
    (``in_flight`` until answered), then its ``status``, ``response_headers`` and timing
    (``timestamp`` of arrival, ``answered_at``, ``duration``); it keeps the last
    ``request_log_size`` requests, secrets redacted; counters are exact. The admin API under
    ``/_emulator`` (see :mod:`.admin`) does the same from another process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_flowrun.emulator.seeds import (
    CLIENT_ID,
    CLIENT_SECRET,
    DISABLED_FLOW_ID,
    FAILING_FLOW_ID,
    FILE_FLOW_ID,
    FILE_FLOW_SPEC_ID,
    KNOWN_SANDBOXES,
    ORG_ID,
    RECURRING_FLOW_ID,
    ROW_ERRORS_FLOW_ID,
    SANDBOX,
    SCHEDULER_CLIENT_ID,
    SEEDED_FLOW_IDS,
    TABLE_FLOW_ID,
    TABLE_FLOW_SPEC_ID,
    TUTORIAL_FLOW_ID,
    UI_CLIENT_ID,
)

if TYPE_CHECKING:
    from airflow_flowrun.emulator.server import FlowServiceEmulator

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "DISABLED_FLOW_ID",
    "FAILING_FLOW_ID",
    "FILE_FLOW_ID",
    "FILE_FLOW_SPEC_ID",
    "KNOWN_SANDBOXES",
    "ORG_ID",
    "RECURRING_FLOW_ID",
    "ROW_ERRORS_FLOW_ID",
    "SANDBOX",
    "SCHEDULER_CLIENT_ID",
    "SEEDED_FLOW_IDS",
    "TABLE_FLOW_ID",
    "TABLE_FLOW_SPEC_ID",
    "TUTORIAL_FLOW_ID",
    "UI_CLIENT_ID",
    "FlowServiceEmulator",
]


#: What the server imports beyond the provider's own dependencies: the ``emulator`` extra.
_SERVER_MODULES = ("fastapi", "starlette", "uvicorn")


def __getattr__(name: str) -> Any:
    """Import the server (FastAPI, uvicorn) only when ``FlowServiceEmulator`` is asked for.

    :raises ModuleNotFoundError: naming the ``emulator`` extra, when FastAPI, Starlette or uvicorn
        is not installed.
    """
    if name == "FlowServiceEmulator":
        try:
            from airflow_flowrun.emulator.server import FlowServiceEmulator
        except ModuleNotFoundError as error:
            if error.name not in _SERVER_MODULES:
                raise
            raise ModuleNotFoundError(
                f'The AEP emulator needs {error.name}, which is not installed: pip install "airflow-flowrun[emulator]"',
                name=error.name,
            ) from error
        return FlowServiceEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
