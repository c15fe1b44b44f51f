"""Status callbacks over HTTP: the target checked as it is connected to, the request
signed as Standard Webhooks says (the ``standardwebhooks`` package), one timeout per call.

DNS rebinding: a name is resolved once per attempt, every address it resolves to is
checked (``smsledger.domain.webhooks.address_refusal``), and the connection goes to the
checked address itself (with the name as ``Host`` and, for https, as the TLS server
name), so a second lookup can never swap in an internal address. The service's own
listening address is refused too, so a tenant cannot make it call itself.

``webhook_key`` gives the key the secrets are derived from: ``SMSLEDGER_WEBHOOK_KEY``,
or one generated once and kept in ``service_secrets``.
"""

from __future__ import annotations

import http.client
import ipaddress
import secrets
import socket
import ssl
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from smsledger.application.ports import CallbackAnswer
from smsledger.domain.webhooks import address_refusal, literal_address

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from smsledger.projections.db import ViewDatabase

USER_AGENT = "smsledger-webhooks/1"
MAX_ERROR = 200
_KEY_NAME = "webhook_key"


class TargetRefusedError(Exception):
    """The URL resolves to an address a callback may not go to."""


class WebhookKey:
    """``webhook_key``, read once on first use (after the database is migrated)."""

    def __init__(self, configured: str | None, views: ViewDatabase) -> None:
        self.configured = configured
        self.views = views
        self._key: bytes | None = None

    def get(self) -> bytes:
        if self._key is None:
            self._key = webhook_key(self.configured, self.views)
        return self._key


def webhook_key(configured: str | None, views: ViewDatabase) -> bytes:
    """The key webhook secrets derive from: the configured one, else one generated on
    first use and kept in the database (so every process and restart agrees)."""
    if configured:
        return configured.encode()
    ph = "?" if views.dialect == "sqlite" else "%s"
    with views.transaction() as cur:
        cur.execute(
            f"INSERT INTO service_secrets (name, value) VALUES ({ph}, {ph}) "
            "ON CONFLICT (name) DO NOTHING",
            (_KEY_NAME, secrets.token_urlsafe(32)),
        )
        cur.execute(f"SELECT value FROM service_secrets WHERE name = {ph}", (_KEY_NAME,))
        (value,) = cur.fetchone()
    return str(value).encode()


def sign(secrets_: Sequence[str], webhook_id: str, at: datetime, body: bytes) -> str:
    """The ``webhook-signature`` header: one ``v1,...`` per secret, space-separated (a
    receiver accepts any that matches, so a rotation never drops a callback)."""
    text = body.decode()
    return " ".join(Webhook(s).sign(webhook_id, at, text) for s in secrets_)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever the name resolves to now."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self, host: str, address: str, port: int, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._ctx = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self.host)


class HttpCallbackSender:
    """``CallbackSender`` over ``http.client``. ``own`` are the (address, port) pairs the
    service listens on (``add_own``); ``clock`` gives ``webhook-timestamp`` (the wall
    clock: it is a fact about this request, checked by the receiver against its own)."""

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout: float,
        clock: Callable[[], datetime] | None = None,
        resolve: Callable[[str, int], list[str]] | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.clock = clock or (lambda: datetime.now(UTC))
        self.resolve = resolve or _resolve
        self.own: set[tuple[str, int]] = set()
        self._tls: ssl.SSLContext | None = None  # made at the first https callback

    def _tls_context(self) -> ssl.SSLContext:
        """The system's CA certificates, loaded when the first https callback goes out,
        not in every process's start (20-50 ms). Two threads may both make one: the
        same context, the other dropped."""
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def add_own(self, host: str, port: int) -> None:
        """Refuse callbacks to ``host:port`` (where ``serve`` listens)."""
        self.own.add((host, port))

    def is_own(self, url: str) -> bool:
        """Whether ``url`` names this service's own address literally (checked when a
        webhook is configured; a name is checked once resolved, at every send)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return False
        literal = literal_address(host)
        if literal is None and host in ("localhost", "localhost.localdomain"):
            literal = ipaddress.ip_address("127.0.0.1")
        return literal is not None and self._is_own(literal, port)

    def target(self, url: str) -> tuple[str, str, int, str]:
        """``(scheme, host, port, address)`` to connect to; ``TargetRefusedError`` if no
        address the name resolves to may be called (all must pass: any could be used)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        literal = literal_address(host)
        try:
            addresses = [str(literal)] if literal is not None else self.resolve(host, port)
        except OSError as e:
            msg = f"cannot resolve {host}: {e}"
            raise TargetRefusedError(msg) from None
        if not addresses:
            msg = f"{host} resolves to no address"
            raise TargetRefusedError(msg)
        for address in addresses:
            ip = ipaddress.ip_address(address)
            refusal = address_refusal(ip, allow_private=self.allow_private)
            if refusal is not None:
                msg = f"{host} resolves to {refusal}"
                raise TargetRefusedError(msg)
            if self._is_own(ip, port):
                msg = "the target is this service itself"
                raise TargetRefusedError(msg)
        return parts.scheme, host, port, addresses[0]

    def _is_own(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
        for host, own_port in self.own:
            if own_port != port:
                continue
            own = literal_address(host)
            if (
                own is None
                or own == ip
                or own.is_unspecified
                or (own.is_loopback and ip.is_loopback)
            ):
                return True
        return False

    def send(
        self, url: str, webhook_id: str, body: bytes, secrets: Sequence[str]
    ) -> CallbackAnswer:
        started = time.monotonic()

        def answer(code: int | None, error: str | None = None) -> CallbackAnswer:
            ms = int((time.monotonic() - started) * 1000)
            return CallbackAnswer(code, ms, None if error is None else error[:MAX_ERROR])

        try:
            scheme, host, port, address = self.target(url)
        except TargetRefusedError as e:
            return answer(None, f"refused: {e}")
        at = self.clock()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": sign(secrets, webhook_id, at, body),
        }
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn: Any
        if scheme == "https":
            conn = _PinnedHTTPSConnection(host, address, port, self.timeout, self._tls_context())
        else:
            conn = _PinnedHTTPConnection(host, address, port, self.timeout)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read(64 * 1024)  # a receiver's body is not ours to keep
            return answer(response.status)
        except TimeoutError:
            return answer(None, f"no answer within {self.timeout:g} s")
        except (OSError, http.client.HTTPException) as e:
            return answer(None, f"{type(e).__name__}: {e}")
        finally:
            conn.close()


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
