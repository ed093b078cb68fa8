"""Canary credentials and the search for them in everything a DAG run leaves behind.

The emulator's client secret is a fixed, well-known string and its tokens share a plain prefix; a
search for them would prove little. :func:`canary_credentials` makes the emulator accept only a
distinctive secret and issue distinctive tokens, and records every token it issues, so that logs,
XComs, rendered templates, task state and exception texts can be searched for all of them.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

CANARY_SECRET = "cs-Q7vX2-CANARY-client-secret-9d4e"
CANARY_TOKEN_PREFIX = "at-CANARY-"


@dataclass
class Canary:
    """The secret in use and every token the emulator issued while it was active."""

    secret: str = CANARY_SECRET
    tokens: list[str] = field(default_factory=list)

    def pattern(self) -> re.Pattern[str]:
        """Matches the secret, anything that starts like a canary token, and any issued token's body.

        A token cut off its prefix still matches by its random body; a whole token matches once.
        """
        bodies = [token[len(CANARY_TOKEN_PREFIX) :] for token in self.tokens]
        alternatives = [re.escape(self.secret), re.escape(CANARY_TOKEN_PREFIX) + r"[\w-]*", *map(re.escape, bodies)]
        return re.compile("|".join(alternatives))

    def find(self, texts: Iterable[str]) -> list[str]:
        """Every leak in ``texts``, each shown with a little context."""
        pattern = self.pattern()
        return [
            text[max(0, match.start() - 60) : match.end() + 20] for text in texts for match in pattern.finditer(text)
        ]


@contextmanager
def canary_credentials(emulator: Any) -> Iterator[Canary]:
    """Make ``emulator`` accept only :data:`CANARY_SECRET` and issue tokens starting with :data:`CANARY_TOKEN_PREFIX`.

    The emulator's own settings change for the duration (and change back after); every token issued
    meanwhile is recorded in the yielded :class:`Canary`.
    """
    canary = Canary()
    issue_token = emulator.state.issue_token
    before = emulator.state.settings

    def issue_and_record(*args: Any, **kwargs: Any) -> tuple[str, float]:
        token, lifetime = issue_token(*args, **kwargs)
        canary.tokens.append(token)
        return token, lifetime

    emulator.update_settings(client_secret=canary.secret, token_prefix=CANARY_TOKEN_PREFIX)
    try:
        with patch.object(emulator.state, "issue_token", issue_and_record):
            yield canary
    finally:
        emulator.update_settings(client_secret=before.client_secret, token_prefix=before.token_prefix)


def stored_texts(dag_ids: Iterable[str], run_id: str | None = None) -> list[str]:
    """Everything the metadata DB holds for these DAGs' runs (or one run) that a user or log shipper can read.

    XCom values (every key), rendered template fields, task state store values and what task
    instances keep of a deferral (``next_kwargs``: the trigger's event) are returned as text, one
    item per row.
    """
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    ids = list(dag_ids)

    def rows(model: Any) -> list[Any]:
        query = session.query(model).filter(model.dag_id.in_(ids))
        return (query if run_id is None else query.filter(model.run_id == run_id)).all()

    with create_session() as session:
        xcoms = rows(XComModel)
        rendered = rows(RenderedTaskInstanceFields)
        states = rows(task_state_store_model()) if task_state_store_model() is not None else []
        tis = rows(TaskInstance)
        texts = [f"xcom {row.task_id} {row.key}: {json.dumps(row.value, default=str)}" for row in xcoms]
        texts += [f"rendered {row.task_id}: {json.dumps(row.rendered_fields, default=str)}" for row in rendered]
        texts += [f"task state {row.task_id} {row.key}: {row.value}" for row in states]
        texts += [f"ti {ti.task_id}: {ti.hostname} {ti.rendered_map_index} {ti.next_kwargs}" for ti in tis]
    return texts


@dataclass
class CapturedOutput:
    """What the process wrote while captured: stdout and stderr, or log records (see below)."""

    text: str = ""


@contextmanager
def captured_output() -> Iterator[CapturedOutput]:
    """Send file descriptors 1 and 2, and ``sys.stdout`` / ``sys.stderr``, to a temporary file.

    Its text is in the yielded object on exit. ``dag.test()`` prints every task's log there. The
    Python streams are redirected too because under pytest they are pytest's capture, which does not
    write to the descriptors; so this works in a script (the benchmark) and in a session fixture,
    where ``capfd`` is not available.
    """
    captured = CapturedOutput()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        raw = os.fdopen(os.dup(sink.fileno()), "wb", buffering=0)
        stream = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
        try:
            with stream, redirect_stdout(stream), redirect_stderr(stream):
                yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", errors="replace")


@contextmanager
def captured_logs(level: int = logging.DEBUG) -> Iterator[CapturedOutput]:
    """Every log record of ``level`` and up, formatted (tracebacks included), as ``caplog.text`` has them.

    The root logger is set to ``level`` meanwhile, as ``caplog.set_level`` does; for a session fixture,
    where ``caplog`` is not available.
    """
    captured = CapturedOutput()
    records = io.StringIO()
    handler = logging.StreamHandler(records)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(levelname)-8s %(name)s:%(filename)s:%(lineno)d %(message)s"))
    root = logging.getLogger()
    level_before = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield captured
    finally:
        root.setLevel(level_before)
        root.removeHandler(handler)
        captured.text = records.getvalue()


def task_state_store_model() -> Any:
    """The task state store table, which Airflow has from 3.3 on (None before)."""
    try:
        from airflow.models.task_state_store import TaskStateStoreModel
    except ImportError:
        return None
    return TaskStateStoreModel
