"""The retry rule: which failures are worth another attempt, and how long to wait before it.

One classification (:func:`is_retryable`) and one policy (:class:`RetryPolicy`), built on tenacity,
used by the sync hook, the async hook and :func:`~airflow_flowrun.api.error_from_answer` alike, so
that every path retries exactly the same things. The hooks only turn their transport's exceptions
into :class:`~airflow_flowrun.exceptions.FlowServiceError` with ``status=None``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol

from airflow_flowrun.exceptions import FlowServiceError, FlowServiceFatalError

if TYPE_CHECKING:
    import tenacity


class WarningLog(Protocol):
    """Where retries are announced: a hook's ``log`` (stdlib or structlog)."""

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


#: Answers that mean "try later": request timeout, too many requests, and the 5xx of an overloaded
#: or restarting service. Every other 4xx is the caller's mistake and is never retried.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: After these, a ``POST`` may have been carried out although its answer was lost (429 and 503 are
#: refusals before any work; a 2xx whose body cannot be read did the work).
POSSIBLY_COMMITTED_STATUSES = frozenset({500, 502, 504})


def is_retryable_status(status: int | None) -> bool:
    """Whether an attempt that ended with ``status`` is worth repeating.

    ``None`` stands for "no answer" (connection refused or cut, even mid-answer; timeout) and a 2xx
    for a success whose body could not be read (not JSON, cut short): both are retryable.
    """
    return status is None or 200 <= status < 300 or status in RETRYABLE_STATUSES


def is_fatal_status(status: int | None) -> bool:
    """Whether an answer with ``status`` can never change on retry: a 3xx or 4xx not retryable.

    Such answers become :class:`~airflow_flowrun.exceptions.FlowServiceFatalError`, an
    ``AirflowFailException``, so Airflow spends no task retries on them either.
    """
    return status is not None and 300 <= status < 500 and not is_retryable_status(status)


def is_retryable(error: BaseException) -> bool:
    """The one retry classification: a non-fatal :class:`FlowServiceError` with a retryable status."""
    return (
        isinstance(error, FlowServiceError)
        and not isinstance(error, FlowServiceFatalError)
        and is_retryable_status(error.status)
    )


def may_have_committed(error: FlowServiceError) -> bool:
    """Whether a failed ``POST`` may nevertheless have been carried out (its answer was lost)."""
    status = error.status
    return status is None or 200 <= status < 300 or status in POSSIBLY_COMMITTED_STATUSES


class PossiblyCommittedError(FlowServiceError):
    """A ``POST`` may have been carried out although its answer was lost, and no sign of it was found yet.

    Retryable (``possibly_committed`` tells callers why): the POST must not be sent again in this
    try; the next try looks for what it made before sending anything.
    """

    possibly_committed = True


def is_refused_token(error: BaseException, url: str) -> bool:
    """Whether the gateway refused the bearer token sent to ``url`` (a 401 of that call, not of IMS)."""
    return isinstance(error, FlowServiceError) and error.status == 401 and error.url == url


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, honouring ``Retry-After``, as tenacity retry controllers.

    The controllers also make the once-only repeat after the gateway refused the bearer token (a
    token revoked or expired early): the hook has dropped the token by then, the repeat fetches a
    new one, and it is not counted as a retry.

    :param max_attempts: attempts in all, the first one included (the token repeat aside)
    :param base_delay: seconds before the first retry (half of it fixed, half random); doubles
        with each retry
    :param max_delay: ceiling for one backoff delay
    :param max_retry_after: ceiling for a server's ``Retry-After`` (a broken header must not stall a task)
    """

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def single_attempt(self) -> RetryPolicy:
        """The same policy without retries, for calls that must answer fast or must not repeat."""
        return replace(self, max_attempts=1)

    def retrying(
        self, log: WarningLog, *, url: str | None = None, retry_if: Callable[[BaseException], bool] = is_retryable
    ) -> tenacity.Retrying:
        """A :class:`tenacity.Retrying` for blocking calls: one controller per call (it counts the token repeat).

        :param log: where the warning before each retry goes
        :param url: the URL of the call; a 401 from it is repeated once (see the class docstring)
        :param retry_if: which errors to retry; :func:`is_retryable` unless the caller narrows it
        """
        import tenacity  # here, not at module level: DAG files import this module and never retry

        return tenacity.Retrying(**self._tenacity_args(log, url, retry_if))

    def async_retrying(
        self, log: WarningLog, *, url: str | None = None, retry_if: Callable[[BaseException], bool] = is_retryable
    ) -> tenacity.AsyncRetrying:
        """A :class:`tenacity.AsyncRetrying` for coroutines (waits with ``asyncio.sleep``); see :meth:`retrying`."""
        import tenacity

        return tenacity.AsyncRetrying(**self._tenacity_args(log, url, retry_if))

    def _tenacity_args(
        self, log: WarningLog, url: str | None, retry_if: Callable[[BaseException], bool]
    ) -> dict[str, Any]:
        import tenacity

        half = self.base_delay / 2
        backoff = tenacity.wait_exponential(multiplier=half, max=self.max_delay / 2) + tenacity.wait_random_exponential(
            multiplier=half, max=self.max_delay / 2
        )
        token_repeats: list[int] = []  # the attempt that met a refused token, once at most

        def refused(state: tenacity.RetryCallState) -> bool:
            return token_repeats == [state.attempt_number]

        def retry(state: tenacity.RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome else None
            if error is None:
                return False
            if url is not None and not token_repeats and is_refused_token(error, url):
                token_repeats.append(state.attempt_number)
                return True
            return retry_if(error)

        def wait(state: tenacity.RetryCallState) -> float:
            retry_after = getattr(state.outcome.exception() if state.outcome else None, "retry_after", None)
            if refused(state):
                return 0.0
            if retry_after is not None:
                return min(max(float(retry_after), 0.0), self.max_retry_after)
            return float(backoff(state))

        def stop(state: tenacity.RetryCallState) -> bool:
            return state.attempt_number >= self.max_attempts + len(token_repeats) and not refused(state)

        def warn(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if refused(state):
                log.warning("%s; repeating once with a new access token", error)
                return
            delay = state.next_action.sleep if state.next_action else 0.0
            log.warning("%s; retry %d in %.1f s", error, state.attempt_number - len(token_repeats), delay)

        return {"stop": stop, "wait": wait, "retry": retry, "before_sleep": warn, "reraise": True}


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
