"""Event state to bytes and back with orjson.

orjson writes UUIDs and datetimes natively but reads them back as strings, so both
are tagged on the way out (``{"_type_": ..., "_data_": ...}``, the library's own
convention) and restored on the way in. Tuples come back as lists.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder

_UUID = "uuid_hex"
_DATETIME = "datetime_iso"
_SET = "set"


_PLAIN = frozenset({str, int, bool, float, type(None)})


def _tag(obj: Any) -> Any:
    # Hot path of every save (a 10,000-recipient send encodes 20,000 events and two
    # events with 10,000 entries each): a container that holds only plain values is
    # handed to orjson as it is, not copied, and only the others are rebuilt.
    t = type(obj)
    if t in _PLAIN:
        return obj
    if t is UUID:
        return {"_type_": _UUID, "_data_": obj.hex}
    if t is datetime:
        return {"_type_": _DATETIME, "_data_": obj.isoformat()}
    if t is dict:
        for v in obj.values():
            if type(v) not in _PLAIN:
                return {k: v if type(v) in _PLAIN else _tag(v) for k, v in obj.items()}
        return obj
    if t is list or t is tuple:
        for v in obj:
            if type(v) not in _PLAIN:
                return [v if type(v) in _PLAIN else _tag(v) for v in obj]
        return obj  # orjson writes a tuple as an array too
    if t is set or t is frozenset:
        return {"_type_": _SET, "_data_": [_tag(v) for v in obj]}
    if isinstance(obj, str):  # StrEnum and friends
        return str(obj)
    msg = f"cannot store a {t.__name__} in an event"
    raise TypeError(msg)


def _untag(obj: Any) -> Any:
    # Hot path of every load (report ingest decodes thousands of events a batch): the
    # freshly parsed containers are restored in place, and only containers recursed into.
    t = type(obj)
    if t is dict:
        if "_type_" in obj and len(obj) == 2 and "_data_" in obj:
            kind, data = obj["_type_"], obj["_data_"]
            if kind == _UUID:
                return _uuid(data)
            if kind == _DATETIME:
                return _datetime(data)
            if kind == _SET:
                return {_hashable(_untag(v)) for v in data}
        for k, v in obj.items():
            tv = type(v)
            # Replacing a value never resizes the dict. A tagged UUID or datetime (two
            # in most events) is restored here, without a call for its little dict.
            if tv is dict:
                if len(v) == 2 and "_type_" in v and "_data_" in v:
                    kind = v["_type_"]
                    if kind == _UUID:
                        obj[k] = _uuid(v["_data_"])
                        continue
                    if kind == _DATETIME:
                        obj[k] = _datetime(v["_data_"])
                        continue
                obj[k] = _untag(v)
            elif tv is list:
                obj[k] = _untag(v)
        return obj
    if t is list:
        for i, v in enumerate(obj):
            tv = type(v)
            if tv is dict or tv is list:
                obj[i] = _untag(v)
        return obj
    return obj


# The same few values recur across the events loaded together (one account and batch
# id, one timestamp per batch, on every message of it): parsing each once saves most
# of the restore. Both types are immutable, so sharing one object is safe.
@functools.lru_cache(maxsize=4096)
def _uuid(hex_: str) -> UUID:
    return UUID(hex_)


@functools.lru_cache(maxsize=4096)
def _datetime(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _hashable(obj: Any) -> Any:
    return tuple(_hashable(v) for v in obj) if type(obj) is list else obj


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        # orjson hands back its ~4 KiB write buffer whatever the length; a batch keeps
        # 20,000 encoded events alive until it is saved, so an exact-size copy (0.3 us)
        # takes a 10,000-recipient send from ~163 to ~50 MiB at its peak.
        return bytes(memoryview(orjson.dumps(_tag(obj))))

    def decode(self, data: bytes) -> Any:
        return _untag(orjson.loads(data))
