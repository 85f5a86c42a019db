"""Crash-safe file helpers for the certificate authority.

Every file is written to a temporary name in its final directory, flushed with
``fsync`` and moved into place with ``os.replace``; the directory is then
synced so that the rename itself survives a power cut. Readers therefore see
either the old file or the complete new one, never a torn one.

Errors are raised as :class:`~gateway.errors.PkiError` naming the file, so the
CLI can show them to an admin as they are.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from gateway.errors import PkiError

__all__ = [
    "TEMP_MARKER",
    "describe_os_error",
    "exclusive_lock",
    "fsync_dir",
    "make_dir",
    "read_secret_file",
    "remove_tree",
    "rename",
    "write_file_atomic",
]

# Temporary files carry this marker so that recovery can find and delete the
# ones a crash left behind.
TEMP_MARKER = ".tmp-"

PRIVATE_FILE_MODE = 0o600
PUBLIC_FILE_MODE = 0o644
PRIVATE_DIR_MODE = 0o700


def describe_os_error(path: Path, exc: OSError) -> str:
    """A one-line description of ``exc`` naming ``path``."""
    return f"{path}: {exc.strerror or exc}"


def fsync_dir(path: Path) -> None:
    """Flush a directory entry so that renames inside it are durable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise PkiError(f"cannot open folder {describe_os_error(path, exc)}") from exc
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomic(path: Path, data: bytes, *, mode: int = PUBLIC_FILE_MODE) -> None:
    """Write ``data`` to ``path`` atomically with permission bits ``mode``.

    The mode is set before any byte is written, so a private key is never
    readable by others, not even for an instant.
    """
    temp = path.with_name(f".{path.name}{TEMP_MARKER}{secrets.token_hex(4)}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise PkiError(f"cannot write {describe_os_error(path, exc)}") from exc
    try:
        try:
            os.fchmod(fd, mode)  # The umask may have removed bits we want.
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise PkiError(f"cannot write {describe_os_error(path, exc)}") from exc
    fsync_dir(path.parent)


def make_dir(path: Path, *, mode: int = PRIVATE_DIR_MODE) -> None:
    """Create ``path`` (and missing parents) with ``mode``; fine if it exists."""
    try:
        path.mkdir(mode=mode, parents=True, exist_ok=True)
    except OSError as exc:
        raise PkiError(f"cannot create folder {describe_os_error(path, exc)}") from exc


def rename(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target`` and make the change durable."""
    try:
        os.rename(source, target)
    except OSError as exc:
        raise PkiError(
            f"cannot move {source} to {target}: {exc.strerror or exc}"
        ) from exc
    fsync_dir(target.parent)
    if source.parent != target.parent:
        fsync_dir(source.parent)


def remove_tree(path: Path) -> None:
    """Delete a file or folder tree if it exists."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise PkiError(f"cannot remove {describe_os_error(path, exc)}") from exc


def read_secret_file(path: Path, *, what: str) -> bytes:
    """Read a passphrase or password file, without its final line break.

    Admins often create these files with an editor that adds a newline, so one
    trailing ``\\n`` or ``\\r\\n`` is not part of the secret.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise PkiError(f"{what} file {path} does not exist") from exc
    except OSError as exc:
        raise PkiError(
            f"cannot read {what} file {describe_os_error(path, exc)}"
        ) from exc
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise PkiError(f"{what} file {path} is empty: put the {what} in it")
    return data


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing).

    Two admins running ``vcgw ca`` at once must not see each other's staging
    folders as crash leftovers; the lock makes the commands take turns.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    except OSError as exc:
        raise PkiError(f"cannot open lock file {describe_os_error(path, exc)}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # Closing the descriptor releases the lock.
