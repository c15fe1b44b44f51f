"""A real callback receiver for the tests: ``http.server`` on loopback, port 0.

It VERIFIES every request with the ``standardwebhooks`` package against the secrets it
is given (a request that fails verification is answered 401 and counted as forged),
keeps every verified callback by ``webhook-id``, and can be told to answer 500, 410 or
to hang (until released or its hang time is over).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]
    signatures: int


@dataclass
class Receiver:
    url: str
    secrets: list[str] = field(default_factory=list)
    mode: str = "ok"  # ok | fail | gone | hang
    hang_seconds: float = 30.0
    delay: float = 0.0  # seconds a kept callback waits for its answer: a crash window
    received: list[Received] = field(default_factory=list)
    forged: int = 0
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0  # the most requests it held at once
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def ids(self) -> Counter[str]:
        with self.lock:
            return Counter(r.webhook_id for r in self.received)

    def bodies(self, webhook_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r.body for r in self.received if r.webhook_id == webhook_id]

    def changes(self) -> dict[str, tuple[str, str]]:
        """Each webhook-id's (message id, event id); asserts an id never names two."""
        out: dict[str, tuple[str, str]] = {}
        with self.lock:
            for r in self.received:
                change = (r.body["id"], r.body["event"]["id"])
                assert out.setdefault(r.webhook_id, change) == change, r.webhook_id
        return out


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            with receiver.lock:
                receiver.in_flight += 1
                receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
            try:
                self._receive()
            finally:
                with receiver.lock:
                    receiver.in_flight -= 1

        def _receive(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            headers = dict(self.headers.items())
            with receiver.lock:
                receiver.requests += 1
                mode, secrets = receiver.mode, list(receiver.secrets)
            if mode == "hang":
                receiver.release.wait(receiver.hang_seconds)

            body = None
            for secret in secrets:
                with contextlib.suppress(WebhookVerificationError):
                    body = Webhook(secret).verify(raw, headers)
                    break
            if body is None:
                with receiver.lock:
                    receiver.forged += 1
                self._answer(401)
                return
            if mode in ("fail", "hang"):
                self._answer(500)
                return
            if mode == "gone":
                self._answer(410)
                return
            signatures = len(headers.get("webhook-signature", "").split())
            with receiver.lock:
                receiver.received.append(Received(headers["webhook-id"], body, signatures))
            if receiver.delay:  # kept, not yet answered: a sender that dies now resends
                time.sleep(receiver.delay)
            self._answer(204)

        def _answer(self, code: int) -> None:
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()

    return Handler


@contextlib.contextmanager
def receiving(path: str = "/hooks") -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Receiver("")))
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}{path}")
    server.RequestHandlerClass = _handler(receiver)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


__all__ = ["Receiver", "receiving", "wait_until"]
