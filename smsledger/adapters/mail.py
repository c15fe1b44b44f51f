"""Mail: the ``mail_outbox`` table and the two ways out of it.

Mail is written to the outbox in the request that causes it, and the mailer worker
(``smsledger.workers.mailer``) sends it: through SMTP when ``SMSLEDGER_SMTP_URL`` is set
(``smtp://host:port``, stdlib ``smtplib``), else to the log (the embedded default, so a
newcomer can follow a link). A row is marked ``sending_at`` before the attempt and
``sent_at`` after it; only a crash inside the SMTP exchange leaves the outcome unknown,
and that mail is sent again with the same ``Message-ID`` (receivers use it to drop
duplicates). A failed attempt is retried with backoff, never dropped.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from smsledger.application.ports import Mail
from smsledger.projections import store_for

if TYPE_CHECKING:
    from datetime import datetime

    from smsledger.projections.db import ViewDatabase

log = logging.getLogger(__name__)

MAX_ATTEMPTS_BACKOFF = timedelta(hours=1)
STALE_SENDING = timedelta(minutes=5)  # a claim older than this was a crash mid-send


class MailRow(NamedTuple):
    id: object
    to_addr: str
    subject: str
    body: str
    attempts: int


class Outbox:
    """The ``mail_outbox`` table."""

    def __init__(self, views: ViewDatabase) -> None:
        self.views = views
        self.store = store_for(views.dialect)
        self.ph = self.store.ph

    def enqueue(self, to_addr: str, subject: str, body: str, now: datetime) -> UUID:
        mail_id = uuid4()
        s, ph = self.store, self.ph
        with self.views.transaction() as cur:
            cur.execute(
                "INSERT INTO mail_outbox (id, to_addr, subject, body, created_at, next_attempt_at) "
                f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph})",
                [s.uuid(mail_id), to_addr, subject, body, s.time(now), s.time(now)],
            )
        return mail_id

    def claim(self, now: datetime, limit: int = 20) -> list[Mail]:
        """Due mail, marked as being sent (a stale mark is a crash: due again)."""
        s, ph = self.store, self.ph
        stale = s.time(now - STALE_SENDING)
        lock = " FOR UPDATE SKIP LOCKED" if self.views.dialect == "postgres" else ""
        with self.views.transaction() as cur:
            cur.execute(
                f"SELECT {', '.join(MailRow._fields)} FROM mail_outbox "
                f"WHERE sent_at IS NULL AND next_attempt_at <= {ph} "
                f"AND (sending_at IS NULL OR sending_at <= {ph}) "
                f"ORDER BY next_attempt_at LIMIT {int(limit)}{lock}",
                [s.time(now), stale],
            )
            rows = [MailRow._make(r) for r in cur.fetchall()]
            for row in rows:
                cur.execute(
                    f"UPDATE mail_outbox SET sending_at = {ph} WHERE id = {ph}",
                    [s.time(now), row.id],
                )
        return [Mail(s.to_uuid(r.id), r.to_addr, r.subject, r.body, int(r.attempts)) for r in rows]

    def sent(self, mail_id: UUID, now: datetime, body: str) -> None:
        """Mark a mail sent, keeping ``body`` (its secrets blanked) as the record."""
        s, ph = self.store, self.ph
        with self.views.transaction() as cur:
            cur.execute(
                f"UPDATE mail_outbox SET sent_at = {ph}, attempts = attempts + 1, body = {ph} "
                f"WHERE id = {ph}",
                [s.time(now), body, s.uuid(mail_id)],
            )

    def failed(self, mail: Mail, error: str, now: datetime) -> None:
        """Try again later: 30 s, 1 min, 2 min, ... up to an hour between attempts."""
        s, ph = self.store, self.ph
        delay = min(timedelta(seconds=30 * 2**mail.attempts), MAX_ATTEMPTS_BACKOFF)
        with self.views.transaction() as cur:
            cur.execute(
                f"UPDATE mail_outbox SET attempts = attempts + 1, sending_at = NULL, "
                f"next_attempt_at = {ph}, last_error = {ph} WHERE id = {ph}",
                [s.time(now + delay), error[:500], s.uuid(mail.id)],
            )

    def pending(self) -> int:
        with self.views.reading() as cur:
            cur.execute("SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL")
            return int(cur.fetchone()[0])


def message_id_of(mail_id: UUID) -> str:
    """The ``Message-ID`` of an outbox row: the same on every attempt."""
    return f"<{mail_id}@smsledger>"


def message_of(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to_addr
    message["Subject"] = mail.subject
    # Stable across attempts: a receiver can drop the copy a crash mid-send made.
    message["Message-ID"] = message_id_of(mail.id)
    message.set_content(mail.body)
    return message


class SmtpTransport:
    """``smtp://host:port``: plain SMTP, as a local relay takes it."""

    name = "smtp"

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "smtp" or not parts.hostname:
            msg = f"SMSLEDGER_SMTP_URL must be smtp://host:port, got {url!r}"
            raise ValueError(msg)
        self.host = parts.hostname
        self.port = parts.port or 25
        self.timeout = timeout

    def send(self, mail: Mail, sender: str) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.send_message(message_of(mail, sender))


class LogTransport:
    """The embedded default: the mail, link and all, goes to the log."""

    name = "log"

    def send(self, mail: Mail, sender: str) -> None:
        log.info(
            "mail to %s: %s\n%s",
            mail.to_addr,
            mail.subject,
            mail.body,
            extra={"mail_id": str(mail.id)},
        )
