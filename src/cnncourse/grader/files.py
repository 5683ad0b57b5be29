"""The grader's file boundary: reading what a student (or a job) controls, writing the grader's output files."""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

SURROGATE = re.compile("[\ud800-\udfff]")


def printable(text: str) -> str:
    """Valid UTF-8 text for any name Python got from the file system (lone surrogates replaced)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def valid_utf8(value):
    """``value`` with every string (dict keys too) made valid UTF-8: a lone surrogate, which JSON can carry
    as ``\\udXXX`` but no UTF-8 file can hold, becomes U+FFFD. Lists and dicts are copied, recursively."""
    if isinstance(value, str):
        return SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [valid_utf8(item) for item in value]
    if isinstance(value, dict):
        return {valid_utf8(key): valid_utf8(item) for key, item in value.items()}
    return value


def size_text(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n} bytes"


def open_regular(path: Path):
    """A binary reader of a regular file, opened without following links and without blocking.

    Raises ``OSError`` for a link, a FIFO, a device or a folder (a FIFO never blocks the caller).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise OSError(f"{printable(Path(path).name)} is not a regular file")
    return handle


def read_regular(path: Path, limit: int, truncate: bool = False) -> bytes:
    """The bytes of a regular file (``open_regular``); at most ``limit``.

    Raises ``OSError`` (not a regular file) or, unless ``truncate`` (then the first ``limit`` bytes are
    returned), ``ValueError`` for a file larger than ``limit``.
    """
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit and not truncate:
            raise ValueError(f"file too large ({size_text(size)} > {size_text(limit)})")
        return handle.read(limit + 1)[:limit]


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` so that a reader sees the old file or the new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
