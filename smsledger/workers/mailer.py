"""The mailer: drains ``mail_outbox`` through the configured transport (SMTP, or the
log on the embedded default). See ``smsledger.adapters.mail`` for what "sent once"
means here. A sent mail's one-time links are blanked in the outbox, so the table keeps
no usable secret once the mail has left."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from datetime import datetime

    from smsledger.application.ports import MailQueue, MailTransport

log = logging.getLogger(__name__)

_LINK_TOKEN = re.compile(r"lt_[A-Za-z0-9_-]+")


class Mailer:
    def __init__(
        self,
        outbox: MailQueue,
        transport: MailTransport,
        sender: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.outbox = outbox
        self.transport = transport
        self.sender = sender
        self.clock = clock

    def run_once(self) -> int:
        """Send what is due; how many went out."""
        sent = 0
        for mail in self.outbox.claim(self.clock()):
            try:
                self.transport.send(mail, self.sender)
            except Exception as exc:
                log.warning("mail %s to %s failed: %s", mail.id, mail.to_addr, exc)
                self.outbox.failed(mail, f"{type(exc).__name__}: {exc}", self.clock())
                continue
            self.outbox.sent(mail.id, self.clock(), _LINK_TOKEN.sub("lt_(used)", mail.body))
            sent += 1
        return sent

    def run_forever(self, stop: threading.Event, *, interval: float = 0.5) -> None:
        while not stop.is_set():
            try:
                if self.run_once() == 0:
                    stop.wait(interval)
            except Exception:
                log.exception("mailer pass failed; retrying")
                stop.wait(5.0)
