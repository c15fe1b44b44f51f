"""Writes to one account take turns in arrival order; a turn that never comes is a 409."""

from __future__ import annotations

import threading
import time

import pytest

from smsledger.application.ledger import Turns
from smsledger.domain.errors import ConcurrentUpdateError


def _wait_until(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.001)


def test_writers_to_one_account_are_served_in_the_order_they_came() -> None:
    turns = Turns()
    served: list[int] = []
    threads = []
    with turns.turn("acme"):
        for i in range(8):

            def write(i: int = i) -> None:
                with turns.turn("acme"):
                    served.append(i)

            t = threading.Thread(target=write)
            t.start()
            threads.append(t)
            # The next one queues only once this one holds its ticket.
            _wait_until(lambda i=i: turns._lines["acme"].next_ticket == i + 2)
        assert served == []  # nobody writes while the turn is held
    for t in threads:
        t.join(5)
    assert served == list(range(8))
    assert turns._lines == {}  # an empty line is forgotten


def test_another_account_does_not_wait() -> None:
    turns = Turns(timeout=0.05)
    with turns.turn("acme"), turns.turn("globex"):
        pass


def test_a_turn_that_does_not_come_in_time_is_a_conflict_and_leaves_the_line() -> None:
    turns = Turns(timeout=0.05)
    failed: list[BaseException] = []

    def impatient() -> None:
        try:
            with turns.turn("acme"):
                pass
        except ConcurrentUpdateError as e:
            failed.append(e)

    with turns.turn("acme"):
        t = threading.Thread(target=impatient)
        t.start()
        t.join(5)
    assert len(failed) == 1
    # The abandoned ticket does not hold up the next writer.
    started = time.monotonic()
    with turns.turn("acme"):
        pass
    assert time.monotonic() - started < 0.05
    assert turns._lines == {}


def test_an_error_inside_a_turn_passes_it_on() -> None:
    turns = Turns(timeout=0.05)
    with pytest.raises(ValueError, match="boom"), turns.turn("acme"):
        raise ValueError("boom")
    with turns.turn("acme"):
        pass
