"""The machine's IMS token file: real processes against the emulator over loopback, one token between them.

Each child below is a new Python process, as a task try, a reschedule poke or a resume from deferral
is: it reads the connection, says ``ready``, and makes its Flow Service call when the test says
``go`` on its stdin, so that all of a wave start together.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from airflow_flowrun import token_file
from airflow_flowrun.auth import TOKEN_CACHE
from airflow_flowrun.connection import AepConnectionSettings
from airflow_flowrun.emulator import TABLE_FLOW_ID
from airflow_flowrun.exceptions import FlowServiceError
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.hooks.flow_service_async import AdobeFlowServiceAsyncHook
from airflow_flowrun.token_file import StoredToken, TokenFile

DIR_ENV = "AIRFLOW__AEP_FLOWRUN__TOKEN_CACHE_DIR"
MODE_ENV = "AIRFLOW__AEP_FLOWRUN__TOKEN_CACHE"
SEEN = "seen:"

#: A new process: one Flow Service call through the sync or the async hook; prints what it saw.
CHILD = textwrap.dedent(
    """
    import asyncio, hashlib, json, sys, uuid
    from airflow.sdk.log import redact
    from airflow_flowrun.auth import TOKEN_CACHE
    from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
    from airflow_flowrun.hooks.flow_service_async import AdobeFlowServiceAsyncHook

    which, flow_id = sys.argv[1], sys.argv[2]
    settings = AdobeFlowServiceHook().settings
    print("ready", flush=True)
    sys.stdin.readline()
    if which == "sync":
        answer = AdobeFlowServiceHook().get_flow(flow_id)["id"]
    else:
        async def read():
            async with AdobeFlowServiceAsyncHook() as hook:
                return len(await hook.get_runs([str(uuid.uuid4())]))
        answer = asyncio.run(read())
    token = TOKEN_CACHE.get(settings.token_cache_key)
    print("seen:", json.dumps({
        "answer": answer,
        "token_digest": hashlib.sha256(token.encode()).hexdigest(),
        "masked": redact(f"token {token} here") == "token *** here",
    }), flush=True)
    """
)


def run_processes(count: int, which: str = "sync") -> list[dict]:
    """Start ``count`` new processes, let them call Flow Service together, and return what each saw."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, which, TABLE_FLOW_ID],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for child in children:
            wait_until_ready(child)
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err[-3000:]
    return [json.loads(out.rpartition(SEEN)[2]) for out, _ in outputs]


def wait_until_ready(child: subprocess.Popen) -> None:
    """Read the child's output (Airflow may log to it first) up to its ``ready``."""
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == "ready":
            return
    pytest.fail(f"a child ended before it was ready: {child.communicate(timeout=60)[1][-3000:]}")


def settings_of(emu, **changes) -> AepConnectionSettings:
    fields = {**emu.connection_dict, **changes}
    return AepConnectionSettings.from_fields(
        "aep_default", login=fields["login"], password=fields["password"], host=fields["host"], extra=fields["extra"]
    )


def token_file_of(emu, directory: Path, **changes) -> TokenFile:
    settings = settings_of(emu, **changes)
    return TokenFile(directory, settings.token_cache_key, settings.client_secret)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture
def token_dir(aep_emulator, tmp_path, monkeypatch) -> Path:
    """This test's own token directory, the file cache on, and a cold process; children inherit the setting."""
    directory = tmp_path / "ims-tokens"
    monkeypatch.setenv(DIR_ENV, str(directory))
    monkeypatch.setenv(MODE_ENV, "file")
    monkeypatch.setattr(token_file, "_warned", set())
    TOKEN_CACHE.clear()
    yield directory
    TOKEN_CACHE.clear()


def test_processes_starting_together_make_one_token_request_between_them(emu, token_dir):
    first_wave = run_processes(8)

    assert emu.token_requests == 1
    assert [seen["answer"] for seen in first_wave] == [TABLE_FLOW_ID] * 8
    assert len({seen["token_digest"] for seen in first_wave}) == 1, "all used the one token"
    assert all(seen["masked"] for seen in first_wave), "every process masks the token it read from the file"

    second_wave = run_processes(4)

    assert emu.token_requests == 1, "new processes read the machine's token"
    assert {seen["token_digest"] for seen in second_wave} == {first_wave[0]["token_digest"]}


def test_async_hook_in_a_new_process_uses_the_file_token(emu, token_dir):
    AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)
    token = TOKEN_CACHE.get(settings_of(emu).token_cache_key)

    (seen,) = run_processes(1, "async")

    assert emu.token_requests == 1
    assert seen["token_digest"] == digest(token)
    assert seen["masked"], "the triggerer masks a token read from the file before anything can log it"


def test_the_file_reveals_neither_token_nor_credentials_and_serves_only_its_secret(emu, token_dir, monkeypatch):
    AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)
    settings = settings_of(emu)
    token = TOKEN_CACHE.get(settings.token_cache_key)
    assert token is not None

    (stored,) = token_dir.glob("*.token")
    sealed = stored.read_bytes()
    for clear in (token, settings.client_secret, settings.client_id):
        assert clear.encode() not in sealed
        assert clear not in stored.name
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_dir.stat().st_mode) == 0o700

    first = token_file_of(emu, token_dir)
    other_secret = "another-client-secret"
    other = token_file_of(emu, token_dir, password=other_secret)
    other.path.write_bytes(sealed)
    assert other.read() is None, "a file sealed with another secret is a miss"

    emu.update_settings(client_secret=other_secret)
    TOKEN_CACHE.clear()
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", json.dumps({**emu.connection_dict, "password": other_secret}))
    AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)

    assert emu.token_requests == 2, "a connection with another secret asks IMS itself"
    assert first.read().token == token, "the first credential's entry is untouched"
    assert other.read().token != token


@pytest.mark.parametrize("make_unusable", ["under_a_file", "group_writable", "other_owner"])
def test_an_unusable_directory_falls_back_to_memory_with_one_warning(
    emu, token_dir, monkeypatch, tmp_path, caplog, make_unusable
):
    if make_unusable == "under_a_file":
        (tmp_path / "a-file").write_text("not a directory")
        directory = tmp_path / "a-file" / "ims-tokens"
    else:
        directory = tmp_path / "shared"
        directory.mkdir()
        if make_unusable == "group_writable":
            directory.chmod(0o770)
        elif os.getuid() != 0:
            pytest.skip("only root can give a directory to another user")
        else:
            os.chown(directory, 65534, 65534)
    monkeypatch.setenv(DIR_ENV, str(directory))
    caplog.set_level(logging.WARNING, logger=token_file.__name__)

    for _ in range(2):
        TOKEN_CACHE.clear()  # each pass misses memory and looks at the directory again
        assert AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)["id"] == TABLE_FLOW_ID

    assert emu.token_requests == 2, "no file: each cold process asks IMS"
    warnings = [r for r in caplog.records if r.name == token_file.__name__]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "in this process only" in warnings[0].getMessage()
    if directory.is_dir():
        assert list(directory.iterdir()) == []


def test_token_cache_process_turns_the_file_off(emu, token_dir, monkeypatch):
    monkeypatch.setenv(MODE_ENV, "process")

    seen = run_processes(3)

    assert emu.token_requests == 3, "every process asks IMS"
    assert len({child["token_digest"] for child in seen}) == 3
    assert not token_dir.exists() or list(token_dir.iterdir()) == []


def test_a_refused_token_leaves_the_file_and_one_new_token_is_fetched(emu, token_dir):
    hook = AdobeFlowServiceHook()
    hook.get_flow(TABLE_FLOW_ID)
    old = token_file_of(emu, token_dir).read()
    emu.revoke_tokens()  # the gateway now refuses the token in this process's memory and in the file

    (child,) = run_processes(1)  # reads the file, is refused, drops the entry, fetches once

    assert emu.token_requests == 2
    new = token_file_of(emu, token_dir).read()
    assert new is not None
    assert child["token_digest"] == digest(new.token) != digest(old.token)

    assert hook.get_flow(TABLE_FLOW_ID)["id"] == TABLE_FLOW_ID  # refused too; the file holds a newer token

    assert emu.token_requests == 2, "this process took the newer token from the file instead of asking IMS"
    assert token_file_of(emu, token_dir).read() == new, "an entry that is not the refused token stays"
    assert TOKEN_CACHE.get(settings_of(emu).token_cache_key) == new.token


def test_a_refused_token_is_dropped_from_the_file(emu, token_dir):
    AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)
    old = token_file_of(emu, token_dir).read()
    emu.revoke_tokens()
    emu.inject("status", status=503, method="POST", path="/ims/token/v3", max_count=10)

    with pytest.raises(FlowServiceError, match="503"):
        AdobeFlowServiceHook(retry_policy=AdobeFlowServiceHook.retry_policy.single_attempt()).get_flow(TABLE_FLOW_ID)

    assert old is not None
    assert token_file_of(emu, token_dir).read() is None, "the refused token is gone from the file too"


@pytest.mark.parametrize("stale", ["expired", "corrupt"])
def test_an_expired_or_corrupt_entry_is_fetched_again(emu, token_dir, stale):
    AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)
    entry = token_file_of(emu, token_dir)
    old = entry.read()
    if stale == "expired":
        entry.write(StoredToken(old.token, expires_at=time.time() + 60, lifetime=3600))  # within the refresh margin
    else:
        entry.path.write_bytes(b"not a Fernet token")
    TOKEN_CACHE.clear()  # a new process

    AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)

    assert emu.token_requests == 2
    fresh = entry.read()
    assert fresh is not None
    assert fresh.token != old.token
    assert fresh.expires_at - time.time() > 3600, "an absolute wall-clock expiry a day ahead"


def test_the_event_loop_never_waits_on_the_file_and_one_coroutine_per_loop_uses_it(emu, token_dir, monkeypatch):
    AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)  # the machine has a token
    TOKEN_CACHE.clear()
    file_work: list[str] = []

    def on_loop() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    for name in ("locked", "read", "write", "drop"):
        original = getattr(TokenFile, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            assert not on_loop(), f"TokenFile.{_name} ran in the event loop"
            file_work.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(TokenFile, name, spy)

    async def many_readers():
        async with AdobeFlowServiceAsyncHook() as hook:
            return await asyncio.gather(*(hook.get_runs([str(uuid.uuid4())]) for _ in range(20)))

    asyncio.run(many_readers())

    assert emu.token_requests == 1, "the async hook took the file's token"
    assert file_work == ["locked", "read"], "one coroutine of the loop went to the file, the others waited"

    emu.revoke_tokens()
    file_work.clear()
    asyncio.run(many_readers())

    assert emu.token_requests == 2, "one new token after the refusal"
    assert "drop" in file_work
    assert "write" in file_work
