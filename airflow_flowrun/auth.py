"""The IMS access-token cache: one token per credentials per process, shared by sync and async hooks.

Tokens live about 24 hours, so a process (a worker, a triggerer) should ask IMS once and reuse the
answer: thousands of triggers in one triggerer share one token. The cache key includes a digest of
the secret, so two connections with different credentials never share a token. Fetching is left to
the hooks (they own the I/O); this module owns the bookkeeping, the locks that make concurrent
callers wait for one fetch instead of starting their own, and :class:`ImsBearerAuth`, which puts the
cached token on every request of the sync hook's ``requests`` session.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.sdk.log import mask_secret
from requests.auth import AuthBase

from airflow_flowrun.exceptions import FlowServiceError, FlowServiceFatalError

if TYPE_CHECKING:
    from requests import PreparedRequest, Response

TokenKey = tuple[str, str, str, str]

#: Refresh this long before expiry at most; short-lived tokens refresh after 90% of their life.
MAX_REFRESH_MARGIN = 300.0


@dataclass(frozen=True)
class _CachedToken:
    value: str
    refresh_at: float  # time.monotonic() after which the token is no longer handed out


class TokenCache:
    """Process-wide access tokens keyed by (token URL, client id, scopes, secret digest)."""

    def __init__(self) -> None:
        self._tokens: dict[TokenKey, _CachedToken] = {}
        self.thread_lock = threading.Lock()
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, key: TokenKey) -> str | None:
        """A token still comfortably valid, or None."""
        cached = self._tokens.get(key)
        if cached is None or time.monotonic() >= cached.refresh_at:
            return None
        return cached.value

    def put(self, key: TokenKey, token: str, expires_in: float) -> None:
        """Remember a fresh token that IMS said lives ``expires_in`` seconds."""
        margin = min(MAX_REFRESH_MARGIN, expires_in * 0.1)
        self._tokens[key] = _CachedToken(token, time.monotonic() + expires_in - margin)

    def invalidate(self, key: TokenKey, token: str) -> None:
        """Forget ``token`` after the gateway refused it (unless another caller already replaced it)."""
        cached = self._tokens.get(key)
        if cached is not None and cached.value == token:
            del self._tokens[key]

    def clear(self) -> None:
        """Forget every token (tests use this to start from a cold process)."""
        self._tokens.clear()

    def async_lock(self) -> asyncio.Lock:
        """The lock of the running event loop (``dag.test()`` runs each trigger in a loop of its own)."""
        loop = asyncio.get_running_loop()
        lock = self._loop_locks.get(loop)
        if lock is None:
            lock = self._loop_locks[loop] = asyncio.Lock()
        return lock


TOKEN_CACHE = TokenCache()


def remember_token(key: TokenKey, token: str, expires_in: float) -> str:
    """Mask a token just fetched from IMS in Airflow's logs and cache it for the process; returns it.

    Blocking code only: the event loop masks with ``amask_secret`` instead.
    """
    mask_secret(token)
    TOKEN_CACHE.put(key, token, expires_in)
    return token


class ImsBearerAuth(AuthBase):
    """``requests`` auth that sends the process's IMS access token as ``Authorization: Bearer ...``.

    The sync hook hands this class to :class:`~airflow.providers.http.hooks.http.HttpHook` as its
    ``auth_type``, so every request of its session, ``HttpHook.run`` included, carries the token of
    :data:`TOKEN_CACHE`, read per request: a token refreshed by another hook is picked up at once.
    When the cache has none, ``fetch`` asks IMS (one caller per process at a time; the others
    wait for its answer) and the new token is masked in Airflow's logs. A 401 answer drops the
    token it was sent with, so the next request asks IMS for a new one.

    :param key: the connection's :attr:`~airflow_flowrun.connection.AepConnectionSettings.token_cache_key`
    :param fetch: one IMS token request, answering the token and its lifetime in seconds
    """

    def __init__(self, key: TokenKey, fetch: Callable[[], tuple[str, float]]) -> None:
        self.key = key
        self.fetch = fetch

    def token(self) -> str:
        """The cached token, or a new one from IMS."""
        token = TOKEN_CACHE.get(self.key)
        if token is not None:
            return token
        with TOKEN_CACHE.thread_lock:
            return TOKEN_CACHE.get(self.key) or remember_token(self.key, *self.fetch())

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        request.register_hook("response", self._forget_refused_token)
        return request

    def _forget_refused_token(self, response: Response, **kwargs: Any) -> Response:
        if response.status_code == 401:
            scheme, _, token = str(response.request.headers.get("Authorization", "")).partition(" ")
            if scheme == "Bearer":
                TOKEN_CACHE.invalidate(self.key, token)
        return response


def parse_token_answer(body: Any, *, url: str) -> tuple[str, float]:
    """The access token and its lifetime in seconds from an IMS ``/ims/token/v3`` answer."""
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise FlowServiceError("IMS answered without an access_token", method="POST", url=url)
    try:
        expires_in = float(body.get("expires_in", 86399))
    except (TypeError, ValueError):
        raise FlowServiceFatalError(
            f"IMS answered an unreadable expires_in {body.get('expires_in')!r}", method="POST", url=url
        ) from None
    return body["access_token"], expires_in
