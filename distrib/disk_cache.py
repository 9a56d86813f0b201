"""A small on-disk cache of built pieces (feeds: calendar parts, body HTML) shared by runs on one data dir.

Safe by construction: a file is named by the sha256 of everything that determines its bytes (the caller
builds the key), so a changed input is a different name and stale bytes are never served. Files hold no
pickle, only a one-line header (format, key, sha256 of the payload) and the payload; a file that does not
check out is a miss and is rebuilt. Files are written to a temp file and renamed, never half-written.
Bounded: a build that wrote new files prunes the directory once it holds more than `max_files`, keeping
the files that build used. The directory is only a cache: deleting it at any time is safe.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger("distrib.disk_cache")

T = TypeVar("T")

FORMAT = 1  # of the file layout below; part of every key, so a new layout never reads an old file
MAX_FILES = 4096
SUFFIX = ".cache"
_MAGIC = b"distrib-cache"
_NAME = re.compile(r"^[0-9a-f]{64}\.cache$")
_TEMP = re.compile(r"^\.[0-9a-f]{64}\..*\.tmp$")

# Bytes already read or built in this process, per cache directory, by key: a running service touches
# the disk only for what changed. Trimmed to what the last build used (see DiskCache.prune).
_memory: dict[Path, dict[str, Any]] = {}
_memory_lock = threading.Lock()
_warned: set[Path] = set()


def cache_key(*parts: object) -> str:
    """sha256 over the reprs of `parts` (str, int, None, tuples of them, datetimes: deterministic reprs)."""
    digest = hashlib.sha256(repr((FORMAT, *parts)).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def forget_memory() -> None:
    """Drop the in-process layer (what a fresh process starts with); the files stay."""
    with _memory_lock:
        _memory.clear()


class DiskCache:
    """One build's use of a cache directory: `get` each piece, then `prune` once at the end.

    Not shared between builds: it records which keys this build used (kept by `prune`) and counts hits.
    """

    def __init__(self, directory: Path, *, max_files: int = MAX_FILES) -> None:
        self.directory = Path(directory)
        self.max_files = max_files
        self.used: set[str] = set()
        self.memory_hits = 0
        self.disk_hits = 0
        self.built = 0
        self.written = 0
        with _memory_lock:
            self._memory = _memory.setdefault(self.directory.resolve(), {})

    def get(
        self, key: str, build: Callable[[], T], encode: Callable[[T], bytes], decode: Callable[[bytes], T]
    ) -> T:
        """The value for `key`: from this process's memory, else from its file, else built and stored.

        `decode` must raise (any exception) on a payload it does not accept: that counts as a miss.
        """
        self.used.add(key)
        if key in self._memory:
            self.memory_hits += 1
            value: T = self._memory[key]
            return value
        payload = self._read(key)
        if payload is not None:
            try:
                value = decode(payload)
            except Exception as exc:
                log.debug("disk cache: %s does not decode (%s); rebuilding", self._path(key), exc)
            else:
                self.disk_hits += 1
                self._memory[key] = value
                return value
        value = build()
        self.built += 1
        self._write(key, encode(value))
        self._memory[key] = value
        return value

    def prune(self) -> list[str]:
        """After a build: keep memory to what it used; if it wrote files and the directory holds more than
        `max_files`, delete every cache file it did not use. Returns the names deleted."""
        for key in [k for k in self._memory if k not in self.used]:
            self._memory.pop(key, None)
        if not self.written:
            return []  # nothing new from us: the directory did not grow
        try:
            names = [entry.name for entry in os.scandir(self.directory)]
        except OSError:
            return []
        if len(names) <= self.max_files:
            return []
        keep = {key + SUFFIX for key in self.used}
        removed: list[str] = []
        for name in sorted(names):
            if name in keep or not (_NAME.match(name) or _TEMP.match(name)):
                continue
            try:
                (self.directory / name).unlink()
            except OSError:
                continue
            removed.append(name)
        log.debug("disk cache: pruned %d files in %s", len(removed), self.directory)
        return removed

    def _path(self, key: str) -> Path:
        return self.directory / (key + SUFFIX)

    def _read(self, key: str) -> bytes | None:
        """The payload of the key's file if its header checks out, else None (a miss)."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.debug("disk cache: %s unreadable (%s); rebuilding", path, exc)
            return None
        header, newline, payload = data.partition(b"\n")
        fields = header.split(b" ")
        if (
            not newline
            or len(fields) != 4
            or fields[0] != _MAGIC
            or fields[1] != str(FORMAT).encode()
            or fields[2] != key.encode()
            or fields[3] != hashlib.sha256(payload).hexdigest().encode()
        ):
            log.debug("disk cache: %s is corrupt or not ours; rebuilding", path)
            return None
        return payload

    def _write(self, key: str, payload: bytes) -> None:
        """Atomically (temp file + rename; no fsync: a lost or torn file is only a miss). Never raises."""
        digest = hashlib.sha256(payload).hexdigest()
        header = b" ".join([_MAGIC, str(FORMAT).encode(), key.encode(), digest.encode()])
        tmp: str | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{key}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(header + b"\n" + payload)
            os.replace(tmp, self._path(key))
            tmp = None
            self.written += 1
        except OSError as exc:
            if self.directory not in _warned:  # once per directory and process: a read-only disk is no error
                _warned.add(self.directory)
                log.warning("disk cache: cannot write in %s (%s); building without it", self.directory, exc)
            else:
                log.debug("disk cache: cannot write %s (%s)", self._path(key), exc)
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
