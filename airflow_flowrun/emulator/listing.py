"""Listing queries as Flow Service documents them: ``property`` filters, ``orderby``, paging.

- ``property=<field><op><value>``, repeatable and ANDed. ``field`` is dotted
  (``metrics.statusSummary.status``); ``op`` is ``==``, ``!=``, ``>``, ``<``, ``>=`` or ``<=``.
  After ``==`` (and ``!=``) comma-separated values mean "any of" ("none of"). ``==`` holds when
  the values are equal as numbers or, ignoring case, as strings; ``>``/``<`` compare numbers when
  both sides are numeric, else strings. A missing (or non-scalar) field never matches.
- ``orderby``: ``createdAt`` or ``updatedAt``, ``-`` prefix for descending (``+`` allowed);
  default ``-createdAt`` (newest first). Ties break on creation order.
- ``limit``: default and maximum the emulator's ``page_size`` setting (Flow Service: 100;
  larger values are clamped).
- ``count=true``: the answer is ``{"count": <items matching the filters>}`` instead of a page;
  ``count`` together with ``limit`` is refused with ``FLOW-1401-400`` (by the route).
- ``continuationToken``: an opaque token naming the position after the last item of the
  previous page together with the query, so the token alone is enough. The answer's
  ``_links.next.href`` is relative (``/runs?continuationToken=...&property=...``) and repeats the
  query; ``_links`` is ``{}`` on the last page. Paging is by position, so items created between
  two pages neither repeat nor shift earlier items.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlencode

#: The ``limit`` a query gets when no page size is given (Flow Service's page size).
MAX_LIMIT = 100
DEFAULT_ORDER = "-createdAt"
ORDER_FIELDS = ("createdAt", "updatedAt")
_EXPRESSION = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)(==|!=|>=|<=|>|<)(.*)", re.DOTALL)
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_MISSING = object()


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)
    return None


def _lookup(item: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = item
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class PropertyFilter:
    """One ``property`` expression, e.g. ``flowId==a,b`` or ``createdAt>1600000000000``."""

    field: str
    operator: str
    values: tuple[str, ...]

    @classmethod
    def parse(cls, expression: str) -> PropertyFilter:
        """Parse ``<field><op><value>``; raises ValueError naming the expression."""
        match = _EXPRESSION.fullmatch(expression.strip())
        if match is None or not match.group(3):
            raise ValueError(f"Invalid property filter {expression!r}: expected <field><op><value>.")
        field, operator, raw = match.groups()
        values = tuple(raw.split(",")) if operator in ("==", "!=") else (raw,)
        return cls(field, operator, values)

    @property
    def expression(self) -> str:
        """The filter written back as a ``property`` value."""
        return f"{self.field}{self.operator}{','.join(self.values)}"

    @cached_property
    def _folded_values(self) -> frozenset[str]:
        return frozenset(value.casefold() for value in self.values)

    @cached_property
    def _numeric_values(self) -> frozenset[float]:
        return frozenset(number for number in map(_as_number, self.values) if number is not None)

    def _equals_any(self, actual: Any) -> bool:
        number = _as_number(actual)
        if number is not None and number in self._numeric_values:
            return True
        return _text(actual).casefold() in self._folded_values

    def _ordered(self, actual: Any) -> bool:
        expected = self.values[0]
        left, right = _as_number(actual), _as_number(expected)
        if left is not None and right is not None:
            return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[self.operator]
        text = _text(actual)
        return {">": text > expected, "<": text < expected, ">=": text >= expected, "<=": text <= expected}[
            self.operator
        ]

    def matches(self, item: dict[str, Any]) -> bool:
        """Whether ``item`` (a JSON object) satisfies the filter."""
        actual = _lookup(item, self._path)
        if actual is _MISSING or actual is None or isinstance(actual, dict | list):
            return False
        if self.operator == "==":
            return self._equals_any(actual)
        if self.operator == "!=":
            return not self._equals_any(actual)
        return self._ordered(actual)

    @cached_property
    def _path(self) -> tuple[str, ...]:
        return tuple(self.field.split("."))


def _encode_token(payload: dict[str, Any]) -> str:
    raw = zlib.compress(json.dumps(payload, separators=(",", ":")).encode())
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> dict[str, Any]:
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        payload = json.loads(raw)
    except (ValueError, zlib.error) as error:
        raise ValueError(f"Invalid continuationToken {token!r}.") from error
    if not isinstance(payload, dict):
        raise ValueError(f"Invalid continuationToken {token!r}.")
    return payload


def _parse_limit(raw: str, page_size: int) -> int:
    try:
        limit = int(raw)
    except ValueError as error:
        raise ValueError(f"Invalid limit {raw!r}: expected a positive integer.") from error
    if limit < 1:
        raise ValueError(f"Invalid limit {raw!r}: expected a positive integer.")
    return min(limit, page_size)


def _parse_order(raw: str) -> tuple[str, bool]:
    field = raw.lstrip("+-")
    if field not in ORDER_FIELDS:
        raise ValueError(f"Invalid orderby {raw!r}: expected one of {ORDER_FIELDS}, '-' for descending.")
    return field, raw.startswith("-")


@dataclass(frozen=True)
class ListQuery:
    """A parsed listing request. ``after`` is the (sort value, seq) of the previous page's end;
    ``count`` asks for the number of matching items instead of a page."""

    filters: tuple[PropertyFilter, ...] = ()
    order: str = DEFAULT_ORDER
    limit: int = MAX_LIMIT
    after: tuple[int, int] | None = None
    count: bool = False

    @classmethod
    def from_params(cls, params: Iterable[tuple[str, str]], page_size: int = MAX_LIMIT) -> ListQuery:
        """Build from query parameters; explicit ones override those carried by the token.

        :param page_size: the default and largest ``limit``.
        :raises ValueError: on a malformed filter, limit, orderby, count or token.
        """
        pairs = list(params)
        settings: dict[str, Any] = {}
        for name, value in pairs:
            if name == "continuationToken":
                payload = _decode_token(value)
                settings = {"p": payload.get("p", []), "o": payload.get("o", DEFAULT_ORDER)}
                settings |= {"l": payload.get("l", page_size), "a": payload.get("a")}
        expressions = [value for name, value in pairs if name == "property"] or settings.get("p", [])
        order = str(next((value for name, value in pairs if name == "orderby"), settings.get("o", DEFAULT_ORDER)))
        limit_text = next((value for name, value in pairs if name == "limit"), str(settings.get("l", page_size)))
        count_text = next((value for name, value in pairs if name == "count"), "false")
        if count_text.lower() not in ("true", "false"):
            raise ValueError(f"Invalid count {count_text!r}: expected true or false.")
        _parse_order(order)
        after = settings.get("a")
        return cls(
            filters=tuple(PropertyFilter.parse(str(expression)) for expression in expressions),
            order=order,
            limit=_parse_limit(limit_text, page_size),
            after=(int(after[0]), int(after[1])) if isinstance(after, list) and len(after) == 2 else None,
            count=count_text.lower() == "true",
        )

    def reads_only(self, fields: frozenset[str], prefixes: tuple[str, ...] = ()) -> bool:
        """Whether every filter is on one of ``fields`` or under one of ``prefixes``."""
        return all(f.field in fields or f.field.startswith(prefixes) for f in self.filters)

    def equality_values(self, field: str) -> set[str] | None:
        """Values ``field`` must equal under the ``==`` filters, None when unconstrained."""
        allowed: set[str] | None = None
        for item_filter in self.filters:
            if item_filter.field == field and item_filter.operator == "==":
                values = set(item_filter.values)
                allowed = values if allowed is None else allowed & values
        return allowed

    def page(
        self,
        entries: Iterable[tuple[int, dict[str, Any]]],
        resource: str,
        render: Callable[[int], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """One page of ``entries`` (``(seq, item)`` pairs) with its ``_links``.

        :param entries: candidate items with their creation order; filters and order read them.
        :param resource: ``"runs"`` or ``"flows"``, for the next-page link.
        :param render: builds the answered item from its seq, when ``entries`` hold summaries
            rather than full items (so only the page's items are built in full).
        """
        field, descending = _parse_order(self.order)
        keyed = [
            ((int(item.get(field) or 0), seq), item)
            for seq, item in entries
            if all(item_filter.matches(item) for item_filter in self.filters)
        ]
        if self.count:
            return {"count": len(keyed)}
        keyed.sort(key=lambda pair: pair[0], reverse=descending)
        if self.after is not None:
            after = self.after
            keyed = [pair for pair in keyed if (pair[0] < after if descending else pair[0] > after)]
        selected = keyed[: self.limit]
        items = [render(key[1]) for key, _ in selected] if render else [item for _, item in selected]
        if len(keyed) <= self.limit:
            return {"items": items, "_links": {}}
        expressions = [item_filter.expression for item_filter in self.filters]
        position = list(selected[-1][0])
        token = _encode_token({"p": expressions, "o": self.order, "l": self.limit, "a": position})
        query = [("continuationToken", token)] + [("property", expression) for expression in expressions]
        query += [("limit", str(self.limit)), ("orderby", self.order)]
        href = f"/{resource}?" + urlencode(query, quote_via=quote, safe="=,")
        return {"items": items, "_links": {"next": {"href": href}}}
