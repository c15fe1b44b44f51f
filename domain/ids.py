"""Ids of the aggregates a send creates in bulk: time-ordered (UUIDv7, RFC 9562).

A message's id is the key of every index that grows with the traffic: its events'
``(originator_id, originator_version)``, its current-state row, its read-model row and
the read model's other indexes. Random (version 4) ids put each new message on a random
leaf page of each of them, so once the indexes outgrow the database's buffer cache every
insert reads a cold page, dirties it and, after a checkpoint, writes a full-page image
to the WAL: a send at 1,000,000 stored messages ran at ~0.7x the rate at 10,000. A
UUIDv7 starts with the Unix time in milliseconds, so a send's new keys land together at
the right edge of each index, the pages the previous send left hot.

The time is the one passed in (the domain never reads the clock); 74 bits stay random,
so an id is still not guessable from another, and ids of one millisecond are unordered
among themselves, which costs nothing (they share the same few leaf pages).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from uuid import UUID

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_RAND_B = (1 << 62) - 1


def time_ordered_id(now: datetime) -> UUID:
    """A version-7 UUID for an aggregate created at ``now`` (an aware datetime)."""
    ms = (now - _EPOCH) // _MS
    if not 0 <= ms < 1 << 48:
        msg = f"{now!r} is outside the UUIDv7 time range"
        raise ValueError(msg)
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits; 12 + 62 are used
    return UUID(int=ms << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62 | rand & _RAND_B)
