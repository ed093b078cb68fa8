"""The retry rule: which failures are worth another attempt, and how long to wait before it.

One object, used by the sync hook and the async hook alike, so both retry exactly the same things.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: 429 and the 5xx that mean "try later"; every other 4xx is the caller's mistake and is never retried.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, honouring ``Retry-After``.

    :param max_attempts: attempts in all, the first one included
    :param base_delay: seconds before the first retry; doubles with each retry
    :param max_delay: ceiling for one backoff delay
    :param max_retry_after: ceiling for a server's ``Retry-After`` (a broken header must not stall a task)
    """

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def is_retryable_status(self, status: int | None) -> bool:
        """None stands for "no answer" (connection error, timeout) and is retryable."""
        return status is None or status in RETRYABLE_STATUSES

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 for the first retry)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def retries(self) -> Iterator[int]:
        """The retry numbers allowed after the first attempt: 1, 2, ... max_attempts - 1."""
        return iter(range(1, self.max_attempts))


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
