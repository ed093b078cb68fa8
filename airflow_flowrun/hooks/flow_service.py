"""The sync hook: Adobe IMS token + Flow Service calls for operators and sensors running in a worker."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

import requests
from airflow.providers.http.hooks.http import HttpHook

from airflow_flowrun import api, connection_form, coverage, outcome
from airflow_flowrun.auth import ImsBearerAuth, parse_token_answer
from airflow_flowrun.connection import DEFAULT_CONN_ID, AepConnectionSettings
from airflow_flowrun.endpoints import FlowEndpoints, read_flow_endpoints
from airflow_flowrun.exceptions import FlowServiceError, InvalidParameterError
from airflow_flowrun.hooks.probe import probe_connection
from airflow_flowrun.paging import Pages
from airflow_flowrun.retry import PossiblyCommittedError, RetryPolicy, is_retryable, may_have_committed
from airflow_flowrun.status import RunStatus
from airflow_flowrun.summary import build_summary
from airflow_flowrun.validation import to_epoch_seconds

#: After a POST /runs whose answer was lost, look this long for the run it may have created.
LOST_ANSWER_GRACE = 8.0
#: What ``requests`` raises when no answer, or no complete answer, came: all mean "no answer".
NO_ANSWER_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class AdobeFlowServiceHook(HttpHook):
    """Talk to Adobe Experience Platform Flow Service with an OAuth Server-to-Server credential.

    Built on the HTTP provider's :class:`HttpHook` as its users expect: its Basic auth replaced by
    :class:`~airflow_flowrun.auth.ImsBearerAuth` (``auth_type``: the machine's IMS token, shared by
    its processes and refreshed before expiry), one keep-alive session carrying the Platform
    headers, and ``run`` left as ``HttpHook.run`` (a ``requests.Response``; ``AirflowException``
    on an HTTP error). The Flow Service methods add a finite timeout and one retry rule
    (:class:`~airflow_flowrun.retry.RetryPolicy`) to every call, and repeat a call once when the
    gateway refuses the token. Connection extras configure the hook; none is sent as an HTTP header.

    :param aep_conn_id: an ``aep`` connection (see the README for its fields)
    :param retry_policy: override the class default :attr:`retry_policy`
    """

    conn_name_attr = "aep_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "aep"
    hook_name = "Adobe Experience Platform"
    retry_policy = RetryPolicy()
    lost_answer_grace = LOST_ANSWER_GRACE

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The form's extra fields on Airflow 3.1, which reads no ``conn-fields`` from provider info.

        Built from the same table as provider info (:mod:`airflow_flowrun.connection_form`); wtforms
        is imported only when called, so importing the hook needs neither wtforms nor Flask.
        """
        return connection_form.form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden and relabelled standard fields on Airflow 3.1 (3.2+ reads ``ui-field-behaviour``)."""
        return connection_form.ui_field_behaviour(provider_info=False)

    def __init__(self, aep_conn_id: str = DEFAULT_CONN_ID, *, retry_policy: RetryPolicy | None = None) -> None:
        super().__init__(method="GET", http_conn_id=aep_conn_id, auth_type=ImsBearerAuth)
        self.aep_conn_id = aep_conn_id
        if retry_policy is not None:
            self.retry_policy = retry_policy
        self._settings: AepConnectionSettings | None = None
        self._session: requests.Session | None = None

    @property
    def settings(self) -> AepConnectionSettings:
        """The connection's settings, read and checked once per hook."""
        if self._settings is None:
            conn = self.get_connection(self.aep_conn_id)
            self._settings = AepConnectionSettings.from_connection(conn, conn.extra_dejson)
            self.base_url = self._settings.flow_service_url
        return self._settings

    def get_conn(
        self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """The hook's one keep-alive session (Platform headers, bearer-token auth), created on first use.

        :param headers: not added to the shared session, so they never leak into later calls:
            ``run`` sends them with its own request only
        :param extra_options: request options of the next ``run`` (``timeout`` defaults to the
            connection's, ``allow_redirects`` to False: credentials never follow a redirect)
        """
        settings = self.settings
        self.merged_extra = {"timeout": settings.timeout, "allow_redirects": False, **(extra_options or {})}
        if self._session is None:
            session = requests.Session()
            session.headers.update(settings.platform_headers())
            session.auth = self.auth_type(settings, self._fetch_token)
            adapter = self.adapter or self.keep_alive_adapter
            if adapter is not None:
                session.mount("https://", adapter)
                session.mount("http://", adapter)
            self._session = session
        return self._session

    # -- Flow Service ---------------------------------------------------------------------------

    def create_run(
        self,
        flow_id: str,
        *,
        window_start: Any,
        window_end: Any,
        start_time: Any = None,
        delta_column: str | None = None,
        earlier_runs: Collection[str] = (),
    ) -> dict[str, Any]:
        """Create an on-demand run of ``flow_id`` for ``[window_start, window_end)``.

        POST /runs is not idempotent, so it is never re-sent once it may have been carried out.
        Refusals before any work (429, 503) are retried as :attr:`retry_policy` says. After no
        answer, a 500/502/504 or a 2xx that cannot be read, the flow's runs created since this call
        (less :data:`~airflow_flowrun.api.CLOCK_SKEW_MS`) are searched for one with this window for
        up to :attr:`lost_answer_grace` seconds, and that run is returned, whatever its status. If
        none shows up (listings can lag), :class:`PossiblyCommittedError` is raised: retryable, the
        POST is not sent again in this try, and the next try looks the run up.

        :param earlier_runs: ids of runs for this window that predate this call (an earlier try's);
            a lost answer is never taken for one of them
        :return: ``{"id", "etag"}`` of the run, plus ``"adopted": True`` when it was found by lookup
        """
        body = api.build_run_body(
            flow_id,
            window_start=window_start,
            window_end=window_end,
            start_time=start_time,
            delta_column=delta_column,
        )
        url = self.settings.flow_service_url + api.RUNS
        since_ms = int(time.time() * 1000) - api.CLOCK_SKEW_MS
        try:
            answer = self._call(
                "POST", url, json=body, policy=self.retry_policy,
                retry_if=lambda err: is_retryable(err) and not _lost_post(err, url),
            )  # fmt: skip
            return api.parse_created_run(answer, url=url)
        except FlowServiceError as err:
            if not _lost_post(err, url):
                raise
            return self._adopt_lost_run(err, body, since_ms, frozenset(earlier_runs))

    def find_window_run(
        self,
        flow_id: str,
        window_start: int,
        window_end: int,
        *,
        created_after_ms: int,
        patience: float = 0.0,
        accept: Callable[[dict[str, Any]], bool] = lambda run: True,
    ) -> dict[str, Any] | None:
        """The newest run of ``flow_id`` for exactly this window created after ``created_after_ms``, if any.

        Runs are listed newest first, so paging stops at the first run created before ``created_after_ms``.

        :param patience: keep looking this many seconds before answering None: a new run can take a
            moment to appear in listings, and answering None too early would lead to a second run
        :param accept: only runs for which this is true count (e.g. not failed ones)
        """
        query = api.window_lookup_params(api.validate_uuid("flow_id", flow_id), created_after_ms)
        deadline = time.monotonic() + patience
        pause = 0.5
        while True:
            for run in self._paged(api.RUNS, query):
                if api.created_before(run, created_after_ms):
                    break
                if api.matches_window(run, window_start, window_end, created_after_ms) and accept(run):
                    return run
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(pause, remaining))  # the last look is at the deadline itself
            pause = min(pause * 2, 2.0)

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The run object of ``run_id``."""
        return api.first_item(self.call("GET", api.run_path(run_id)), f"GET /runs/{run_id}")

    def wait_for_run(
        self,
        run_id: str,
        *,
        poll_interval: float | timedelta = 30.0,
        timeout: float | timedelta = outcome.DEFAULT_TIMEOUT,
        raise_on_failure: bool = True,
        created_at: float | None = None,
        stale_failure: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Wait in this process until run ``run_id`` ends; its run summary (the ``flow_run`` XCom's shape).

        For a run started elsewhere (a ``@task`` of your own, the AEP UI); the operators' worker-side
        wait is this one too. It holds a worker slot while it waits: the deferrable operators and
        sensor wait in the triggerer instead.

        :param poll_interval: seconds (or ``timedelta``) between status reads
        :param timeout: longest wait, seconds or ``timedelta`` (default 6 hours)
        :param raise_on_failure: raise when the run ends ``failed`` (default); False returns its summary
        :param created_at: epoch seconds when the caller created (or re-triggered) the run: a 404
            within :data:`~airflow_flowrun.outcome.VISIBILITY_GRACE` of it means "not visible yet"
        :param stale_failure: after a re-trigger, ``{"completed_at"}`` of the failed attempt it
            replaced, whose status is not this wait's outcome (see :func:`.outcome.is_stale_failure`)
        :raises InvalidParameterError: a bad ``run_id``, ``poll_interval`` or ``timeout``, before any HTTP call
        :raises FlowRunTimeoutError: ``timeout`` passed first (Flow Service cannot cancel the run)
        :raises FlowRunFailedError: the run ended ``failed`` and ``raise_on_failure`` is True
        """
        run_id = api.validate_uuid("run_id", run_id)
        poll = outcome.wait_seconds("poll_interval", poll_interval)
        limit = outcome.wait_seconds("timeout", timeout)
        settings = self.settings
        summary = outcome.wait_for_run(
            lambda: self.get_run(run_id),
            partial(build_summary, ui_org=settings.ui_org, sandbox_name=settings.sandbox_name),
            run_id=run_id, poll_interval=poll, timeout=limit, created_at=created_at, log=self.log,
            stale_failure=stale_failure,
        )  # fmt: skip
        if raise_on_failure:
            outcome.raise_if_failed(summary)
        return summary

    def get_latest_run(self, flow_id: str, status: str | None = None) -> dict[str, Any] | None:
        """The newest run of ``flow_id`` (by ``createdAt``), as :meth:`get_run` returns it; None when there is none.

        Runs are listed newest first and paging stops at the first match: one call in the common case.

        :param status: only a run with this status: ``scheduled``, ``inProgress``, ``success`` or
            ``failed`` (any case)
        :raises InvalidParameterError: a bad ``flow_id`` or ``status``, before any HTTP call
        """
        flow_id = api.validate_uuid("flow_id", flow_id)
        wanted = None if status is None else RunStatus.parse(status)
        if wanted is RunStatus.UNKNOWN:
            known = ", ".join(repr(s.value) for s in RunStatus if s is not RunStatus.UNKNOWN)
            raise InvalidParameterError("status", status, f"is not a run status; give one of {known} or None")
        return next((run for run in self.list_runs(flow_id) if wanted is None or RunStatus.of_run(run) is wanted), None)

    def get_runs(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Several runs in one call (at most 100); runs Flow Service does not return are absent."""
        ids = [api.validate_uuid("run_ids", run_id) for run_id in run_ids]
        items, _ = api.page_items(self.call("GET", api.RUNS, params=api.any_of_ids_params(ids)))
        return items

    def get_flow(self, flow_id: str) -> dict[str, Any]:
        """The dataflow ``flow_id`` (schedule, state, flow spec, stored delta column)."""
        return api.first_item(self.call("GET", api.flow_path(flow_id)), f"GET /flows/{flow_id}")

    def get_flow_endpoints(self, flow_id: str) -> FlowEndpoints:
        """What ``flow_id`` reads (its source connections) and the AEP datasets it writes (see :mod:`.endpoints`)."""
        return read_flow_endpoints(self, flow_id)

    def list_runs(
        self, flow_id: str, *, properties: Sequence[str] = (), orderby: str = "-createdAt", **filters: Any
    ) -> Iterator[dict[str, Any]]:
        """The runs of ``flow_id``, newest first, following ``_links.next`` across pages.

        :param properties: extra raw ``property`` filters, e.g. ``"createdAt>1700000000000"``
        :param filters: equality filters, e.g. ``id="..."``; values may be lists (any of)
        """
        query = api.list_runs_params(flow_id, properties=properties, orderby=orderby, filters=filters)
        yield from self._paged(api.RUNS, query)

    def window_coverage(self, flow_id: str, start: Any, end: Any) -> dict[str, Any]:
        """What the succeeded runs of ``flow_id`` ingested of ``[start, end)``: covered, gaps, overlaps, failed.

        Every run of the flow is read (all pages): Flow Service documents no filter on a run's
        window (``params.*``), and its creation time says nothing about its window, so no
        ``createdAt`` bound is safe: a backfill, a re-run or AEP catching up creates a run for an old
        window at any later time, and an on-demand run can be created for a window that has not
        begun. The rules are :func:`airflow_flowrun.coverage.window_coverage`'s.

        :param flow_id: the dataflow (a UUID)
        :param start: start of the range: aware datetime, epoch seconds or ISO-8601 with an offset
        :param end: end of the range, exclusive, after ``start``
        :return: ``{"covered", "gaps", "overlaps", "failed", "pending"}``, windows as ``[s, e]`` epoch seconds
        :raises InvalidParameterError: a bad flow id or range, before any HTTP call
        """
        flow_id = api.validate_uuid("flow_id", flow_id)
        range_start, range_end = to_epoch_seconds("start", start), to_epoch_seconds("end", end)
        if range_end <= range_start:
            raise InvalidParameterError("end", end, f"must be after start ({range_start}): the range is empty")
        return coverage.window_coverage(self.list_runs(flow_id), range_start, range_end)

    def retrigger_run(self, run_id: str) -> dict[str, Any]:
        """Re-run a failed run with its original window (``op=re-trigger``); returns the action's answer."""
        return self.call("POST", f"{api.run_path(run_id)}/action", params={"op": "re-trigger"}, retry=False)

    def test_connection(self) -> tuple[bool, str]:
        """What the UI's Test button shows, within seconds (see :func:`.probe.probe_connection`)."""
        return probe_connection(self)

    # -- HTTP -----------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        retry: bool = True,
        url: str | None = None,
    ) -> Any:
        """One Flow Service call with the bearer token; its JSON answer.

        Retried as :attr:`retry_policy` says (no retries with ``retry=False``); a 401 drops the
        token and repeats the call once with a new one (not counted as a retry).

        :param url: a full URL of Flow Service's origin instead of ``path`` (a next page)
        """
        url = url or self.settings.flow_service_url + path
        policy = self.retry_policy if retry else self.retry_policy.single_attempt()
        return self._call(method, url, params=params, json=json, policy=policy)

    def _call(
        self,
        method: str,
        url: str,
        *,
        policy: RetryPolicy,
        params: Any = None,
        json: Any = None,
        retry_if: Callable[[BaseException], bool] = is_retryable,
    ) -> Any:
        attempts = policy.retrying(self.log, url=url, retry_if=retry_if)
        return attempts(self._request_json, method, url, params=params, json=json)

    def _request_json(
        self, method: str, url: str, *, params: Any = None, json: Any = None, timeout: float | None = None
    ) -> Any:
        """One attempt on the shared session: its answer's JSON, or the error it amounts to."""
        session = self.get_conn()
        return _exchange(
            lambda: session.request(
                method, url, params=params, json=json, timeout=timeout or self.settings.timeout, allow_redirects=False
            ),
            method=method,
            url=url,
        )

    def _fetch_token(self, timeout: float | None = None) -> tuple[str, float]:
        """One IMS token request, retried (when at all) with the call it serves."""
        settings = self.settings
        url = settings.ims_token_url
        answer = _exchange(
            lambda: requests.post(
                url, data=settings.token_form(), timeout=timeout or settings.timeout, allow_redirects=False
            ),
            method="POST",
            url=url,
        )
        return parse_token_answer(answer, url=url)

    def _adopt_lost_run(
        self, lost: FlowServiceError, body: dict[str, Any], since_ms: int, earlier_runs: frozenset[str]
    ) -> dict[str, Any]:
        """The run made by a POST whose answer was lost, if a short lookup finds it (see :meth:`create_run`)."""
        window = body["params"]["windowStartTime"], body["params"]["windowEndTime"]
        try:
            run = self.find_window_run(
                body["flowId"], *window, created_after_ms=since_ms, patience=self.lost_answer_grace,
                accept=lambda run: run.get("id") not in earlier_runs,
            )  # fmt: skip
        except FlowServiceError as err:
            self.log.warning("Could not look for the run a lost POST may have created (%s)", err)
            run = None
        if run is None:
            raise PossiblyCommittedError(
                f"{lost.message}. The POST may have created a run that is not listed yet: it is not sent again "
                "in this try, and the next try looks the run up",
                status=lost.status, code=lost.code, request_id=lost.request_id, method="POST", url=lost.url,
            ) from lost  # fmt: skip
        self.log.warning("POST /runs failed (%s) but had created run %s: using it", lost, run["id"])
        return {"id": run["id"], "etag": run.get("etag"), "adopted": True}

    def _paged(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        pages = Pages(self.settings.flow_service_url, path, params)
        while (url := pages.next_url()) is not None:
            yield from pages.read(self.call("GET", path, params=pages.params, url=url))


def _lost_post(err: BaseException, url: str) -> bool:
    """Whether a ``POST`` to ``url`` failed in a way that may have carried it out (its answer lost)."""
    return isinstance(err, FlowServiceError) and err.url == url and may_have_committed(err)


def _exchange(send: Callable[[], requests.Response], *, method: str, url: str) -> Any:
    """Send one request: the answer's JSON, or the :class:`FlowServiceError` it amounts to."""
    try:
        answer = send()
    except NO_ANSWER_ERRORS as exc:
        raise api.no_answer(exc, method=method, url=url) from exc
    return api.read_answer(answer.status_code, answer.content, answer.headers, method=method, url=url)
