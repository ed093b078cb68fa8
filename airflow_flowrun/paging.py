"""Following a listing's ``_links.next`` pages, and only on the configured Flow Service's origin.

Both hooks page with :class:`Pages`, so the sync and async listings resolve and check next links
the same way; only the I/O differs. A next link is followed only when it resolves to the origin
(scheme, host, port) of the configured Flow Service URL: every request carries the bearer token,
the API key and the org id, which must never reach another server.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

from airflow_flowrun.api import page_items
from airflow_flowrun.exceptions import FlowServiceFatalError

_DEFAULT_PORTS = {"http": 80, "https": 443}


class Pages:
    """The pages of a Flow Service listing, read the same way by both hooks::

        pages = Pages(flow_service_url, "/runs", params)
        while (url := pages.next_url()) is not None:
            items = pages.read(<the JSON of GET url with pages.params>)

    :param flow_service_url: the configured Flow Service base URL, the only origin pages are read from
    :param path: the listing, e.g. ``/runs``
    :param params: the query of the first page (later pages carry theirs in the link)
    """

    def __init__(self, flow_service_url: str, path: str, params: Any) -> None:
        self.flow_service_url = flow_service_url
        self.params: Any = params
        self._url: str | None = flow_service_url + path
        self._href: str | None = None

    def next_url(self) -> str | None:
        """The URL of the page to read next; None after the last page.

        :raises FlowServiceFatalError: the last page's next link leads off Flow Service's origin
        """
        if self._href is not None:
            self._url = next_page_url(self.flow_service_url, self._url or self.flow_service_url, self._href)
            self._href, self.params = None, None
        return self._url

    def read(self, body: Any) -> list[dict[str, Any]]:
        """The items of the page at :meth:`next_url`; its next link is followed by the next :meth:`next_url`."""
        items, self._href = page_items(body)
        if self._href is None:
            self._url = None
        return items


def next_page_url(flow_service_url: str, page_url: str, href: str) -> str:
    """The URL of the page a ``_links.next.href`` names, only ever on Flow Service's own origin.

    - ``?continuationToken=...`` (a query only) resolves against ``page_url``, the page it came from;
    - ``/data/foundation/flowservice/runs?...`` (a path of the gateway) resolves against the gateway;
    - ``/runs?...`` or ``runs?...`` (a path under Flow Service, as Adobe writes them) against Flow Service;
    - an absolute link (or ``//host/...``) stays what it is.

    :raises FlowServiceFatalError: when the link leads to another origin (scheme, host or port)
        than ``flow_service_url``: the access token, API key and org id go to the configured
        gateway only, so the link is refused before any request to it
    """
    parts = urlsplit(href)
    if parts.scheme or parts.netloc:
        url = urljoin(flow_service_url, href)
    elif href.startswith("?"):
        url = urljoin(page_url, href)
    elif href.startswith(urlsplit(flow_service_url).path + "/"):
        url = urljoin(flow_service_url, href)
    else:
        url = flow_service_url + "/" + href.lstrip("/")
    expected, found = _origin(flow_service_url), _origin(url)
    if found != expected:
        raise FlowServiceFatalError(
            f"Refusing to follow the next-page link {href!r}: it leads to {found or url!r}, not to the configured "
            f"Flow Service {expected}; credentials are only ever sent there"
        )
    return url


def _origin(url: str) -> str | None:
    """``scheme://host:port`` of a URL (default port filled in), or None when it has no readable origin."""
    parts = urlsplit(url)
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return f"{parts.scheme.lower()}://{parts.hostname.lower()}:{port}"
