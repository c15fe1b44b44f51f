"""The one composition root: settings in, a wired ``Services`` out.

Everything the API, the CLI and the workers need is built here and nowhere else: the
``Ledger`` on its storage, the view connections, the key store, the projection runner
and its queries, the gateway adapter, the dispatcher and the sweeper. Tests pass their
own ``database`` and ``clock``; the entrypoints pass only ``Settings``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from smsledger.adapters.keys import KeyStore
from smsledger.adapters.locks import AccountTurns, account_turns, lease_for, leased
from smsledger.adapters.mail import LogTransport, Outbox, SmtpTransport
from smsledger.adapters.passwords import hash_password, verify_password
from smsledger.adapters.people import PeopleStore, email_key
from smsledger.adapters.simulator import (
    CarrierSimulator,
    Faults,
    Latency,
    OutcomeMix,
    Replies,
    SimulatorConfig,
    parse_knobs,
)
from smsledger.adapters.storage import (
    Database,
    DatabaseUnavailableError,
    DatabaseURLError,
    check_database,
)
from smsledger.adapters.views import open_views
from smsledger.adapters.webhooks import HttpCallbackSender, WebhookKey
from smsledger.application.ledger import Ledger, Turns, utc_now
from smsledger.application.people import People
from smsledger.domain.numbers import NumberRange
from smsledger.domain.pricing import load_price_list
from smsledger.projections import store_for
from smsledger.projections.queries import Queries, build_runner
from smsledger.projections.webhooks import WebhookReads
from smsledger.settings import Settings
from smsledger.workers.dispatcher import Dispatcher
from smsledger.workers.mailer import Mailer
from smsledger.workers.month_end import MonthEnd
from smsledger.workers.sweeper import Sweeper
from smsledger.workers.webhooks import WebhookWorker, log_pause

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from uuid import UUID

    from smsledger.application.ports import Gateway, MailTransport
    from smsledger.projections.db import ViewDatabase
    from smsledger.projections.runner import ProjectionRunner

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """The service cannot start as configured; the message says what to do."""


def open_database(settings: Settings, *, create: bool = False) -> Database:
    """The configured database, checked before anything opens it (``check_database``):
    every entrypoint, ``serve`` included, comes through here. ``create`` lets a new
    SQLite file be made in an existing directory (``serve``, ``migrate``); the other
    commands read a ledger that must already be there. ``StartupError`` otherwise."""
    try:
        database = Database.from_url(settings.database_url)
        check_database(database, create=create)
    except (DatabaseURLError, DatabaseUnavailableError) as e:
        raise StartupError(str(e)) from None
    return database


def open_read_database(settings: Settings, database: Database) -> Database | None:
    """The hot standby of ``SMSLEDGER_READ_DATABASE_URL`` for the API's projected reads,
    checked like the database; ``None`` when unset. Only beside PostgreSQL: SQLite has no
    replica."""
    url = settings.read_database_url
    if not url:
        return None
    try:
        read = Database.from_url(url)
    except DatabaseURLError as e:
        msg = f"SMSLEDGER_READ_DATABASE_URL: {e}"
        raise StartupError(msg) from None
    if not (read.is_postgres and database.is_postgres):
        msg = "SMSLEDGER_READ_DATABASE_URL needs PostgreSQL, as the database's replica"
        raise StartupError(msg)
    try:
        check_database(read, create=False)
    except DatabaseUnavailableError as e:
        msg = f"SMSLEDGER_READ_DATABASE_URL: {e}"
        raise StartupError(msg) from None
    return read


@dataclass
class Worker:
    """A named background loop run in a daemon thread until ``stop`` is set."""

    name: str
    run: Callable[[threading.Event], None]
    thread: threading.Thread | None = None


@dataclass
class Services:
    settings: Settings
    database: Database
    ledger: Ledger
    views: ViewDatabase
    keys: KeyStore
    runner: ProjectionRunner
    queries: Queries
    gateway: Gateway | None
    dispatcher: Dispatcher
    sweeper: Sweeper
    clock: Callable[[], datetime]
    people: People
    sessions: PeopleStore
    mailer: Mailer
    workers: list[Worker] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    # Status callbacks (issue 15): built by ``build``; ``None`` only for hand-made tests.
    webhooks: WebhookWorker | None = None
    webhook_reads: WebhookReads | None = None
    webhook_key: WebhookKey | None = None
    callback_sender: HttpCallbackSender | None = None
    # An account's turn among every process on the database (``adapters.locks``).
    account_turns: AccountTurns | None = None
    # With ``SMSLEDGER_READ_DATABASE_URL``: the standby's views (``queries`` reads them)
    # and the projections' positions as the standby has replayed them (``read_runner``:
    # for ``wait`` and ``positions`` only, never run: the standby is read-only).
    read_views: ViewDatabase | None = None
    read_runner: ProjectionRunner | None = None

    @property
    def reads(self) -> ProjectionRunner:
        """Where ``queries`` reads: the standby's positions, else the runner's own."""
        return self.read_runner or self.runner

    def start_workers(self) -> None:
        """Run the projections, dispatcher, sweeper, mailer and callback worker in this
        process, each while it holds its lease (one process per database at a time)."""
        for worker in self.workers:
            if worker.thread is None:
                worker.thread = threading.Thread(
                    target=_guarded(worker, self._stop),
                    name=f"smsledger-{worker.name}",
                    daemon=True,
                )
                worker.thread.start()
                log.info("started worker %s", worker.name)

    def stop_workers(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for worker in self.workers:
            if worker.thread is not None:
                worker.thread.join(timeout)
                worker.thread = None
        self._stop.clear()  # so the workers can be started again

    def close(self) -> None:
        self.stop_workers()
        if self.gateway is not None:
            self.gateway.close()
        self.ledger.close()
        self.views.close()
        if self.account_turns is not None:
            self.account_turns.close()
        if self.read_views is not None:
            self.read_views.close()


def _guarded(worker: Worker, stop: threading.Event) -> Callable[[], None]:
    def target() -> None:
        try:
            worker.run(stop)
        except Exception:
            log.exception("worker %s stopped on an error", worker.name)

    return target


def build(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Services:
    """Wire the whole service. Workers are built but not started (``start_workers``)."""
    settings = settings or Settings()
    database = database or open_database(settings, create=True)
    clock = clock or utc_now
    prices = load_price_list(settings.price_list)
    ledger = Ledger(
        database.eventsourcing_env(),
        clock=clock,
        price_lists={prices.currency: prices},
        max_parts=settings.max_parts,
        max_recipients=settings.max_recipients,
        webhook_allow_private=settings.webhook_allow_loopback,
        number_range=NumberRange.parse(settings.virtual_numbers),
        public_url=settings.public_url,
    )
    turns = account_turns(database)
    if turns is not None:
        ledger.turns = Turns(across=turns.hold)
    views = open_views(database)
    runner = build_runner(ledger, views)
    read_database = open_read_database(settings, database)
    read_views = open_views(read_database) if read_database is not None else None
    gateway = build_gateway(settings, database)
    credentials = PeopleStore(views)
    outbox = Outbox(views)
    # The use cases' and the workers' reads of the views: always the primary's.
    primary_queries = Queries(ledger, views)
    ledger.pending_messages = primary_queries.pending_messages
    # The API's projected reads: the standby's views when there is one.
    queries = Queries(ledger, read_views) if read_views is not None else primary_queries
    services = Services(
        settings=settings,
        database=database,
        ledger=ledger,
        views=views,
        keys=KeyStore(views),
        runner=runner,
        queries=queries,
        gateway=gateway,
        dispatcher=Dispatcher(ledger, views, gateway, clock=clock),
        sweeper=Sweeper(
            ledger,
            views,
            gateway,
            grace=timedelta(seconds=settings.expiry_grace_seconds),
            clock=clock,
            month_end=MonthEnd(
                ledger, views, grace=timedelta(seconds=settings.invoice_grace_seconds)
            ).run,
        ),
        clock=clock,
        people=People(
            ledger,
            credentials,
            outbox,
            hash_password,
            verify_password,
            email_key,
            settings.public_url,
            admins_of=primary_queries.admin_emails,
            session_ttl=timedelta(hours=settings.session_hours),
        ),
        sessions=credentials,
        mailer=Mailer(outbox, build_mail_transport(settings), settings.mail_from, clock),
        account_turns=turns,
        read_views=read_views,
        read_runner=build_runner(ledger, read_views) if read_views is not None else None,
    )
    _wire_webhooks(services)
    services.workers = _workers(services)
    return services


def simulator_config(settings: Settings) -> SimulatorConfig:
    """The carrier simulator's seed, speed, outcome mix, faults and submit latency."""
    return SimulatorConfig(
        seed=settings.simulator_seed,
        speed=settings.simulator_speed,
        mix=parse_knobs(OutcomeMix, settings.simulator_mix),
        faults=parse_knobs(Faults, settings.simulator_faults),
        latency=Latency(submit=settings.simulator_submit_latency),
        replies=parse_knobs(Replies, settings.simulator_replies),
    )


def build_mail_transport(settings: Settings) -> MailTransport:
    """SMTP when ``SMSLEDGER_SMTP_URL`` is set, else the log (the embedded default)."""
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url)
    return LogTransport()


def build_gateway(settings: Settings, database: Database) -> Gateway | None:
    """The configured adapter; ``None`` for ``SMSLEDGER_GATEWAY=none``. The simulator
    keeps connections of its own: it stands for a carrier's system, not ours."""
    if settings.gateway == "none":
        return None
    return CarrierSimulator(database, simulator_config(settings))


def _workers(services: Services) -> list[Worker]:
    interval = services.settings.sweep_interval_seconds
    workers = [
        Worker("projections", services.runner.run_forever),
        Worker("dispatcher", services.dispatcher.run_forever),
        Worker("sweeper", lambda stop: services.sweeper.run_forever(stop, interval=interval)),
        Worker("mailer", services.mailer.run_forever),
    ]
    if services.webhooks is not None:
        workers.append(Worker("webhooks", services.webhooks.run_forever))
    # Each runs in one process at a time per database: another ``serve`` or a separate
    # ``smsledger dispatch`` beside this one waits for the lease and takes over.
    return [leased_worker(services.database, w.name, w.run) for w in workers]


def leased_worker(database: Database, name: str, run: Callable[[threading.Event], None]) -> Worker:
    """``Worker(name, run)`` that runs only while it holds the lease of ``name``
    (``adapters.locks.lease_for``): the one place that names the leases."""
    return Worker(name, leased(lease_for(database, name), run))


def _wire_webhooks(services: Services, *, follow: bool = False) -> None:
    """The callback sender, the key the secrets derive from, the reads and the worker
    (``follow``: it keeps the outbox current itself, for ``smsledger deliver-webhooks``)."""
    settings = services.settings
    configured = settings.webhook_key
    key = WebhookKey(None if configured is None else configured.get_secret_value(), services.views)
    sender = HttpCallbackSender(
        allow_private=settings.webhook_allow_loopback, timeout=settings.webhook_timeout_seconds
    )
    services.webhook_key = key
    services.callback_sender = sender
    services.webhook_reads = WebhookReads(services.views, store_for(services.views.dialect))
    services.webhooks = webhook_worker(services, follow=follow)


def webhook_worker(services: Services, *, follow: bool) -> WebhookWorker:
    """A callback worker on the services' sender and key."""
    settings = services.settings
    assert services.callback_sender is not None
    assert services.webhook_key is not None
    return WebhookWorker(
        services.ledger,
        services.views,
        services.callback_sender,
        services.webhook_key.get,
        clock=services.clock,
        concurrency=settings.webhook_concurrency,
        lease=timedelta(seconds=settings.webhook_lease_seconds),
        follow=follow,
        on_paused=lambda account_id, url, reason: tell_admins_of_pause(
            services, account_id, url, reason
        ),
    )


def tell_admins_of_pause(services: Services, account_id: UUID, url: str, reason: str) -> None:
    """A paused callback endpoint: a warning in the log, and a mail to each active admin
    user of the account (through the outbox)."""
    log_pause(account_id, url, reason)
    services.people.mail_admins(
        account_id,
        "Status callbacks paused",
        f"Status callbacks of your smsledger account to {url} are paused: {reason}.\n\n"
        "No callback is lost: they wait in the outbox. Fix the receiver, then send "
        "PUT /v1/accounts/{id}/webhook again (or resend single callbacks) to resume.\n",
    )
