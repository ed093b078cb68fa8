"""Access tokens issued by the emulated IMS: opaque, random, valid for a configured lifetime, each
remembering the client id it was issued to (runs record it as ``createdBy``/``createdClient``)."""

from __future__ import annotations

import secrets
import threading
import time

#: Every token starts with this, so tests can search logs and bodies for leaked tokens.
TOKEN_PREFIX = "emu-at-"
#: Expired tokens are swept once this many are held.
_SWEEP_AT = 10_000


class TokenStore:
    """Issued tokens with their expiry times and client ids (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._issued: dict[str, tuple[float, str]] = {}

    def issue(self, lifetime: float, client_id: str, prefix: str = TOKEN_PREFIX) -> str:
        """A new token for ``client_id``, valid for ``lifetime`` seconds: ``prefix`` and 64 random
        URL-safe characters."""
        token = prefix + secrets.token_urlsafe(48)
        now = time.time()
        with self._lock:
            if len(self._issued) >= _SWEEP_AT:
                self._issued = {known: issued for known, issued in self._issued.items() if issued[0] > now}
            self._issued[token] = (now + lifetime, client_id)
        return token

    def client_of(self, token: str) -> str | None:
        """The client id ``token`` was issued to, or None when it is unknown or expired."""
        with self._lock:
            issued = self._issued.get(token)
        return issued[1] if issued is not None and time.time() < issued[0] else None

    def valid(self, token: str) -> bool:
        """Whether ``token`` was issued here and has not expired."""
        return self.client_of(token) is not None

    def clear(self) -> None:
        """Forget every token."""
        with self._lock:
            self._issued.clear()
