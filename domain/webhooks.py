"""Status callbacks: the rules of a webhook, with no I/O and no clock.

What a callback URL may be (``check_webhook_url``, ``address_refusal``), how a signing
secret is made from a key and a nonce (``derive_secret``), which id a status change is
delivered under (``webhook_id_for``), when a failed delivery is tried again
(``next_attempt``) and what an answer means (``outcome_of``). The HTTP side (resolving
a name, connecting to the checked address, signing a request) is an adapter's,
``smsledger.adapters.webhooks``.

Why a derived secret, not a stored one
--------------------------------------
The service must sign every callback, so it needs each secret again, for as long as it
is valid. Events are kept forever and copied into every backup, so a secret never goes
into one, not even encrypted: the event keeps a random nonce, and the secret is
``HMAC-SHA256(key, account id + nonce)`` with a key from the settings
(``SMSLEDGER_WEBHOOK_KEY``). Without the key the log reveals nothing; rotating the
secret is a new nonce; no cipher or extra dependency is needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit
from uuid import NAMESPACE_URL, UUID, uuid5

from smsledger.domain.errors import InvalidRequestError
from smsledger.domain.text import check_line

WEBHOOK_EVENTS = ("message.status",)
MAX_URL_LENGTH = 2_000  # what browsers and proxies reliably carry
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
ROTATION_OVERLAP = timedelta(hours=24)  # the old secret still signs this long after a PUT
RETRY_WINDOW = timedelta(hours=24)  # a change is tried this long, then given up
FIRST_RETRY = timedelta(seconds=5)
MAX_RETRY_GAP = timedelta(hours=1)
PAUSE_AFTER_FAILURES = 20  # consecutive failed attempts after which an endpoint pauses

_NAMESPACE = uuid5(NAMESPACE_URL, "https://smsledger.example/webhook-event")
# Cloud metadata services: never a tenant's target, whatever the operator allows.
_ALWAYS_REFUSED = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
)
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

Outcome = Literal["done", "disable", "retry"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_webhook_url(url: object, *, allow_private: bool) -> str:
    """``url`` if a callback may be sent to it; ``InvalidRequestError`` (422) otherwise.

    http or https, a host, no user name or password, at most 2,000 characters of one
    line. A literal address (or ``localhost``) is checked as ``address_refusal`` would
    check it once resolved; a name is checked again on every delivery, after resolving.
    """
    text = check_line(url, "url", max_length=MAX_URL_LENGTH)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        msg = f"url is not a valid URL: {e}"
        raise InvalidRequestError(msg) from None
    if parts.scheme not in ("http", "https"):
        msg = "url must be http:// or https://"
        raise InvalidRequestError(msg)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        msg = "url may not hold a user name or password"
        raise InvalidRequestError(msg)
    host = parts.hostname
    if not host:
        msg = "url needs a host"
        raise InvalidRequestError(msg)
    if port == 0:
        msg = "url has no usable port"
        raise InvalidRequestError(msg)
    if host.rstrip(".") in _LOCAL_NAMES:
        literal: IPAddress | None = ipaddress.ip_address("127.0.0.1")
    else:
        literal = literal_address(host)
    if literal is not None:
        refusal = address_refusal(literal, allow_private=allow_private)
        if refusal is not None:
            msg = f"url may not point at {refusal}"
            raise InvalidRequestError(msg)
    return text


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally (``10.0.0.1``, ``[::1]``), else ``None``."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def address_refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why a callback may not go to ``address`` (a few words), or ``None`` if it may.

    Link-local and metadata addresses are always refused; loopback, private, shared and
    other non-global addresses only when ``allow_private`` is off
    (``SMSLEDGER_WEBHOOK_ALLOW_LOOPBACK``); multicast and the unspecified address never
    name one receiver.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in net for net in _ALWAYS_REFUSED) or address.is_link_local:
        return "a link-local or metadata address"
    if address.is_multicast or address.is_unspecified:
        return "a multicast or unspecified address"
    if not address.is_global and not allow_private:
        return "a loopback or private address"
    return None


def derive_secret(key: bytes, account_id: UUID, nonce: str) -> str:
    """The signing secret of one webhook configuration, ``whsec_`` + base64 of 32 bytes
    (the Standard Webhooks form): a function of the key and the configuration's nonce."""
    raw = hmac.new(key, b"smsledger-webhook\x00" + account_id.bytes + nonce.encode(), "sha256")
    return SECRET_PREFIX + base64.b64encode(raw.digest()).decode()


def event_id_for(message_id: UUID, version: int) -> UUID:
    """The stable id of one recorded message event (its stream and version)."""
    return uuid5(_NAMESPACE, f"{message_id}/{version}")


def webhook_id_for(event_id: UUID) -> str:
    """The ``webhook-id`` of the callback for one status change: the same on every retry,
    never the same for two changes."""
    return f"msg_{event_id.hex}"


def outcome_of(status_code: int | None) -> Outcome:
    """What an answer means: 2xx delivered, 410 the receiver is gone for good, anything
    else (another code, no answer, a timeout: ``None``) worth another try."""
    if status_code is not None and 200 <= status_code < 300:
        return "done"
    if status_code == 410:
        return "disable"
    return "retry"


def next_attempt(attempts: int, jitter: float) -> timedelta:
    """How long after its ``attempts``-th failed attempt a callback is tried again:
    5 s doubling, at most an hour, scaled by ``jitter`` (0-1, drawn by the caller) into
    the upper half, so receivers that failed together are not all retried together."""
    if not 0.0 <= jitter <= 1.0:
        msg = "jitter must be between 0 and 1"
        raise ValueError(msg)
    gap = min(FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 20), MAX_RETRY_GAP)
    delay: timedelta = gap * (0.5 + jitter / 2)
    return delay


def url_digest(url: str) -> str:
    """A short key for one target URL (endpoints are kept per account and URL)."""
    return hashlib.sha256(url.encode()).hexdigest()[:32]
