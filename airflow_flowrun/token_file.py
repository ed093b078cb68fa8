"""The machine's IMS token file: one encrypted file per credential, shared by the processes of one user.

Every task try, reschedule poke and resume from deferral is a new process; without this file each
would ask IMS for a new token. :mod:`airflow_flowrun.auth` keeps its in-process cache in front and
comes here only when that has no valid token. What this module promises:

- **Where.** ``[aep_flowrun] token_cache_dir`` (``AIRFLOW__AEP_FLOWRUN__TOKEN_CACHE_DIR``), by
  default ``$XDG_CACHE_HOME/airflow-flowrun/ims-tokens`` or ``~/.cache/airflow-flowrun/ims-tokens``.
  The directory is created with mode 0700 and refused when it is not a directory of the current
  user, or is writable by its group or others. ``[aep_flowrun] token_cache = process`` turns the
  file off (each process then asks IMS once per token lifetime).
- **What.** Per credential a ``<digest>.token`` file (mode 0600) and a ``<digest>.lock`` file; the
  digest is SHA-256 of the cache key (token URL, client id, scopes, digest of the secret), so the
  name reveals neither the client id nor the secret. The content is a Fernet token (AES-128-CBC,
  HMAC-SHA256) under a key derived with HKDF-SHA256 from the client secret: without the secret the
  file is useless, and a connection with another secret cannot read it. The secret is never written.
- **Concurrency.** :meth:`TokenFile.locked` holds ``fcntl.flock`` on the lock file, so one process
  asks IMS while the others wait and then read its answer; writes go to a temporary file moved into
  place with ``os.replace``, so a reader sees the old or the new token, never half of one.
- **Failure.** A directory that cannot be used logs one warning per process and reason; the caller
  then keeps to its in-process cache. An unreadable, undecryptable or malformed file is a miss.

All of this is blocking I/O: the async hook calls it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from airflow_flowrun._compat import conf

log = logging.getLogger(__name__)

CONFIG_SECTION = "aep_flowrun"
#: ``[aep_flowrun] token_cache``: ``file`` (the default) shares tokens through the file, ``process`` does not.
SHARED_MODE, PROCESS_MODE = "file", "process"
#: Below ``$XDG_CACHE_HOME`` (or ``~/.cache``) when ``token_cache_dir`` is not set.
DEFAULT_SUBDIRECTORY = Path("airflow-flowrun", "ims-tokens")
#: Salt of the key derivation: versioned, so a future format can never read an old file by mistake.
_KDF_SALT = b"airflow-flowrun ims token file v1"
#: A token file is a few hundred bytes; anything much larger is not ours.
_MAX_FILE_SIZE = 64 * 1024

_warned: set[str] = set()


@dataclass(frozen=True)
class StoredToken:
    """An access token and when it dies, in wall-clock time (the only clock that processes share).

    :param token: the access token
    :param expires_at: ``time.time()`` at which IMS said the token expires
    :param lifetime: the seconds IMS gave it when it was issued (the refresh margin depends on it)
    """

    token: str
    expires_at: float
    lifetime: float

    @classmethod
    def fresh(cls, token: str, expires_in: float) -> StoredToken:
        """A token IMS has just issued, valid for ``expires_in`` seconds from now."""
        return cls(token, time.time() + expires_in, expires_in)


def file_cache_enabled() -> bool:
    """Whether ``[aep_flowrun] token_cache`` asks for the token file (no I/O: safe in the event loop).

    A value other than ``file`` or ``process`` logs one warning and keeps tokens in the process.
    """
    mode = conf.get(CONFIG_SECTION, "token_cache", fallback=SHARED_MODE).strip().lower()
    if mode not in (SHARED_MODE, PROCESS_MODE):
        _warn_once(
            f"mode:{mode}",
            "[%s] token_cache is %r, not %r or %r: IMS tokens are cached in this process only",
            CONFIG_SECTION, mode, SHARED_MODE, PROCESS_MODE,
        )  # fmt: skip
    return mode == SHARED_MODE


def shared_directory() -> Path | None:
    """The private token directory to use, created if needed; None when the file cache is off or unusable.

    An unusable directory (cannot be created, not the user's own, writable by others) logs one
    warning per process and answers None, never raises.
    """
    if not file_cache_enabled():
        return None
    try:
        directory = _configured_directory()
        _ensure_private(directory)
    except (OSError, ValueError, RuntimeError) as err:  # RuntimeError: Path.home() for a user without a home
        _warn_once(f"dir:{err}", "IMS tokens are cached in this process only: no usable token directory (%s)", err)
        return None
    return directory


class TokenFile:
    """The token file of one credential in a private directory (see the module docstring).

    :param directory: a directory :func:`shared_directory` answered
    :param key: the connection's ``token_cache_key``
    :param secret: the client secret, from which the encryption key is derived (never stored)
    """

    def __init__(self, directory: Path, key: tuple[str, ...], secret: str) -> None:
        name = hashlib.sha256("\n".join(key).encode()).hexdigest()
        self.path = directory / f"{name}.token"
        self.lock_path = directory / f"{name}.lock"
        kdf = HKDF(algorithm=SHA256(), length=32, salt=_KDF_SALT, info=name.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(kdf.derive(secret.encode())))

    @classmethod
    def of(cls, key: tuple[str, ...], secret: str) -> TokenFile | None:
        """The credential's token file, or None when the file cache is off or unusable."""
        directory = shared_directory()
        return None if directory is None else cls(directory, key, secret)

    @contextmanager
    def locked(self) -> Iterator[bool]:
        """Hold the credential's lock for the block (waiting for another process to release it).

        Yields False, after one warning, when the lock file cannot be used: the caller then goes
        ahead on its own, as if there were no file.
        """
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as err:
            _warn_once(f"lock:{self.lock_path.parent}", "IMS token file not shared: cannot open its lock (%s)", err)
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as err:  # e.g. ENOLCK on a network file system
                _warn_once(f"lock:{self.lock_path.parent}", "IMS token file not shared: cannot lock it (%s)", err)
                yield False
            else:
                yield True
        finally:
            os.close(fd)  # releases the lock

    def read(self) -> StoredToken | None:
        """The stored token, or None when there is none or it cannot be read, decrypted or understood."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as stored:
                sealed = stored.read(_MAX_FILE_SIZE + 1)
        except FileNotFoundError:
            return None
        except OSError as err:
            log.debug("IMS token file %s unreadable (%s): treated as a miss", self.path, type(err).__name__)
            return None
        if len(sealed) > _MAX_FILE_SIZE:
            return None
        try:
            fields = json.loads(self._fernet.decrypt(sealed))
            entry = StoredToken(str(fields["token"]), float(fields["expires_at"]), float(fields["lifetime"]))
        except (InvalidToken, ValueError, TypeError, KeyError) as err:
            log.debug("IMS token file %s not usable (%s): treated as a miss", self.path, type(err).__name__)
            return None
        return entry

    def write(self, entry: StoredToken) -> None:
        """Replace the stored token atomically; a failure logs one warning and is otherwise ignored."""
        sealed = self._fernet.encrypt(
            json.dumps({"token": entry.token, "expires_at": entry.expires_at, "lifetime": entry.lifetime}).encode()
        )
        try:
            fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        except OSError as err:
            _warn_once(f"write:{self.path.parent}", "IMS token file not written (%s): tokens not shared", err)
            return
        try:
            with os.fdopen(fd, "wb") as staged:  # mkstemp made it 0600
                staged.write(sealed)
            os.replace(temporary, self.path)
        except OSError as err:
            _warn_once(f"write:{self.path.parent}", "IMS token file not written (%s): tokens not shared", err)
            Path(temporary).unlink(missing_ok=True)

    def drop(self, token: str) -> None:
        """Delete the stored token if it is still ``token`` (another process may have replaced it already)."""
        stored = self.read()
        if stored is None or stored.token != token:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError as err:
            log.debug("IMS token file %s not deleted (%s)", self.path, type(err).__name__)


def _configured_directory() -> Path:
    configured = conf.get(CONFIG_SECTION, "token_cache_dir", fallback="").strip()
    if configured:
        directory = Path(configured).expanduser()
        if not directory.is_absolute():  # each process may run in another working directory
            raise ValueError(f"[{CONFIG_SECTION}] token_cache_dir {configured!r} is not an absolute path")
        return directory
    xdg_cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg_cache) if os.path.isabs(xdg_cache) else Path.home() / ".cache"
    return base / DEFAULT_SUBDIRECTORY


def _ensure_private(directory: Path) -> None:
    """Create ``directory`` (0700) if needed; raise ``PermissionError`` unless only this user can write to it."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = os.stat(directory)
    if not stat.S_ISDIR(status.st_mode):
        raise NotADirectoryError(f"{directory} is not a directory")
    if status.st_uid != os.getuid():
        raise PermissionError(f"{directory} belongs to uid {status.st_uid}, not to this user (uid {os.getuid()})")
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(f"{directory} is writable by its group or others (mode {stat.S_IMODE(status.st_mode):o})")


def _warn_once(reason: str, message: str, *args: object) -> None:
    if reason not in _warned:
        _warned.add(reason)
        log.warning(message, *args)
