"""The sync hook: Adobe IMS token + Flow Service calls for operators and sensors running in a worker."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import requests
from airflow.providers.http.hooks.http import HttpHook
from airflow.sdk.log import mask_secret

from airflow_flowrun import api
from airflow_flowrun.auth import TOKEN_CACHE, parse_token_answer
from airflow_flowrun.connection import DEFAULT_CONN_ID, AepConnectionSettings
from airflow_flowrun.exceptions import FlowServiceError
from airflow_flowrun.retry import RetryPolicy

#: Our clock and Flow Service's may differ this much when comparing our times with ``createdAt``.
CLOCK_SKEW_MS = 10_000
#: After a POST /runs whose answer was lost, look for the run it may have created this long before re-sending.
LOST_ANSWER_GRACE = 8.0


class AdobeFlowServiceHook(HttpHook):
    """Talk to Adobe Experience Platform Flow Service with an OAuth Server-to-Server credential.

    Built on the HTTP provider's :class:`HttpHook`, with its Basic auth replaced by an IMS bearer
    token (cached per process, refreshed before expiry, re-fetched once on a 401), the Platform
    headers on every call, one keep-alive session reused for the hook's life, a finite timeout on
    every request and one retry rule (:class:`~airflow_flowrun.retry.RetryPolicy`). Connection extras
    configure the hook; none is sent as an HTTP header.

    :param aep_conn_id: an ``aep`` connection (see the README for its fields)
    :param retry_policy: override the class default :attr:`retry_policy`
    """

    conn_name_attr = "aep_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "aep"
    hook_name = "Adobe Experience Platform"
    retry_policy = RetryPolicy()
    lost_answer_grace = LOST_ANSWER_GRACE

    def __init__(self, aep_conn_id: str = DEFAULT_CONN_ID, *, retry_policy: RetryPolicy | None = None) -> None:
        super().__init__(method="GET", http_conn_id=aep_conn_id)
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
        """The hook's one ``requests.Session`` (keep-alive), created on first use."""
        if self._session is None:
            session = requests.Session()
            session.headers.update(self.settings.platform_headers())
            self._session = self._configure_session_from_mount_adapters(session)
        if headers:
            self._session.headers.update(headers)
        return self._session

    def run(
        self,
        endpoint: str | None = None,
        data: dict[str, Any] | str | None = None,
        headers: dict[str, Any] | None = None,
        extra_options: dict[str, Any] | None = None,
        **request_kwargs: Any,
    ) -> Any:
        """``HttpHook.run`` compatibility: call a Flow Service path with this hook's auth and retries."""
        params = data if self.method == "GET" else None
        payload = request_kwargs.pop("json", None) if self.method != "GET" else None
        return self.call(self.method, "/" + (endpoint or "").lstrip("/"), params=params, json=payload)

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

        POST /runs is not idempotent, so it is never blindly re-sent: when an attempt gets no answer
        or a 500/502/504, the flow's runs created since the first attempt (less a clock skew) are
        searched for one with this window (for up to :attr:`lost_answer_grace` seconds, as a new
        run can take a moment to become visible) and that run is returned instead of creating a
        second one, whatever its status: a run that failed already is still the run this call made.

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
        params = body["params"]
        since_ms = int(time.time() * 1000) - CLOCK_SKEW_MS
        retries = self.retry_policy.retries()
        while True:
            try:
                return api.parse_created_run(self.call("POST", api.RUNS, json=body, retry=False))
            except FlowServiceError as err:
                if not self.retry_policy.is_retryable_status(err.status):
                    raise
                existing = (
                    self._await_lost_run(body["flowId"], params, since_ms, frozenset(earlier_runs))
                    if _may_have_committed(err)
                    else None
                )
                if existing is not None:
                    self.log.warning("POST /runs failed (%s) but had created run %s: using it", err, existing["id"])
                    return {"id": existing["id"], "etag": existing.get("etag"), "adopted": True}
                retry_number = next(retries, None)
                if retry_number is None:
                    raise
                self._sleep_before_retry(retry_number, err)

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

        :param patience: keep looking this many seconds before answering None: a new run can take a
            moment to appear in listings, and answering None too early would lead to a second run
        :param accept: only runs for which this is true count (e.g. not failed ones)
        """
        query = api.window_lookup_params(api.validate_uuid("flow_id", flow_id), created_after_ms)
        deadline = time.monotonic() + patience
        pause = 0.5
        while True:
            for run in self._paged(api.RUNS, query):
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

    def get_runs(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Several runs in one call (at most 100); runs Flow Service does not return are absent."""
        ids = [api.validate_uuid("run_ids", run_id) for run_id in run_ids]
        items, _ = api.page_items(self.call("GET", api.RUNS, params=api.any_of_ids_params(ids)))
        return items

    def get_flow(self, flow_id: str) -> dict[str, Any]:
        """The dataflow ``flow_id`` (schedule, state, flow spec, stored delta column)."""
        return api.first_item(self.call("GET", api.flow_path(flow_id)), f"GET /flows/{flow_id}")

    def list_runs(
        self, flow_id: str, *, properties: Sequence[str] = (), orderby: str = "-createdAt", **filters: Any
    ) -> Iterator[dict[str, Any]]:
        """The runs of ``flow_id``, newest first, following ``_links.next`` across pages.

        :param properties: extra raw ``property`` filters, e.g. ``"createdAt>1700000000000"``
        :param filters: equality filters, e.g. ``id="..."``; values may be lists (any of)
        """
        expressions = [f"flowId=={api.validate_uuid('flow_id', flow_id)}", *properties]
        for field_name, value in filters.items():
            values = value if isinstance(value, list | tuple) else [value]
            expressions.append(f"{field_name}=={','.join(map(str, values))}")
        yield from self._paged(api.RUNS, {"property": expressions, "orderby": orderby, "limit": api.MAX_PAGE})

    def retrigger_run(self, run_id: str) -> dict[str, Any]:
        """Re-run a failed run with its original window (``op=re-trigger``)."""
        return self.call("POST", f"{api.run_path(run_id)}/action", params={"op": "re-trigger"}, retry=False)

    def test_connection(self) -> tuple[bool, str]:
        """Fetch a token and read one flow: proves credentials, org, sandbox and gateway all work."""
        try:
            self.call("GET", "/flows", params={"limit": 1})
        except Exception as err:  # the UI shows any failure as text
            return False, str(err)
        settings = self.settings
        return True, f"Connected to Flow Service: org {settings.org_id}, sandbox {settings.sandbox_name}"

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
        """One Flow Service call with the bearer token, retried as :attr:`retry_policy` says.

        A 401 drops the cached token and repeats the call once with a new one (not counted as a retry).
        """
        url = url or self.settings.flow_service_url + path
        session = self.get_conn()
        retries = self.retry_policy.retries()
        refreshed = False
        while True:
            token = self._access_token()
            try:
                answer = session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    timeout=self.settings.timeout,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                err = FlowServiceError(f"no answer ({type(exc).__name__})", method=method, url=url)
            else:
                if answer.status_code == 401 and not refreshed:
                    TOKEN_CACHE.invalidate(self.settings.token_cache_key, token)
                    refreshed = True
                    continue
                if answer.ok:
                    return answer.json() if answer.content else {}
                err = api.error_from_answer(answer.status_code, answer.text, answer.headers, method=method, url=url)
            retry_number = next(retries, None) if retry and self.retry_policy.is_retryable_status(err.status) else None
            if retry_number is None:
                raise err
            self._sleep_before_retry(retry_number, err)

    def _access_token(self) -> str:
        settings = self.settings
        token = TOKEN_CACHE.get(settings.token_cache_key)
        if token is not None:
            return token
        with TOKEN_CACHE.thread_lock:
            token = TOKEN_CACHE.get(settings.token_cache_key)
            if token is None:
                token, expires_in = self._fetch_token()
                mask_secret(token)
                TOKEN_CACHE.put(settings.token_cache_key, token, expires_in)
            return token

    def _fetch_token(self) -> tuple[str, float]:
        url = self.settings.ims_token_url
        retries = self.retry_policy.retries()
        while True:
            try:
                answer = requests.post(url, data=self.settings.token_form(), timeout=self.settings.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                err = FlowServiceError(f"IMS gave no answer ({type(exc).__name__})", method="POST", url=url)
            else:
                if answer.ok:
                    return parse_token_answer(answer.json(), url=url)
                err = api.error_from_answer(answer.status_code, answer.text, answer.headers, method="POST", url=url)
            retry_number = next(retries, None) if self.retry_policy.is_retryable_status(err.status) else None
            if retry_number is None:
                raise err
            self._sleep_before_retry(retry_number, err)

    def _sleep_before_retry(self, retry_number: int, err: FlowServiceError) -> None:
        delay = self.retry_policy.delay(retry_number, err.retry_after)
        self.log.warning("%s; retry %d in %.1f s", err, retry_number, delay)
        time.sleep(delay)

    def _await_lost_run(
        self, flow_id: str, params: dict[str, Any], since_ms: int, earlier_runs: frozenset[str]
    ) -> dict[str, Any] | None:
        try:
            return self.find_window_run(
                flow_id, params["windowStartTime"], params["windowEndTime"],
                created_after_ms=since_ms, patience=self.lost_answer_grace,
                accept=lambda run: run.get("id") not in earlier_runs,
            )  # fmt: skip
        except FlowServiceError as err:
            self.log.warning("Could not look for the run a lost POST may have created (%s)", err)
            return None

    def _paged(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        items, next_href = api.page_items(self.call("GET", path, params=params))
        yield from items
        while next_href:
            url = api.next_page_url(self.settings.flow_service_url, next_href)
            items, next_href = api.page_items(self.call("GET", path, url=url))
            yield from items


def _may_have_committed(err: FlowServiceError) -> bool:
    """No answer, 500, 502 or 504: the POST may have created the run. 429 and 503 were refused before."""
    return err.status in (None, 500, 502, 504)
