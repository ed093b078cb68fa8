"""Fixtures of the reliability suite: quick retries, a DAG runner and the emulator with short runs.

Fixtures of ``tests/provider`` are not visible here; these follow them, with the retry rule made
quick through :func:`reliability.soak.quick_retries` (the rule itself is unchanged, only its delays).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reliability.soak import quick_retries


@pytest.fixture(autouse=True)
def fast_retries() -> Iterator[None]:
    """Backoff in milliseconds for the sync and async hooks, so retry paths run at test speed."""
    with quick_retries():
        yield
