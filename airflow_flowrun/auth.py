"""The IMS access-token cache: one token per credentials per process, shared by sync and async hooks.

Tokens live about 24 hours, so a process (a worker, a triggerer) should ask IMS once and reuse the
answer: thousands of triggers in one triggerer share one token. The cache key includes a digest of
the secret, so two connections with different credentials never share a token. Fetching is left to
the hooks (they own the I/O); this module owns the bookkeeping and the locks that make concurrent
callers wait for one fetch instead of starting their own.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from airflow_flowrun.exceptions import FlowServiceError, FlowServiceFatalError

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
