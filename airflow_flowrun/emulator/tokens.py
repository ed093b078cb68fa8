"""Access tokens issued by the emulated IMS: opaque, random, valid for a configured lifetime."""

from __future__ import annotations

import secrets
import threading
import time

#: Every token starts with this, so tests can search logs and bodies for leaked tokens.
TOKEN_PREFIX = "emu-at-"
#: Expired tokens are swept once this many are held.
_SWEEP_AT = 10_000


class TokenStore:
    """Issued tokens and their expiry times (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}

    def issue(self, lifetime: float, prefix: str = TOKEN_PREFIX) -> str:
        """A new token valid for ``lifetime`` seconds: ``prefix`` and 64 random URL-safe characters."""
        token = prefix + secrets.token_urlsafe(48)
        now = time.time()
        with self._lock:
            if len(self._expiry) >= _SWEEP_AT:
                self._expiry = {known: expiry for known, expiry in self._expiry.items() if expiry > now}
            self._expiry[token] = now + lifetime
        return token

    def valid(self, token: str) -> bool:
        """Whether ``token`` was issued here and has not expired."""
        with self._lock:
            expiry = self._expiry.get(token)
        return expiry is not None and time.time() < expiry

    def clear(self) -> None:
        """Forget every token."""
        with self._lock:
            self._expiry.clear()
