"""The bulk send path writes byte for byte what the aggregate path writes, on both
databases.

``Ledger.send_batch`` builds its messages' rows from plain data
(``smsledger.application.bulk_send``); with ``bulk_send`` off it goes through the
aggregates and the library's mapper, the reference. For each generated batch the send
runs twice against the same account, the same clock and the same ids and tokens: the
aggregate path first, stopped at the recorder (what it hands over is kept, nothing is
written), then the bulk path, which writes. Everything handed to the recorder must be
equal (every event's topic, originator id and version and state bytes, in order, and
every ``message_states`` row), and what was written must read back as the same.
"""

from __future__ import annotations

import contextlib
import random
import string
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import smsledger.application.ledger as ledger_module
import smsledger.domain.batch as batch_module
import smsledger.domain.sending as sending_module
from smsledger.application.ledger import MESSAGE_STATE_FORMAT, Ledger
from tests.support import FakeClock

if TYPE_CHECKING:
    from collections.abc import Iterator


class StoppedError(Exception):
    """Raised by the recorder stand-in: the aggregate path's rows are kept, not written."""


MOBILES = ["+46701234567", "+46 70-765 43 21", "004670111 22 33", "+4791234567", "+4520123456"]
OTHERS = [
    "+12025550123",  # US: 403 without a campaign
    "+46812345678",  # Stockholm fixed line: 410
    "+1",  # 409
    "hello",  # 409
    "+46709999999",  # blocked: 405
    "+358401234567",  # Finland
]
BLOCKED = "+46709999999"
CHARS = string.ascii_letters + string.digits + ' .,!?"\\{}[]~^€éåäöÅÄÖ\n\t😀中'

batches = st.fixed_dictionaries(
    {
        "account": st.sampled_from(["prepaid", "post", "linked"]),
        "sender": st.sampled_from(
            ["Bench", "+46701234567", "Acme Ltd", "Shop&Co", "1", "", "ABCDEFGHIJKLM"]
        ),
        "recipients": st.lists(
            st.one_of(
                st.sampled_from(MOBILES + OTHERS),
                st.text("0123456789", min_size=8, max_size=13).map(lambda d: "+46" + d),
            ),
            min_size=1,
            max_size=12,
        ),
        "body": st.one_of(
            st.sampled_from(["Hi", "Hej då", "Price: 5€ {now}", "😀 emoji", "Win at the casino"]),
            st.text(CHARS, max_size=400),
            # Multi-part, either encoding, up to past the 10-part limit (408).
            st.builds(
                lambda unit, n: unit * n,
                st.sampled_from(["Hej ", "€", "😀", "ab\n", 'q"\\']),
                st.integers(1, 800),
            ),
        ),
        "validity_period": st.sampled_from([60, 3600, 259_200]),
        "send_at_minutes": st.one_of(st.none(), st.integers(-30, 60 * 24 * 40)),
        # Mostly none: a reference sent before is a replay, which writes nothing.
        "reference": st.one_of(
            st.none(), st.none(), st.none(), st.text(string.ascii_letters, min_size=1, max_size=20)
        ),
        "advance_hours": st.integers(0, 24 * 20),
        "seed": st.integers(0, 2**32),
    }
)

FIXED: dict[str, Any] = {
    "account": "post",
    "sender": "Bench",
    "recipients": MOBILES,
    "body": "Hi",
    "validity_period": 3600,
    "send_at_minutes": None,
    "reference": None,
    "advance_hours": 1,
    "seed": 1,
}


@contextlib.contextmanager
def seeded(seed: object) -> Iterator[None]:
    """The same message and batch ids and link tokens for both paths of one example."""
    rng = random.Random(str(seed))

    def uuid4() -> UUID:
        return UUID(int=rng.getrandbits(128), version=4)

    def time_ordered_id(now: datetime) -> UUID:  # a UUIDv7 (Python 3.11 has no version=7)
        bits = rng.getrandbits(128) & ~(0xF << 76 | 0x3 << 62)
        return UUID(int=bits | 0x7 << 76 | 0b10 << 62)

    def tokens() -> Iterator[str]:
        alphabet = string.ascii_letters + string.digits + "-_"
        while True:
            yield "".join(rng.choice(alphabet) for _ in range(16))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sending_module, "time_ordered_id", time_ordered_id)
        mp.setattr(batch_module, "uuid4", uuid4)
        mp.setattr(ledger_module, "_fresh_tokens", tokens)
        yield


def rows(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    stored = args[0]
    return {
        "events": [(e.originator_id, e.originator_version, e.topic, e.state) for e in stored],
        "message_states": list(kwargs.get("message_states", ())),
        "new_message_states": list(kwargs.get("new_message_states", ())),
        "state_format": kwargs.get("state_format"),
    }


def send(ledger: Ledger, account_id: UUID, batch: dict[str, Any], clock: FakeClock) -> Any:
    send_at = batch["send_at_minutes"]
    return ledger.send_batch(
        account_id,
        sender=batch["sender"],
        recipients=batch["recipients"],
        body=batch["body"],
        validity_period=batch["validity_period"],
        send_at=None if send_at is None else clock.now + timedelta(minutes=send_at),
        reference=batch["reference"],
    )


@pytest.fixture
def accounts(ledger: Ledger, clock: FakeClock) -> dict[str, UUID]:
    clock.set(clock.now.replace(day=28, hour=22))  # periods turn over as time advances
    prepaid = ledger.open_account("Prepaid").value.id
    ledger.top_up(prepaid, 1_000, "first")
    post = ledger.open_account("Post", payment_model="post_invoice", timezone="America/New_York")
    linked = ledger.open_account("Linked", payment_model="post_invoice").value.id
    ledger.set_stop_service(linked, sms_stop=False, unsubscribe_link=True)
    for account_id in (prepaid, post.value.id, linked):
        ledger.block_number(account_id, BLOCKED)
    return {"prepaid": prepaid, "post": post.value.id, "linked": linked}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=batches)
# Always tried, whatever is drawn: each outcome the bulk rows encode apart.
@example(  # UCS-2, three parts, the balance runs out: funded, then 402
    batch={**FIXED, "account": "prepaid", "recipients": MOBILES * 3, "body": "😀" * 100}
)
@example(  # the link, scheduled, a reference, every per-recipient rejection
    batch={
        **FIXED,
        "account": "linked",
        "recipients": MOBILES + OTHERS,
        "body": 'Sale "now" \\ €5\n' * 9,
        "send_at_minutes": 90,
        "reference": "spring",
    }
)
@example(batch={**FIXED, "sender": ""})  # a batch-wide rejection: no charge at all
@example(batch={**FIXED, "body": "x" * 1531})  # past ten parts: 408
def test_bulk_rows_equal_the_aggregate_rows(
    batch: dict[str, Any], ledger: Ledger, clock: FakeClock, accounts: dict[str, UUID]
) -> None:
    clock.advance(hours=batch["advance_hours"])
    account_id = accounts[batch["account"]]
    recorder: Any = ledger.recorder
    if batch["account"] == "prepaid":
        # A little each time: a batch is partly funded, then 402 for the rest.
        mark = recorder.max_notification_id()
        ledger.top_up(account_id, 100, f"top-up {batch['seed']} {mark}")
    insert = recorder.insert_events
    kept: list[dict[str, Any]] = []

    def stop(*args: Any, **kwargs: Any) -> Any:
        kept.append(rows(args, kwargs))
        raise StoppedError

    def write(*args: Any, **kwargs: Any) -> Any:
        kept.append(rows(args, kwargs))
        return insert(*args, **kwargs)

    before = recorder.max_notification_id() or 0
    reference = None
    with pytest.MonkeyPatch.context() as mp:
        ledger.bulk_send = False
        mp.setattr(recorder, "insert_events", stop)
        # Seeded per example: examples share the store, so ids must not repeat.
        with seeded((batch["seed"], before)), contextlib.suppress(StoppedError):
            reference = send(ledger, account_id, batch, clock)
        ledger.bulk_send = True
        mp.setattr(recorder, "insert_events", write)
        with seeded((batch["seed"], before)):
            receipt = send(ledger, account_id, batch, clock)
    assert ledger._bulk_checked is True
    if receipt.replayed:  # a reference sent before: nothing written by either path
        assert kept == []
        assert reference is not None
        assert reference.lines == receipt.lines
        return
    assert len(kept) == 2
    aggregate, bulk = kept
    assert bulk == aggregate
    # And it was written as given: read back from the store.
    written = recorder.select_notifications(before + 1, 100_000)
    assert [
        (n.originator_id, n.originator_version, n.topic, n.state) for n in written
    ] == aggregate["events"]
    ids = [UUID(line["id"]) for line in receipt.lines]
    current = recorder.select_current_many(ids, MESSAGE_STATE_FORMAT)
    assert [(i, *current[i][0]) for i in ids] == aggregate["new_message_states"]
    assert all(current[i][1] == [] for i in ids)
    assert len(aggregate["new_message_states"]) == len(batch["recipients"])


def test_a_batch_of_ten_thousand_is_the_same_both_ways(
    ledger: Ledger, clock: FakeClock, accounts: dict[str, UUID]
) -> None:
    """The size the COPY branches take (the bench's batch), link on."""
    recipients = [f"+4670{i:07d}" for i in range(10_000)]
    batch = {
        "sender": "Bench",
        "recipients": recipients,
        "body": "Hi",
        "validity_period": 3600,
        "send_at_minutes": None,
        "reference": None,
    }
    recorder: Any = ledger.recorder
    insert = recorder.insert_events
    kept: list[dict[str, Any]] = []

    def stop(*args: Any, **kwargs: Any) -> Any:
        kept.append(rows(args, kwargs))
        raise StoppedError

    with pytest.MonkeyPatch.context() as mp:
        ledger.bulk_send = False
        mp.setattr(recorder, "insert_events", stop)
        with seeded(7), contextlib.suppress(StoppedError):
            send(ledger, accounts["linked"], batch, clock)
        mp.setattr(recorder, "insert_events", insert)
        ledger.bulk_send = True
        before = recorder.max_notification_id() or 0
        with seeded(7):
            receipt = send(ledger, accounts["linked"], batch, clock)
    written = recorder.select_notifications(before + 1, 30_000)
    assert [(n.originator_id, n.originator_version, n.topic, n.state) for n in written] == kept[0][
        "events"
    ]
    assert len(written) == 20_002
    ids = [UUID(line["id"]) for line in receipt.lines]
    current = recorder.select_current_many(ids, MESSAGE_STATE_FORMAT)
    assert [(i, *current[i][0]) for i in ids] == kept[0]["new_message_states"]


def test_a_mapper_that_encodes_otherwise_sends_through_the_aggregates(
    ledger: Ledger, accounts: dict[str, UUID]
) -> None:
    """The probe: a compressing mapper's rows are not the bulk rows, so the ledger
    falls back to the aggregates, and the events still read back."""
    import zlib

    class Zlib:
        def compress(self, data: bytes) -> bytes:
            return zlib.compress(data)

        def decompress(self, data: bytes) -> bytes:
            try:
                return zlib.decompress(data)
            except zlib.error:  # stored before the compressor
                return data

    ledger.mapper.compressor = Zlib()  # type: ignore[assignment]
    receipt = ledger.send_batch(
        accounts["post"], sender="Bench", recipients=["+46701234567"], body="Hi"
    )
    assert ledger._bulk_checked is False
    message = ledger.get_message(UUID(receipt.lines[0]["id"]))
    assert message.status == 103
