"""Apache Airflow provider for Adobe Experience Platform Flow Service on-demand ingestion runs."""

from __future__ import annotations

__version__ = "0.1.0"
