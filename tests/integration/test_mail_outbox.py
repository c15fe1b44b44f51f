"""The mail outbox and the mailer, on both databases, with a real SMTP server: sent
once, retried with backoff when the server is away, a crash mid-send sent again with the
same Message-ID, and no usable link left in the table once a mail has gone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from smsledger.adapters.mail import STALE_SENDING, Outbox, SmtpTransport, message_id_of
from smsledger.adapters.views import open_views
from smsledger.workers.mailer import Mailer
from tests.smtp import smtp_server

if TYPE_CHECKING:
    from smsledger.adapters.storage import Database
    from tests.support import FakeClock

BODY = "Set it here: https://x.example/password?token=lt_SECRETSECRET\n"


def test_a_mail_is_sent_once_and_its_link_blanked(database: Database, clock: FakeClock) -> None:
    views = open_views(database)
    try:
        outbox = Outbox(views)
        with smtp_server() as (inbox, url):
            mailer = Mailer(outbox, SmtpTransport(url), "ledger <no-reply@x.example>", clock)
            outbox.enqueue("ada@example.com", "Hello", BODY, clock.now)
            assert outbox.pending() == 1
            assert mailer.run_once() == 1
            assert mailer.run_once() == 0
            (mail,) = inbox.to("ada@example.com")
            assert mail["Subject"] == "Hello"
            assert "lt_SECRETSECRET" in mail.get_content()
        assert outbox.pending() == 0
        with views.reading() as cur:
            cur.execute("SELECT body FROM mail_outbox")
            (stored,) = cur.fetchone()
        assert "lt_SECRETSECRET" not in stored
    finally:
        views.close()


def test_mail_waits_with_backoff_while_the_server_is_down(
    database: Database, clock: FakeClock
) -> None:
    views = open_views(database)
    try:
        outbox = Outbox(views)
        # A port nobody listens on: the server is down.
        with smtp_server() as (_, url):
            down = url
        mailer = Mailer(outbox, SmtpTransport(down, timeout=2), "x@x.example", clock)
        outbox.enqueue("ada@example.com", "Hello", BODY, clock.now)
        assert mailer.run_once() == 0
        assert mailer.run_once() == 0  # not due again yet: 30 s backoff
        clock.advance(seconds=31)
        assert mailer.run_once() == 0  # still down; now 60 s
        assert outbox.pending() == 1
        with smtp_server() as (inbox, url):
            mailer.transport = SmtpTransport(url)
            clock.advance(seconds=30)
            assert mailer.run_once() == 0  # 60 s not over
            clock.advance(seconds=31)
            assert mailer.run_once() == 1
            assert len(inbox.to("ada@example.com")) == 1
    finally:
        views.close()


def test_a_crash_mid_send_sends_again_with_the_same_message_id(
    database: Database, clock: FakeClock
) -> None:
    views = open_views(database)
    try:
        outbox = Outbox(views)
        mail_id = outbox.enqueue("ada@example.com", "Hello", BODY, clock.now)
        # A mailer claims the mail and dies before it can say how it went.
        assert len(outbox.claim(clock.now)) == 1
        assert outbox.claim(clock.now) == []  # nobody else takes it meanwhile
        clock.advance(seconds=STALE_SENDING.total_seconds() + 1)
        with smtp_server() as (inbox, url):
            mailer = Mailer(outbox, SmtpTransport(url), "x@x.example", clock)
            assert mailer.run_once() == 1
            clock.advance(minutes=10)
            assert mailer.run_once() == 0
            (mail,) = inbox.to("ada@example.com")
            assert mail["Message-ID"] == message_id_of(mail_id)
        assert outbox.pending() == 0
    finally:
        views.close()
