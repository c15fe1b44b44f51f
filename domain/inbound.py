"""Inbound SMS: what makes one well formed, what its body asks for, and its aggregate.

SMS come from the gateway as plain mappings (``to``: our virtual number, ``from``: the
sender's MSISDN, ``body``, ``at``: the carrier's time, ``gateway_ref``: the gateway's own
id of the SMS). A malformed one is an ``invalid`` outcome with its reason, for that SMS
alone, never an error for its whole batch.

Each SMS is one ``InboundMessage`` aggregate whose id is derived from its
``gateway_ref`` (``inbound_id_for``): the same SMS posted twice, even by two requests at
once, is one aggregate, so the second is a ``duplicate`` and nothing it would do is done
twice (the store lets one creation in; the other's transaction conflicts and, tried
again, finds it).

What a body asks for (``classify``): a first word ``STOP`` or ``STOPP`` in any case
(extra words allowed) is an opt-out; ``Save <first> <last> <group>`` (exactly three
words after ``Save``, any case) saves the sender as a contact; anything else is just a
message.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from eventsourcing.domain import Aggregate, event

from smsledger.domain.addressing import normalise_msisdn
from smsledger.domain.errors import InvalidRecipientError
from smsledger.domain.text import describe, illegal_character
from smsledger.domain.times import WINDOW, in_window

if TYPE_CHECKING:
    from collections.abc import Sequence

MAX_INBOUND = 10_000
"""The most SMS one batch may carry."""
MAX_INBOUND_BODY = 1_600
"""Characters of a body: ten concatenated parts of 160, more than any handset sends."""
MAX_GATEWAY_REF = 200

InboundAction = Literal["opt_out", "contact_saved"]
_INBOUND = uuid.UUID("8d3f2b6a-0c4e-4a7f-b1d2-5e9c6a0f3b18")
_STOP_WORDS = frozenset({"stop", "stopp"})
# Punctuation a person may put after the word ("STOP.", "Stopp!"): still the word.
_TRAILING = ".,;:!?"
# Line breaks and form feed are text in an SMS (as in a body we send); every other
# control character is refused, so none is ever stored.
_TEXT_CONTROLS = str.maketrans("\n\r\f", "   ")


def inbound_id_for(gateway_ref: str) -> uuid.UUID:
    """One aggregate per SMS the gateway knows: its reference is the idempotency key."""
    return uuid.uuid5(_INBOUND, gateway_ref)


@dataclass(frozen=True, slots=True)
class OptOut:
    """``STOP``: put the sender on the block list (if the account's stop service is on)."""


@dataclass(frozen=True, slots=True)
class SaveContact:
    """``Save <first> <last> <group>``: save the sender as a contact in that group."""

    first_name: str
    last_name: str
    group: str


Command = OptOut | SaveContact | None


def classify(body: str) -> Command:
    """What an inbound body asks for: ``OptOut``, ``SaveContact`` or ``None``.

    Words are split on whitespace. STOP/STOPP is the first word in any case, trailing
    punctuation ignored, whatever follows. ``Save`` (any case) needs exactly three more
    words: first name, last name, group; more or fewer is a plain message.
    """
    words = body.split()
    if not words:
        return None
    first = words[0].rstrip(_TRAILING).casefold()
    if first in _STOP_WORDS:
        return OptOut()
    if words[0].casefold() == "save" and len(words) == 4:
        return SaveContact(words[1], words[2], words[3])
    return None


@dataclass(frozen=True, slots=True)
class IncomingSms:
    """One well-formed inbound SMS: numbers in E.164, the carrier's time in UTC, and
    the id of its aggregate (``inbound_id_for(gateway_ref)``, computed once)."""

    to: str
    sender: str
    body: str
    at: datetime
    gateway_ref: str
    id: uuid.UUID = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", inbound_id_for(self.gateway_ref))


@functools.lru_cache(maxsize=65_536)
def _number(raw: str) -> str:
    """``normalise_msisdn`` remembered: a batch names a few virtual numbers a thousand
    times, and a validity check costs ~0.1 ms (two fifths of taking an SMS)."""
    return normalise_msisdn(raw)


def parse_inbound(item: object) -> IncomingSms | str:
    """A well-formed SMS, or the reason it is not (its ``invalid`` outcome).

    Well formed: ``gateway_ref`` a one-line string of 1-200 characters; ``to`` and
    ``from`` valid MSISDNs (as the send path reads them); ``body`` a string of at most
    1,600 characters with no control character but line breaks; ``at`` an ISO 8601
    time with an offset inside the ledger's window.
    """
    if not isinstance(item, dict):
        return "each SMS must be an object"
    ref = item.get("gateway_ref")
    if not isinstance(ref, str) or not 1 <= len(ref) <= MAX_GATEWAY_REF:
        return f"gateway_ref must be a string of 1-{MAX_GATEWAY_REF} characters"
    bad = illegal_character(ref)
    if bad is not None:
        return f"gateway_ref holds {describe(bad)}, a control or non-text character"
    to, sender = item.get("to"), item.get("from")
    if not isinstance(to, str) or not isinstance(sender, str):
        which = "to" if not isinstance(to, str) else "from"
        return f"{which}: must be a string of digits (an MSISDN)"
    try:
        to = _number(to)
    except InvalidRecipientError as e:
        return f"to: {e}".replace("recipient", "number")
    try:
        sender = _number(sender)
    except InvalidRecipientError as e:
        return f"from: {e}".replace("recipient", "number")
    body = item.get("body")
    if not isinstance(body, str) or len(body) > MAX_INBOUND_BODY:
        return f"body must be a string of at most {MAX_INBOUND_BODY} characters"
    bad = illegal_character(body.translate(_TEXT_CONTROLS))
    if bad is not None:
        return f"body holds {describe(bad)}, a control or non-text character"
    at = _aware(item.get("at"))
    if at is None:
        return f"at must be a time {WINDOW}"
    return IncomingSms(to, sender, body, at, ref)


def _aware(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return in_window(value)


class InboundMessage(Aggregate):
    """One SMS received on a virtual number, with what it did: ``action`` (``opt_out``,
    ``contact_saved`` or ``None``) and the messages its opt-out canceled."""

    TOPIC = "smsledger:InboundMessage"

    class Created(Aggregate.Created):
        TOPIC = "smsledger:InboundMessage.Created"

    @event("Received", topic="smsledger:InboundMessage.Received")
    def __init__(
        self,
        id: uuid.UUID,
        account_id: uuid.UUID,
        to: str,
        sender: str,
        body: str,
        at: datetime,
        gateway_ref: str,
        action: InboundAction | None,
        canceled: list[str],
        timestamp: datetime,
    ) -> None:
        self.account_id = account_id
        self.to = to
        self.sender = sender
        self.body = body
        self.at = at
        self.gateway_ref = gateway_ref
        self.action: InboundAction | None = action
        self.canceled = canceled

    @classmethod
    def receive(
        cls,
        sms: IncomingSms,
        account_id: uuid.UUID,
        action: InboundAction | None,
        canceled: Sequence[uuid.UUID],
        timestamp: datetime,
    ) -> InboundMessage:
        return cls._create(
            cls.Received,  # type: ignore[attr-defined]
            id=sms.id,
            account_id=account_id,
            to=sms.to,
            sender=sms.sender,
            body=sms.body,
            at=sms.at,
            gateway_ref=sms.gateway_ref,
            action=action,
            canceled=[m.hex for m in canceled],
            timestamp=timestamp,
        )
