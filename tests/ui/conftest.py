"""Browser tests: only ``make test-ui`` runs them (it sets ``AIRFLOW_FLOWRUN_UI_TESTS=1``).

They need Chromium and Playwright (the ``ui`` extra) and take about a minute, so ``make test`` does
not collect them: without the variable this folder's tests are ignored, and Playwright is never
imported.
"""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("AIRFLOW_FLOWRUN_UI_TESTS") == "1" else ["test_*.py"]
