"""Giving freed memory back to the system, in a long-running process (``serve``).

A 10,000-recipient send or a page of projected events allocates tens of megabytes of
short-lived objects and frees them again. Python hands the bigger ones (encoded rows,
lists) to the C allocator, and glibc's keeps what they freed in its heaps, one heap per
thread that allocated (the API's worker threads, the projection runner's reader): free
for the next allocation of the same thread, but still resident. So ``serve``'s resident
size crept up with the traffic it had seen (250-273 MiB after 300,000 messages in
``bench.serve_rss``) without anything being alive. ``malloc_trim(0)`` returns the free
pages of every heap to the system (``madvise``); run every few seconds it brought the
same runs to 175-196 MiB (docs/performance.md, "Memory").

Only where the C library has it (glibc); elsewhere (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

TRIM_INTERVAL = 2.0
"""Seconds between two trims: a trim of a few hundred MiB of heaps takes well under a
millisecond to a few, holding each heap's lock meanwhile."""


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class MemoryTrimmer:
    """A daemon thread that trims the C allocator's heaps every ``interval`` seconds.
    ``available`` is ``False`` (and ``start`` does nothing) without ``malloc_trim``."""

    def __init__(self, interval: float = TRIM_INTERVAL) -> None:
        self.interval = interval
        self._trim = _malloc_trim()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.trims = 0
        self.longest = 0.0  # seconds, the longest trim so far

    @property
    def available(self) -> bool:
        return self._trim is not None

    def trim_once(self) -> bool:
        """Trim now; ``True`` if the allocator gave memory back."""
        if self._trim is None:
            return False
        started = time.perf_counter()
        released = bool(self._trim(0))
        self.longest = max(self.longest, time.perf_counter() - started)
        self.trims += 1
        return released

    def start(self) -> None:
        if self._trim is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="memory-trimmer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 1)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.trim_once()
            except Exception:  # never take the process down for this
                log.exception("memory trim failed")
                return
