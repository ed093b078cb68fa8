"""The async hook: Adobe IMS token + Flow Service calls on aiohttp, for triggers in the triggerer's event loop.

It sends the same requests and applies the same rules as the sync
:class:`~airflow_flowrun.hooks.flow_service.AdobeFlowServiceHook` — paths and answer parsing from
:mod:`airflow_flowrun.api`, the token cache of :mod:`airflow_flowrun.auth`, the retry rule of
:mod:`airflow_flowrun.retry` — and differs only in I/O: nothing here blocks the event loop (the
connection is read with ``aget_connection``/``aextra_dejson``, waits are ``asyncio.sleep``).
aiohttp is imported by this module only, which operators never import at DAG-parse time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import aiohttp
from airflow.sdk import BaseHook

from airflow_flowrun import api
from airflow_flowrun._compat import aextra_dejson, amask_secret
from airflow_flowrun.auth import TOKEN_CACHE, parse_token_answer
from airflow_flowrun.connection import DEFAULT_CONN_ID, AepConnectionSettings
from airflow_flowrun.exceptions import FlowServiceError
from airflow_flowrun.retry import RetryPolicy
from airflow_flowrun.validation import validate_uuid

#: Simultaneous HTTP connections of one hook; a batched poller needs few (one call reads 100 runs).
CONNECTION_LIMIT = 32


class AdobeFlowServiceAsyncHook(BaseHook):
    """Flow Service over aiohttp with an OAuth Server-to-Server credential.

    Use it as ``async with AdobeFlowServiceAsyncHook(conn_id) as hook:``: the hook owns one
    keep-alive :class:`aiohttp.ClientSession`, opened on first use and closed on exit. The access
    token is the process-wide one of :data:`~airflow_flowrun.auth.TOKEN_CACHE`, fetched under the
    event loop's lock so that concurrent callers wait for one IMS request; a 401 drops it and repeats
    the call once. Failures retry as :attr:`retry_policy` says (429, 5xx, no answer; ``Retry-After``
    honoured) and surface as :class:`~airflow_flowrun.exceptions.FlowServiceError` (or its fatal
    subclass for other 4xx).

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
        self._headers: dict[str, str] = {}

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

    # -- HTTP -----------------------------------------------------------------------------------

    async def call(self, method: str, path: str, *, params: Any = None, json: Any = None, retry: bool = True) -> Any:
        """One Flow Service call with the bearer token, retried as :attr:`retry_policy` says.

        A 401 drops the cached token and repeats the call once with a new one (not counted as a retry).
        """
        settings = await self.settings()
        session = await self._open_session()
        url = settings.flow_service_url + path
        retries = self.retry_policy.retries()
        refreshed = False
        while True:
            token = await self._access_token()
            headers = {**self._headers, "Authorization": f"Bearer {token}"}
            try:
                async with session.request(method, url, params=params, json=json, headers=headers) as answer:
                    status, body = answer.status, await answer.read()
                    answer_headers = answer.headers
            except (aiohttp.ClientError, TimeoutError) as exc:
                err = FlowServiceError(f"no answer ({type(exc).__name__})", method=method, url=url)
            else:
                if status == 401 and not refreshed:
                    TOKEN_CACHE.invalidate(settings.token_cache_key, token)
                    refreshed = True
                    continue
                if 200 <= status < 300:
                    return _json_body(body, status, method=method, url=url)
                err = api.error_from_answer(
                    status, body.decode(errors="replace"), answer_headers, method=method, url=url
                )
            retry_number = next(retries, None) if retry and self.retry_policy.is_retryable_status(err.status) else None
            if retry_number is None:
                raise err
            await self._sleep_before_retry(retry_number, err)

    async def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            settings = await self.settings()
            self._headers = settings.platform_headers()
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=settings.timeout),
                connector=aiohttp.TCPConnector(limit=CONNECTION_LIMIT),
            )
        return self._session

    async def _access_token(self) -> str:
        settings = await self.settings()
        token = TOKEN_CACHE.get(settings.token_cache_key)
        if token is not None:
            return token
        async with TOKEN_CACHE.async_lock():
            token = TOKEN_CACHE.get(settings.token_cache_key)
            if token is None:
                token, expires_in = await self._fetch_token()
                await amask_secret(token)
                TOKEN_CACHE.put(settings.token_cache_key, token, expires_in)
            return token

    async def _fetch_token(self) -> tuple[str, float]:
        settings = await self.settings()
        session = await self._open_session()
        url = settings.ims_token_url
        retries = self.retry_policy.retries()
        while True:
            try:
                async with session.post(url, data=settings.token_form()) as answer:
                    status, body = answer.status, await answer.read()
                    answer_headers = answer.headers
            except (aiohttp.ClientError, TimeoutError) as exc:
                err = FlowServiceError(f"IMS gave no answer ({type(exc).__name__})", method="POST", url=url)
            else:
                if 200 <= status < 300:
                    return parse_token_answer(_json_body(body, status, method="POST", url=url), url=url)
                err = api.error_from_answer(
                    status, body.decode(errors="replace"), answer_headers, method="POST", url=url
                )
            retry_number = next(retries, None) if self.retry_policy.is_retryable_status(err.status) else None
            if retry_number is None:
                raise err
            await self._sleep_before_retry(retry_number, err)

    async def _sleep_before_retry(self, retry_number: int, err: FlowServiceError) -> None:
        delay = self.retry_policy.delay(retry_number, err.retry_after)
        self.log.warning("%s; retry %d in %.1f s", err, retry_number, delay)
        await asyncio.sleep(delay)


def _json_body(body: bytes, status: int, *, method: str, url: str) -> Any:
    """A 2xx answer's JSON (``{}`` when empty); a body that is not JSON is an error naming the call."""
    if not body:
        return {}
    try:
        return json.loads(body)
    except ValueError:
        raise FlowServiceError(
            f"answered with a body that is not JSON: {body[:200]!r}", status=status, method=method, url=url
        ) from None
