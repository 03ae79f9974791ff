"""Atomic file writes and small JSON/JSONL helpers: a partial file never looks complete."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if os.path.isfile(tmp):  # mkstemp makes 0600; give the file the usual umask mode
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if needed); other holders wait."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def lock_path(path: str | Path) -> Path:
    """The lock file guarding output ``path`` (a file or a folder): ``.NAME.lock`` beside it."""
    path = Path(path)
    return path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def exclusive_outputs(paths: Iterable[str | Path]) -> Iterator[None]:
    """Hold a lock on every output path for the block; if another process holds one, fail at
    once (OutputBusyError) instead of letting the last writer win. Locks are flock()s, so a
    killed holder releases them; the lock files are removed on release."""
    from .errors import OutputBusyError
    held: list[tuple[Path, int]] = []
    made: list[Path] = []  # folders made for a lock: removed again if the block left them empty
    try:
        for path in dict.fromkeys(Path(p).absolute() for p in paths):
            lock = lock_path(path)
            missing = [d for d in (lock.parent, *lock.parent.parents) if not d.exists()]
            lock.parent.mkdir(parents=True, exist_ok=True)
            made += missing
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                same = os.path.exists(lock) and os.stat(lock).st_ino == os.fstat(fd).st_ino
            except BlockingIOError:
                same = False
            if not same:  # held, or removed by a holder that just finished: someone else's
                os.close(fd)
                raise OutputBusyError(f"{path} is being written by another process (lock "
                                      f"{lock}); wait for it to finish, or choose another output")
            held.append((lock, fd))
        yield
    finally:
        for lock, fd in reversed(held):
            with contextlib.suppress(OSError):
                os.unlink(lock)
            os.close(fd)
        for d in made:  # deepest first
            with contextlib.suppress(OSError):
                d.rmdir()


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _dumps(obj: Any, path: str | Path, **kw: Any) -> str:
    """JSON text; NaN/inf (not JSON) is an error naming the file, never written."""
    from .errors import DataError
    try:
        return json.dumps(obj, ensure_ascii=False, sort_keys=True, allow_nan=False, **kw)
    except ValueError as e:
        raise DataError(f"{path}: refusing to write a non-finite number ({e})") from e


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, _dumps(obj, path, indent=2) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """Rows as JSON lines, atomically; no rows is an error and ``path`` is left as it was."""
    from .errors import DataError
    text = "".join(_dumps(r, path) + "\n" for r in rows)
    if not text:
        raise DataError(f"{path}: nothing to write (no rows); the existing file is kept")
    atomic_write_text(path, text)


def read_text(path: str | Path, hint: str = "") -> str:
    """A file's UTF-8 text; unreadable files and bad UTF-8 are DataErrors naming the file
    (and the line); ``hint`` is appended to the message of a file that cannot be read."""
    from .errors import DataError
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror}){hint}") from e
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8") from e


def read_json(path: str | Path) -> Any:
    """A JSON file; errors name the file."""
    from .errors import DataError
    try:
        return json.loads(read_text(path))
    except ValueError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from e


def read_jsonl(path: str | Path) -> list[dict]:
    """One JSON object per non-empty line; errors name the file and line.

    Lines end at "\n" only: str.splitlines() would also split at U+2028, U+0085 and other
    separators that JSON strings may hold raw (a Gemma continuation did)."""
    from .errors import DataError
    text = read_text(path)
    rows = []
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise DataError(f"{path}:{i}: not valid JSON ({e})") from e
        if not isinstance(row, dict):
            raise DataError(f"{path}:{i}: expected a JSON object")
        rows.append(row)
    return rows
