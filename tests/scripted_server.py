"""A tiny real HTTP server on 127.0.0.1 answering what a test scripts, for answers the emulator cannot give.

It serves an IMS token endpoint (``POST /ims/token/v3``) that always grants a token, and answers
every other request from the test's script: a list of answers per path, used in order, the last
one repeated. Answers are raw: a JSON body, a body that is not JSON, a chunked body cut short, a
connection closed without an answer, or a slow answer. Every request is recorded.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN_PATH = "/ims/token/v3"
TOKEN = "scripted-access-token-0123456789"
SECRET = "scripted-client-secret-value"
ORG_ID = "SCRIPTED000000000000000@AdobeOrg"


@dataclass(frozen=True)
class Answer:
    """One scripted answer: ``kind`` is ``json``, ``text``, ``cut`` (chunked body cut short), ``drop`` or ``slow``."""

    kind: str = "json"
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def json_answer(body: Any, status: int = 200, **headers: str) -> Answer:
    return Answer("json", status, body, headers)


def text_answer(text: str, status: int = 200, content_type: str = "text/html") -> Answer:
    return Answer("text", status, text, {"Content-Type": content_type})


CUT = Answer("cut")
DROP = Answer("drop")


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class ScriptedServer:
    """``with ScriptedServer() as server:``; ``server.script(path, *answers)``; ``server.seen``."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._script: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def connection(self, *, host: str | None = None, ims_url: str | None = None, **extra: Any) -> str:
        """An ``aep`` connection (JSON) with this server as gateway and IMS unless told otherwise."""
        extra = {"org_id": ORG_ID, "ims_token_url": ims_url or self.url + TOKEN_PATH, **extra}
        conn = {"conn_type": "aep", "login": "scripted-client", "password": SECRET, "host": host or self.url}
        return json.dumps({**conn, "extra": extra})

    def script(self, path: str, *answers: Answer) -> None:
        """Answer requests to ``path`` with ``answers`` in turn; the last one keeps answering."""
        with self._lock:
            self._script[path] = list(answers)

    def requests_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == path]

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next_answer(self, path: str) -> Answer:
        with self._lock:
            answers = self._script.get(path)
            if not answers:
                return json_answer({"error": f"nothing scripted for {path}"}, status=404)
            return answers.pop(0) if len(answers) > 1 else answers[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                parts = urlsplit(self.path)
                headers = {name.lower(): value for name, value in self.headers.items()}
                server.seen.append(Seen(self.command, parts.path, parse_qs(parts.query), headers))
                if parts.path == TOKEN_PATH:
                    self._send(json_answer({"access_token": TOKEN, "token_type": "bearer", "expires_in": 3600}))
                else:
                    self._send(server._next_answer(parts.path))

            def _send(self, answer: Answer) -> None:
                if answer.kind == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if answer.kind == "slow":
                    time.sleep(answer.delay)
                    answer = json_answer(answer.body or {})
                if answer.kind == "cut":
                    self.wfile.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b'40\r\n{"items": [{"id": "cut'
                    )
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                payload = (json.dumps(answer.body) if answer.kind == "json" else str(answer.body)).encode()
                self.send_response(answer.status)
                headers = {"Content-Type": "application/json", **answer.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
