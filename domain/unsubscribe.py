"""The unsubscribe link: what it looks like, which message it names, and what using it does.

With the account's ``unsubscribe_link`` on, every message that passes the rules gets
``LINK_SEPARATOR + base_url + "/u/" + token`` appended before it is segmented and
priced, so the recipient pays for what the handset shows and the Accepted event holds
the final body.

The token is 12 random bytes (96 bits), 16 base64url characters, made by the
application (the domain never draws randomness) and used once per message. The
message's id is derived from it (``message_id_for``, a one-way UUIDv5), so a click
finds its message, account and recipient with one read of the event store by id: no
lookup table to keep, nothing to wait for after the send commits, and the token is
stored nowhere but in the body itself. A message id, which the sender's API clients
see, does not give the token away.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from smsledger.domain.errors import ConflictError, UnsubscribeLinkNotFoundError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from smsledger.domain.account import Account
    from smsledger.domain.message import Message

TOKEN_BYTES = 12  # 96 bits of randomness
TOKEN_LENGTH = 16  # base64url of 12 bytes: no padding
LINK_PATH = "/u/"
# A line of its own: the link stays clickable whatever the body ends with, and a line
# feed is one GSM-7 septet (one UTF-16 unit in UCS-2).
LINK_SEPARATOR = "\n"
# Every token character is in the GSM-7 basic table and the BMP, so each costs one unit
# in either encoding: any token of this length segments exactly as this one does.
PLACEHOLDER_TOKEN = "A" * TOKEN_LENGTH
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16}")
_NAMESPACE = uuid5(NAMESPACE_URL, "https://smsledger.example/unsubscribe-link")
_SEEDED = hashlib.sha1(_NAMESPACE.bytes, usedforsecurity=False)

Outcome = Literal["unsubscribed", "already_unsubscribed"]


def is_token(value: object) -> bool:
    """Whether ``value`` has the shape of a token (checked before any lookup)."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def message_id_for(token: str) -> UUID:
    """The id of the message that carries ``token``: ``uuid5(namespace, token)``."""
    if not is_token(token):
        raise UnsubscribeLinkNotFoundError("no such unsubscribe link")
    return fresh_message_id(token)


def fresh_message_id(token: str) -> UUID:
    """``message_id_for`` for a token just drawn (no shape check): once per linked
    message of a send, from a SHA-1 already fed the namespace."""
    digest = _SEEDED.copy()
    digest.update(token.encode())
    return UUID(bytes=digest.digest()[:16], version=5)


def link_prefix(base_url: str) -> str:
    """What goes between a body and its token: the separator, the base, ``/u/``."""
    return LINK_SEPARATOR + base_url.rstrip("/") + LINK_PATH


def token_of(message: Message) -> str | None:
    """The token in the message's body, if the message carries its own link."""
    body = message.body
    token = body[-TOKEN_LENGTH:]
    head = body[: -TOKEN_LENGTH - len(LINK_PATH)]
    if (
        len(body) > TOKEN_LENGTH + len(LINK_PATH)
        and body[-TOKEN_LENGTH - len(LINK_PATH) : -TOKEN_LENGTH] == LINK_PATH
        and LINK_SEPARATOR in head
        and is_token(token)
        and message_id_for(token) == message.id
    ):
        return token
    return None


@dataclass(frozen=True, slots=True)
class UnsubscribeLinks:
    """What ``accept_batch`` needs to give messages their links: the service's public
    address and a supply of fresh tokens (one is drawn per message that passes the
    rules; rejected recipients get none)."""

    base_url: str
    tokens: Iterator[str]

    @property
    def prefix(self) -> str:
        return link_prefix(self.base_url)


def find_link(message: Message, token: str) -> None:
    """``UnsubscribeLinkNotFoundError`` unless ``message`` carries ``token``."""
    if token_of(message) != token:
        raise UnsubscribeLinkNotFoundError("no such unsubscribe link")


def mask_number(msisdn: str) -> str:
    """A number as the confirmation page shows it: enough for its owner to recognise,
    too little for anyone else (``+4673•••••67``)."""
    keep_head = 5 if len(msisdn) > 9 else 3
    hidden = max(len(msisdn) - keep_head - 2, 1)
    return msisdn[:keep_head] + "•" * hidden + msisdn[keep_head + hidden :]


def use_link(message: Message, account: Account, token: str, now: datetime) -> Outcome:
    """The recipient followed the link and confirmed: the number goes on the account's
    block list (``source: unsubscribe_link``, naming the message) and the message
    records that its link was used, both at ``now``. A number already blocked changes
    nothing. A link used before, whose number was unblocked since (by hand), blocks it
    again: pressing the button is a fresh opt-out, and an opt-out is always honoured;
    the message keeps the time of its link's first use."""
    find_link(message, token)
    if message.account_id != account.id:
        msg = "the message is not this account's"
        raise ConflictError(msg)
    if account.is_blocked(message.recipient):
        return "already_unsubscribed"
    account.block_number(message.recipient, "unsubscribe_link", now, message_id=message.id)
    if message.link_used_at is None:
        message.use_unsubscribe_link(now)
    return "unsubscribed"
