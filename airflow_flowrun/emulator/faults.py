"""Fault injection rules: which requests get which failure.

A rule has a ``kind``:

- ``status``: answer ``status`` (default 503; e.g. 429, 500, 502, 504) with an Adobe-style error
  body, and a ``Retry-After: <retry_after>`` header when ``retry_after`` is set;
- ``drop``: close the connection without any HTTP response (the client sees a connection error);
- ``latency``: wait ``delay`` seconds (default 1), then answer normally;
- ``commit_then_502``: handle the request normally (``POST /runs`` creates and stores the run),
  then answer 502 instead of the real answer;
- ``commit_then_delay``: handle the request normally, then hold the real answer ``delay`` seconds
  (the run exists while the client still waits for its id: a client that dies meanwhile never
  learns it);
- ``reject_tokens``: the gateway answers 401 ``401013`` ("Oauth token is not valid") whatever
  token the request carries (IMS keeps issuing tokens that are then refused: a revoked
  integration, a clock skew);
- ``revoke_tokens``: every issued token is invalidated as the request arrives, so this request
  and every later one with an old token get 401 ``401013`` until the client fetches a new token
  (e.g. ``nth=[3]``: the third matching request revokes them).

Matching: ``method`` (any when unset) and ``path``, a regular expression searched in the URL path.
Without ``path`` a rule matches Flow Service paths only (not the IMS token endpoint; use e.g.
``path="/ims/"`` for that); ``commit_then_502`` and ``commit_then_delay`` default to
``method="POST"``, ``path="/runs$"``.
Admin paths (``/_emulator``) are never faulted.

Selection among matching requests (at most one selector; none = every matching request):
``nth`` (1-based indices among the rule's matching requests), ``every`` (every k-th), or
``probability`` (a per-rule RNG seeded from the emulator seed and the rule id, so runs repeat).
``max_count`` stops the rule after injecting that many faults. Each rule counts every request it
matches; when several rules select the same request, the first added wins.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_flowrun.emulator.seeds import FLOW_SERVICE_PREFIX

FAULT_KINDS = (
    "status", "drop", "latency", "commit_then_502", "commit_then_delay", "reject_tokens", "revoke_tokens",
)  # fmt: skip
_RULE_KEYS = frozenset(
    {"kind", "method", "path", "nth", "every", "probability", "max_count", "status", "retry_after", "delay"}
)


@dataclass
class FaultRule:
    """One fault rule; see the module docstring for the meaning of each field.

    ``matched`` counts the requests the rule matched, ``injected`` the faults it caused.
    """

    kind: str
    method: str | None = None
    path: str | None = None
    nth: tuple[int, ...] = ()
    every: int | None = None
    probability: float | None = None
    max_count: int | None = None
    status: int = 503
    retry_after: float | None = None
    delay: float = 1.0
    rule_id: int = 0
    seed: int = 0
    matched: int = 0
    injected: int = 0
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, default=None)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._validate()
        if self.kind in ("commit_then_502", "commit_then_delay"):
            self.method = self.method or "POST"
            self.path = self.path or "/runs$"
        self.method = self.method.upper() if self.method else None
        self._pattern = re.compile(self.path) if self.path else None
        self._rng = random.Random(f"{self.seed}:{self.rule_id}")

    def _validate(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, got {self.kind!r}")
        selectors = [bool(self.nth), self.every is not None, self.probability is not None]
        if sum(selectors) > 1:
            raise ValueError("give at most one of nth, every, probability")
        self.nth = tuple(int(index) for index in self.nth)
        if any(index < 1 for index in self.nth):
            raise ValueError(f"nth indices are 1-based, got {list(self.nth)}")
        if self.every is not None and self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        if self.probability is not None and not 0 <= self.probability <= 1:
            raise ValueError(f"probability must be within [0, 1], got {self.probability}")
        if self.max_count is not None and self.max_count < 1:
            raise ValueError(f"max_count must be >= 1, got {self.max_count}")
        if not 400 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {self.status}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {self.retry_after}")
        if self.delay < 0:
            raise ValueError(f"delay must be >= 0, got {self.delay}")

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], *, rule_id: int = 0, seed: int = 0) -> FaultRule:
        """Build a rule from a JSON-like mapping (CLI, config file, admin API).

        :raises ValueError: on unknown keys or invalid values.
        """
        unknown = set(spec) - _RULE_KEYS
        if unknown:
            raise ValueError(f"unknown fault rule keys: {sorted(unknown)}")
        if "kind" not in spec:
            raise ValueError("a fault rule needs a 'kind'")
        values = dict(spec)
        if values.get("nth") is not None:
            nth = values["nth"]
            values["nth"] = tuple(nth) if isinstance(nth, list | tuple) else (nth,)
        try:
            return cls(**{key: value for key, value in values.items() if value is not None}, rule_id=rule_id, seed=seed)
        except TypeError as error:
            raise ValueError(f"invalid fault rule {dict(spec)!r}: {error}") from error

    def matches(self, method: str, path: str) -> bool:
        """Whether the request falls under this rule's method and path filters."""
        if self.method is not None and method != self.method:
            return False
        if self._pattern is None:
            return path.startswith(FLOW_SERVICE_PREFIX)
        return self._pattern.search(path) is not None

    def select(self) -> bool:
        """Count one more matching request and say whether this rule picks it."""
        self.matched += 1
        if self.max_count is not None and self.injected >= self.max_count:
            return False
        if self.nth:
            return self.matched in self.nth
        if self.every is not None:
            return self.matched % self.every == 0
        if self.probability is not None:
            return self._rng.random() < self.probability
        return True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, counters included."""
        return {
            "id": self.rule_id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "nth": list(self.nth),
            "every": self.every,
            "probability": self.probability,
            "max_count": self.max_count,
            "status": self.status,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "matched": self.matched,
            "injected": self.injected,
        }


class FaultInjector:
    """The active rules and per-kind injection counters. Not thread-safe: the state locks it.

    :param seed: seeds every rule's RNG (with the rule id).
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rules: list[FaultRule] = []
        self.injected: Counter[str] = Counter()
        self._next_id = 1

    def add(self, spec: Mapping[str, Any]) -> FaultRule:
        """Add a rule described by ``spec`` (see :meth:`FaultRule.from_spec`)."""
        rule = FaultRule.from_spec(spec, rule_id=self._next_id, seed=self.seed)
        self._next_id += 1
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule (the injection counters stay until :meth:`reset`)."""
        self.rules.clear()

    def reset(self) -> None:
        """Remove every rule and zero the counters."""
        self.rules.clear()
        self.injected.clear()
        self._next_id = 1

    def choose(self, method: str, path: str) -> FaultRule | None:
        """The rule that faults this request, if any (every matching rule counts the request)."""
        chosen: FaultRule | None = None
        for rule in self.rules:
            if rule.matches(method, path) and rule.select() and chosen is None:
                chosen = rule
        if chosen is not None:
            chosen.injected += 1
            self.injected[chosen.kind] += 1
        return chosen

    def counts(self) -> dict[str, int]:
        """Faults injected so far, per kind (every kind listed)."""
        return {kind: self.injected[kind] for kind in FAULT_KINDS}
