"""A message's current-state row (``message_states``): what it holds and how it is read.

The row is derived: ``Ledger._record`` writes it from the message just saved, in the
transaction of its events, and a bulk load (``Ledger.get_messages``) reads it plus any
events after its version. It holds the attributes a library snapshot would (without id,
version and pending events, which its columns and an empty list give back), as plain
orjson: the fields of each kind are known, so no per-value type tags are written or
walked (about 2 us to encode a message and 3 to read one back, against 12 and 10 for
the event transcoder's tagged form, per message of a 1,000-report batch).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from smsledger.domain.message import Message

FORMAT = 1
"""The shape of a row: the attributes a ``Message`` has. Bump it when they change
(``tests/unit/test_message_state.py`` fails until you do): rows of an older format are
then ignored, and those messages are read by replaying their events until their next
save writes a new row."""

_UUIDS = ("account_id", "batch_id")
_TIMES = ("_created_on", "_modified_on", "send_at", "link_used_at")


def encode(message: Message) -> bytes:
    """The row's ``state`` for this message as it is now."""
    state = dict(vars(message))
    del state["_id"], state["_version"], state["_pending_events"]
    # orjson writes UUIDs and datetimes (RFC 3339, as ``isoformat``) itself; the one
    # set (``report_keys``, of (code, carrier time) pairs) goes as a list of pairs.
    return orjson.dumps(state, default=list)


def decode(message_id: UUID, version: int, data: bytes) -> Message:
    """The message a row describes: what replaying its events to ``version`` gives
    (``tests/integration/test_message_states.py`` compares the two on both stores)."""
    state: dict[str, Any] = orjson.loads(data)
    for name in _UUIDS:
        state[name] = _uuid(state[name])
    for name in _TIMES:
        if (value := state[name]) is not None:
            state[name] = _datetime(value)
    state["report_keys"] = {(code, at) for code, at in state["report_keys"]}
    state["_id"] = message_id
    state["_version"] = version
    state["_pending_events"] = []
    message = object.__new__(Message)
    object.__setattr__(message, "__dict__", state)
    return message


# One account and batch id, one timestamp per batch, recur across the rows loaded
# together; both types are immutable, so sharing one object is safe.
@functools.lru_cache(maxsize=4096)
def _uuid(text: str) -> UUID:
    return UUID(text)


@functools.lru_cache(maxsize=4096)
def _datetime(iso: str) -> datetime:
    return datetime.fromisoformat(iso)
