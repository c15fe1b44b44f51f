"""The runner's decoder: a row of the log straight to the domain event the mapper gives.

``ledger.mapper.to_domain_event`` takes a ``Notification`` (a frozen dataclass: ~2.3 us
to build, per event) and looks up the event's class and id convertor on every call.
Catch-up decodes every event of the log, so this does the same work once per topic
and once per row, from the plain tuple the recorder reads (``select_log``): the same
transcoder, the same class, the same ``__dict__`` (originator id and version set,
``class_version`` popped), so each projection sees exactly what the mapper would
give. ``tests/integration/test_log_decoder.py`` pins that for every event type the
domain stores. A mapper with a cipher or a compressor, or an event class that
upcasts, is handed to the mapper itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from eventsourcing.persistence import StoredEvent, find_id_convertor
from eventsourcing.utils import resolve_topic

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from uuid import UUID

    from eventsourcing.persistence import Mapper

LogRow = tuple[int, "UUID", int, str, bytes]
"""One event of the log as ``select_log`` reads it: position, originator id and
version, topic, encoded state."""

_Kind = tuple[type[Any], "Callable[[Any], Any]"] | None
"""How to build one topic's events: its class and id convertor, or ``None`` when the
mapper must (an upcast)."""


class LogDecoder:
    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        self._decode_state = mapper.transcoder.decode
        self._plain = mapper.cipher is None and mapper.compressor is None
        self._kinds: dict[str, _Kind] = {}

    def _kind(self, topic: str, originator_id: Any) -> _Kind:
        cls = resolve_topic(topic)  # raises for an unknown topic, as the mapper does
        kind: _Kind = None
        if self._plain and getattr(cls, "class_version", 1) == 1:
            kind = (cls, find_id_convertor(cls, cast("Hashable", type(originator_id))))
        self._kinds[topic] = kind
        return kind

    def decode(self, row: LogRow) -> Any:
        """The domain event of one log row, equal to the mapper's."""
        _, originator_id, version, topic, state = row
        try:
            kind = self._kinds[topic]
        except KeyError:
            kind = self._kind(topic, originator_id)
        if kind is None:
            return self.mapper.to_domain_event(StoredEvent(originator_id, version, topic, state))
        event_state: dict[str, Any] = self._decode_state(state)
        event_state["originator_id"] = kind[1](originator_id)
        event_state["originator_version"] = version
        event_state.pop("class_version", None)
        event = object.__new__(kind[0])
        object.__setattr__(event, "__dict__", event_state)
        return event
