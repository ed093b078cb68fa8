"""The reliability suite's retry rule made quick through :func:`reliability.soak.quick_retries`.

Only the delays change, never what is retried; ``run_dag`` and ``emu`` come from tests/conftest.py.
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
