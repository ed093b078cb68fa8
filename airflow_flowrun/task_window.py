"""The data window a task works on: the one its author gave, else its DAG run's data interval.

One rule for every task that takes ``window_start``/``window_end`` (the run operators, the window
sensor, the coverage check), so each fails the same clear way when neither is there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_flowrun.exceptions import InvalidParameterError
from airflow_flowrun.validation import resolve_window


def check_window_pair(window_start: Any, window_end: Any) -> None:
    """Raise naming the missing half when only one of ``window_start``/``window_end`` is given.

    Called at ``__init__`` too, so a half-given window fails when the DAG is parsed.
    """
    if (window_start is None) != (window_end is None):
        missing = "window_end" if window_end is None else "window_start"
        raise InvalidParameterError(missing, None, "give both window_start and window_end, or neither")


def task_window(context: Mapping[str, Any], window_start: Any, window_end: Any) -> tuple[int, int]:
    """``[window_start, window_end)`` in epoch seconds: the explicit window, else the data interval.

    :param context: the task's context (``data_interval_start``/``data_interval_end`` are read)
    :param window_start: the task's rendered ``window_start`` (None: use the data interval)
    :param window_end: the task's rendered ``window_end`` (None: use the data interval)
    :raises InvalidParameterError: half a window, a bad or empty window, or no window at all (a
        manual run without a logical date, or a cron schedule without data intervals), saying why
    """
    check_window_pair(window_start, window_end)
    if window_start is not None:
        return resolve_window(window_start, window_end)
    return interval_window(context.get("data_interval_start"), context.get("data_interval_end"))


def interval_window(start: Any, end: Any) -> tuple[int, int]:
    """A DAG run's data interval as the window, or the error saying why it cannot be one.

    :param start: ``data_interval_start`` (a datetime, or its ISO-8601 text as a trigger renders it); None when absent
    :param end: ``data_interval_end``, likewise
    """
    if start is None or end is None:
        raise InvalidParameterError(
            "window_start/window_end",
            None,
            "not given, and this DAG run has no data interval (a run triggered without a logical date has "
            "none, e.g. from the UI or REST API with logical_date null): pass window_start and window_end "
            "(they are templated), trigger the run with a logical date, or run the DAG on a schedule",
        )
    if start == end:
        raise InvalidParameterError(
            "window_start/window_end",
            None,
            f"not given, and this DAG run's data interval is empty ({start} to {end}): Airflow 3 cron and "
            "timedelta schedules have no data interval unless [scheduler] create_cron_data_intervals is True; "
            "use schedule=CronDataIntervalTimetable(...), or pass window_start and window_end",
        )
    return resolve_window(start, end)
