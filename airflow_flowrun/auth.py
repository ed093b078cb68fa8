"""The IMS access-token cache: one token per credential per machine per token lifetime, for both hooks.

Tokens live about 24 hours, so the processes of a machine (workers, triggerers, every task try and
every reschedule poke) should ask IMS once and reuse the answer. Two layers do this:

- :data:`TOKEN_CACHE`, in memory, in front: thousands of triggers in one triggerer share one token,
  and a process reads the layer below only when its memory has no valid token.
- :class:`~airflow_flowrun.token_file.TokenFile`, an encrypted file per credential in a private
  per-user directory, locked with ``flock`` so that concurrent processes make one IMS request
  between them (the others wait and read its answer). Off with ``[aep_flowrun] token_cache =
  process``; unusable directories fall back to memory only (see :mod:`airflow_flowrun.token_file`).

The cache key includes a digest of the secret, so two connections with different credentials never
share a token. Fetching is left to the hooks (they own the I/O); this module owns the bookkeeping,
the locks, the masking of every token a process learns (fetched or read from the file) before it is
handed out, and :class:`ImsBearerAuth`, which puts the token on every request of the sync hook's
``requests`` session. The async path does all file work in ``asyncio.to_thread``: the event loop
never waits on a lock or a disk.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from requests.auth import AuthBase

from airflow_flowrun._compat import amask_secret, mask_secret
from airflow_flowrun.exceptions import FlowServiceError, FlowServiceFatalError
from airflow_flowrun.token_file import StoredToken, TokenFile, file_cache_enabled

if TYPE_CHECKING:
    from requests import PreparedRequest, Response

    from airflow_flowrun.connection import AepConnectionSettings

TokenKey = tuple[str, str, str, str]
#: One IMS token request, answering the token and its lifetime in seconds (blocking, or a coroutine).
TokenFetch = Callable[[], tuple[str, float]]
AsyncTokenFetch = Callable[[], Coroutine[Any, Any, tuple[str, float]]]

#: Refresh this long before expiry at most; short-lived tokens refresh after 90% of their life.
MAX_REFRESH_MARGIN = 300.0


def seconds_to_refresh(entry: StoredToken) -> float:
    """Seconds from now until ``entry`` is no longer handed out (<= 0: refresh now).

    A token whose expiry lies further ahead than its whole lifetime means the wall clock went back:
    it is not trusted.
    """
    remaining = entry.expires_at - time.time()
    if remaining > entry.lifetime:
        return 0.0
    return remaining - min(MAX_REFRESH_MARGIN, entry.lifetime * 0.1)


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
        self.keep(key, StoredToken.fresh(token, expires_in))

    def keep(self, key: TokenKey, entry: StoredToken) -> None:
        """Remember a token fetched now or read from the token file, until its refresh time."""
        self._tokens[key] = _CachedToken(entry.token, time.monotonic() + seconds_to_refresh(entry))

    def invalidate(self, key: TokenKey, token: str) -> None:
        """Forget ``token`` after the gateway refused it (unless another caller already replaced it)."""
        cached = self._tokens.get(key)
        if cached is not None and cached.value == token:
            del self._tokens[key]

    def clear(self) -> None:
        """Forget every token of this process (tests use this to start from a cold process)."""
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


def machine_token(settings: AepConnectionSettings, fetch: TokenFetch) -> StoredToken:
    """The machine's token for the credential: the token file's, or a new one from ``fetch`` stored there.

    Blocking. Under the credential's file lock the file is read again, so of the processes that
    missed together only the first calls ``fetch``. With no usable file, just ``fetch``.
    """
    token_file = TokenFile.of(settings.token_cache_key, settings.client_secret)
    if token_file is None:
        return StoredToken.fresh(*fetch())
    with token_file.locked() as shared:
        stored = token_file.read() if shared else None
        if stored is not None and seconds_to_refresh(stored) > 0:
            return stored
        entry = StoredToken.fresh(*fetch())
        if shared:
            token_file.write(entry)
        return entry


def forget_machine_token(settings: AepConnectionSettings, token: str) -> None:
    """Blocking: delete the token file's entry if it still holds ``token`` (the gateway refused it)."""
    token_file = TokenFile.of(settings.token_cache_key, settings.client_secret)
    if token_file is not None:
        with token_file.locked() as shared:
            if shared:
                token_file.drop(token)


def access_token(settings: AepConnectionSettings, fetch: TokenFetch) -> str:
    """The credential's token for blocking code: from memory, else the token file, else ``fetch``.

    One thread of the process at a time goes past memory; the token is masked before it is returned.
    """
    key = settings.token_cache_key
    token = TOKEN_CACHE.get(key)
    if token is not None:
        return token
    with TOKEN_CACHE.thread_lock:
        token = TOKEN_CACHE.get(key)
        if token is not None:
            return token
        entry = machine_token(settings, fetch)
        mask_secret(entry.token)
        TOKEN_CACHE.keep(key, entry)
        return entry.token


async def async_access_token(settings: AepConnectionSettings, fetch: AsyncTokenFetch) -> str:
    """The credential's token in the event loop, as :func:`access_token` gets it, without blocking the loop.

    One coroutine per loop goes past memory, under the loop's lock; the file work runs in a worker
    thread, which holds the file lock and runs ``fetch`` (when needed) back on the loop. Should the
    waiting coroutine be cancelled, the thread still finishes and releases the lock.
    """
    key = settings.token_cache_key
    token = TOKEN_CACHE.get(key)
    if token is not None:
        return token
    async with TOKEN_CACHE.async_lock():
        token = TOKEN_CACHE.get(key)
        if token is not None:
            return token
        if file_cache_enabled():
            loop = asyncio.get_running_loop()
            wait_at_most = 2 * settings.timeout + 10  # fetch is one request bounded by the timeout

            def fetch_on_loop() -> tuple[str, float]:
                answer = asyncio.run_coroutine_threadsafe(fetch(), loop)
                try:
                    return answer.result(timeout=wait_at_most)
                finally:
                    answer.cancel()  # a no-op once it is done

            entry = await asyncio.to_thread(machine_token, settings, fetch_on_loop)
        else:
            entry = StoredToken.fresh(*await fetch())
        await amask_secret(entry.token)
        TOKEN_CACHE.keep(key, entry)
        return entry.token


async def async_forget_token(settings: AepConnectionSettings, token: str) -> None:
    """Forget a token the gateway refused, in memory and (in a worker thread) in the token file."""
    TOKEN_CACHE.invalidate(settings.token_cache_key, token)
    if file_cache_enabled():
        await asyncio.to_thread(forget_machine_token, settings, token)


class ImsBearerAuth(AuthBase):
    """``requests`` auth that sends the credential's IMS access token as ``Authorization: Bearer ...``.

    The sync hook hands this class to :class:`~airflow.providers.http.hooks.http.HttpHook` as its
    ``auth_type``, so every request of its session, ``HttpHook.run`` included, carries the token of
    :func:`access_token`, read per request: a token refreshed by another hook is picked up at once.
    When neither memory nor the token file has one, ``fetch`` asks IMS (one caller per machine at a
    time; the others wait for its answer). A 401 answer drops the token it was sent with, in memory
    and in the file, so the next request asks IMS for a new one.

    :param settings: the connection's settings (its token cache key and secret)
    :param fetch: one IMS token request, answering the token and its lifetime in seconds
    """

    def __init__(self, settings: AepConnectionSettings, fetch: TokenFetch) -> None:
        self.settings = settings
        self.fetch = fetch

    def token(self) -> str:
        """The cached token, or a new one from IMS."""
        return access_token(self.settings, self.fetch)

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        request.register_hook("response", self._forget_refused_token)
        return request

    def _forget_refused_token(self, response: Response, **kwargs: Any) -> Response:
        if response.status_code == 401:
            scheme, _, token = str(response.request.headers.get("Authorization", "")).partition(" ")
            if scheme == "Bearer":
                TOKEN_CACHE.invalidate(self.settings.token_cache_key, token)
                forget_machine_token(self.settings, token)
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
