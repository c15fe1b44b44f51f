"""The memory trimmer gives the allocator's free pages back (glibc's ``malloc_trim``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from smsledger.adapters.memory import MemoryTrimmer

pytestmark = pytest.mark.skipif(not MemoryTrimmer().available, reason="no malloc_trim here")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_what_a_thread_freed_goes_back_to_the_system() -> None:
    kept: list[bytes] = []

    def churn() -> None:
        # ~200 MiB of 1 KiB rows in a thread's own heap, then all freed but every 64th:
        # the survivors pin the heap, so it cannot shrink from its top by itself.
        rows = [bytes(1000) + i.to_bytes(8, "big") for i in range(200_000)]
        kept.extend(rows[::64])
        del rows

    worker = threading.Thread(target=churn)
    worker.start()
    worker.join()
    trimmer = MemoryTrimmer()
    before = rss_mib()
    assert trimmer.trim_once()
    after = rss_mib()
    assert before - after > 100, (before, after)  # most of the ~190 MiB freed is returned
    assert len(kept) == 3125
    assert trimmer.trims == 1
    assert trimmer.longest < 1.0


def test_it_trims_every_interval_until_stopped() -> None:
    trimmer = MemoryTrimmer(interval=0.02)
    trimmer.start()
    deadline = time.monotonic() + 5
    while trimmer.trims < 3:
        assert time.monotonic() < deadline, "no trims within 5 s"
        time.sleep(0.01)
    trimmer.stop()
    done = trimmer.trims
    time.sleep(0.1)
    assert trimmer.trims == done  # stopped: no trim after
