"""The async hook: Adobe IMS token + Flow Service calls on aiohttp, for triggers in the triggerer's event loop.

It sends the same requests and applies the same rules as the sync
:class:`~airflow_flowrun.hooks.flow_service.AdobeFlowServiceHook` — paths and answer parsing from
:mod:`airflow_flowrun.api`, the token cache of :mod:`airflow_flowrun.auth`, the retry rule of
:mod:`airflow_flowrun.retry` — and differs only in I/O: nothing here blocks the event loop (the
connection is read with ``aget_connection``/``aextra_dejson``, waits are ``asyncio.sleep``).
aiohttp is imported by this module only, which operators never import at DAG-parse time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

import aiohttp
from airflow.sdk import BaseHook

from airflow_flowrun import api
from airflow_flowrun._compat import aextra_dejson
from airflow_flowrun.auth import async_access_token, async_forget_token, parse_token_answer
from airflow_flowrun.connection import DEFAULT_CONN_ID, AepConnectionSettings
from airflow_flowrun.exceptions import FlowServiceError
from airflow_flowrun.paging import Pages
from airflow_flowrun.retry import RetryPolicy
from airflow_flowrun.validation import validate_uuid

#: Simultaneous HTTP connections of one hook; a batched poller needs few (one call reads 100 runs).
CONNECTION_LIMIT = 32
#: What aiohttp raises when no answer, or no complete answer, came (refused, reset, cut mid-body,
#: timed out): all mean "no answer".
NO_ANSWER_ERRORS = (aiohttp.ClientError, TimeoutError)


class AdobeFlowServiceAsyncHook(BaseHook):
    """Flow Service over aiohttp with an OAuth Server-to-Server credential.

    Use it as ``async with AdobeFlowServiceAsyncHook(conn_id) as hook:``: the hook owns one
    keep-alive :class:`aiohttp.ClientSession`, opened on first use and closed on exit. The access
    token is the one :func:`~airflow_flowrun.auth.async_access_token` shares (memory, then the
    machine's token file in a worker thread), fetched under the event loop's lock and the file's
    lock so that concurrent callers wait for one IMS request; a 401 drops it and repeats the call
    once. Failures retry as :attr:`retry_policy` says, by the rule the sync hook follows
    (:func:`~airflow_flowrun.retry.is_retryable`: no answer, a cut or unreadable answer, 408, 429,
    500, 502, 503, 504; ``Retry-After`` honoured) and surface as
    :class:`~airflow_flowrun.exceptions.FlowServiceError` (or its fatal subclass for other 4xx).

    :param aep_conn_id: an ``aep`` connection
    :param retry_policy: override the class default :attr:`retry_policy`
    :param settings: the connection's settings when the caller has read them already; the hook then
        makes no connection lookup of its own
    """

    conn_name_attr = "aep_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "aep"
    hook_name = "Adobe Experience Platform (async)"
    retry_policy = RetryPolicy()

    def __init__(
        self,
        aep_conn_id: str = DEFAULT_CONN_ID,
        retry_policy: RetryPolicy | None = None,
        *,
        settings: AepConnectionSettings | None = None,
    ) -> None:
        super().__init__()
        self.aep_conn_id = aep_conn_id
        if retry_policy is not None:
            self.retry_policy = retry_policy
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AdobeFlowServiceAsyncHook:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session (a later call opens a new one)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def settings(self) -> AepConnectionSettings:
        """The connection's settings, read once per hook without blocking the event loop."""
        if self._settings is None:
            conn = await self.aget_connection(self.aep_conn_id)
            self._settings = AepConnectionSettings.from_connection(conn, await aextra_dejson(conn))
        return self._settings

    # -- Flow Service ---------------------------------------------------------------------------

    async def get_run(self, run_id: str) -> dict[str, Any]:
        """The run object of ``run_id``."""
        return api.first_item(await self.call("GET", api.run_path(run_id)), f"GET /runs/{run_id}")

    async def get_runs(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Several runs in one ``GET /runs?property=id==a,b,c`` call (at most 100 ids).

        Runs Flow Service does not list (yet) are simply absent from the answer.
        """
        ids = [validate_uuid("run_ids", run_id) for run_id in run_ids]
        items, _ = api.page_items(await self.call("GET", api.RUNS, params=api.any_of_ids_params(ids)))
        return items

    async def list_runs(
        self, flow_id: str, *, properties: Sequence[str] = (), orderby: str = "-createdAt", **filters: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """The runs of ``flow_id``, newest first, following ``_links.next`` across pages (Flow Service's origin only).

        :param properties: extra raw ``property`` filters, e.g. ``"createdAt>1700000000000"``
        :param filters: equality filters, e.g. ``id="..."``; values may be lists (any of)
        """
        query = api.list_runs_params(flow_id, properties=properties, orderby=orderby, filters=filters)
        pages = Pages((await self.settings()).flow_service_url, api.RUNS, query)
        while (url := pages.next_url()) is not None:
            for run in pages.read(await self.call("GET", api.RUNS, params=pages.params, url=url)):
                yield run

    # -- HTTP -----------------------------------------------------------------------------------

    async def call(
        self, method: str, path: str, *, params: Any = None, json: Any = None, retry: bool = True,
        url: str | None = None,
    ) -> Any:  # fmt: skip
        """The JSON answer of one Flow Service call, as the sync hook's ``call`` gives it: same retries, same repeat.

        :param url: a full URL of Flow Service's origin instead of ``path`` (a next page)
        """
        url = url or (await self.settings()).flow_service_url + path
        policy = self.retry_policy if retry else self.retry_policy.single_attempt()
        attempts = policy.async_retrying(self.log, url=url)
        return await attempts(self._request_json, method, url, params=params, json=json)

    async def _request_json(self, method: str, url: str, *, params: Any = None, json: Any = None) -> Any:
        """One attempt: the answer's JSON, or the error it amounts to; a 401 drops the token it was sent with."""
        settings = await self.settings()
        token = await async_access_token(settings, self._fetch_token)
        headers = {**settings.platform_headers(), "Authorization": f"Bearer {token}"}
        try:
            return await self._exchange(method, url, params=params, json=json, headers=headers)
        except FlowServiceError as err:
            if err.status == 401:
                await async_forget_token(settings, token)
            raise

    async def _exchange(self, method: str, url: str, **request: Any) -> Any:
        """Send one request on the hook's session: the answer's JSON, or the error it amounts to."""
        session = await self._open_session()
        try:
            async with session.request(method, url, allow_redirects=False, **request) as answer:
                status, body, headers = answer.status, await answer.read(), answer.headers
        except NO_ANSWER_ERRORS as exc:
            raise api.no_answer(exc, method=method, url=url) from exc
        return api.read_answer(status, body, headers, method=method, url=url)

    async def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            settings = await self.settings()
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=settings.timeout),
                connector=aiohttp.TCPConnector(limit=CONNECTION_LIMIT),
            )
        return self._session

    async def _fetch_token(self) -> tuple[str, float]:
        """One IMS token request, retried (when at all) with the call it serves."""
        settings = await self.settings()
        url = settings.ims_token_url
        return parse_token_answer(await self._exchange("POST", url, data=settings.token_form()), url=url)
