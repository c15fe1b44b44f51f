"""``leased``: a worker runs only while its lease is held, and stops when it is lost."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import pytest

from smsledger.adapters import locks
from smsledger.adapters.locks import Lease, leased

if TYPE_CHECKING:
    from collections.abc import Callable


class FakeLease(Lease):
    """Held from ``acquire`` until ``lose()`` (a restarted database) or ``release``."""

    def __init__(self) -> None:
        self.name = "fake"
        self.acquired = 0
        self.released = 0
        self._held = False

    def acquire(self, stop: threading.Event) -> bool:
        self.acquired += 1
        self._held = True
        return True

    def held(self) -> bool:
        return self._held

    def lose(self) -> None:
        self._held = False

    def release(self) -> None:
        self.released += 1
        self._held = False


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "LEASE_CHECK_SECONDS", 0.01)


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert condition(), "timed out"


def test_a_lost_lease_stops_the_worker_and_it_runs_again_once_retaken() -> None:
    lease = FakeLease()
    runs: list[threading.Event] = []

    def worker(stop: threading.Event) -> None:
        runs.append(stop)
        stop.wait()

    stop = threading.Event()
    thread = threading.Thread(target=leased(lease, worker), args=(stop,))
    thread.start()
    _until(lambda: len(runs) == 1)
    lease.lose()
    # The first run is told to stop, the lease given up, taken again, and a second run
    # starts: never two runs at once.
    _until(lambda: len(runs) == 2)
    assert runs[0].is_set()
    assert not runs[1].is_set()
    assert lease.acquired == 2
    assert lease.released == 1
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert runs[1].is_set()
    assert lease.released == 2


def test_a_run_that_ends_by_itself_ends_the_leased_worker_and_gives_up_the_lease() -> None:
    lease = FakeLease()
    leased(lease, lambda stop: None)(threading.Event())
    assert (lease.acquired, lease.released) == (1, 1)


def test_a_run_that_fails_raises_its_error_after_giving_up_the_lease() -> None:
    lease = FakeLease()

    def broken(stop: threading.Event) -> None:
        msg = "boom"
        raise RuntimeError(msg)

    with pytest.raises(RuntimeError, match="boom"):
        leased(lease, broken)(threading.Event())
    assert lease.released == 1
