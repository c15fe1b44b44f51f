"""The callback worker: drains ``webhook_outbox``, at least once, never lost.

Each round (``deliver_once``) it
1. CLAIMS due rows in one transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so two
   workers never take the same row; SQLite: its one writer) by moving their ``next_at``
   to the end of a lease, so that no endpoint (account and URL) has more than
   ``concurrency`` in flight across every worker, and none of a paused or disabled one;
2. renders each body from the event store (``callback_body``: the message as it was
   right after the event) and POSTs it, signed, every endpoint's rows in parallel
   (``CallbackSender``, one timeout per call);
3. RECORDS every answer in one transaction: the attempt (time, status, latency, next
   try), then 2xx → ``done``; 410 → ``gone``, and the endpoint disabled; anything else
   → tried again after ``next_attempt`` (exponential, with jitter) until 24 h after its
   first attempt, then ``failed``, and the endpoint paused.

A crash after a send and before its record leaves the row claimed until the lease ends;
then it is due again and sent again under the same ``webhook-id`` (a receiver drops the
repeat by that id). A row is ``done`` only once its 2xx is recorded.

Pausing: an endpoint whose callback ran out of its 24 h is paused (recorded in
``webhook_endpoint_state``), and ``on_paused`` is called after the commit: the place to
tell the account's admin (the email outbox of the people-and-fees issue; until it
exists the default logs a warning). A re-send or a new PUT of the webhook resumes it.

Run in ``serve`` (the projections worker keeps the outbox current) and as
``smsledger deliver-webhooks`` alone, which follows the log itself (``follow=True``).
"""

from __future__ import annotations

import logging
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from smsledger.application.ports import CallbackAnswer
from smsledger.domain.webhooks import (
    RETRY_WINDOW,
    derive_secret,
    next_attempt,
    outcome_of,
)
from smsledger.projections import store_for
from smsledger.projections.messages import MessageStatusProjection
from smsledger.projections.runner import ProjectionRunner
from smsledger.projections.webhooks import (
    ENDPOINT_COLUMNS,
    EndpointRow,
    WebhookOutboxProjection,
    callback_body,
    signing_nonces,
)

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence
    from datetime import datetime
    from uuid import UUID

    from smsledger.application.ports import CallbackSender
    from smsledger.projections.db import ViewDatabase
    from smsledger.projections.events import EventLog

log = logging.getLogger(__name__)

DEFAULT_BATCH = 200
_CLAIM_LOCK_CLASS = 0x5EB400
MAX_THREADS = 32


class Claimed(NamedTuple):
    webhook_id: str
    account_id: Any
    message_id: Any
    version: int
    url: str
    attempts: int
    first_attempt_at: Any


_CLAIM_COLUMNS = ", ".join(f"o.{c}" for c in Claimed._fields)


@dataclass(frozen=True)
class RoundResult:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0  # attempts that will be tried again, or gave up
    skipped: int = 0


def log_pause(account_id: UUID, url: str, reason: str) -> None:
    """The default ``on_paused``: a warning, until the admin can be emailed."""
    log.warning(
        "webhook endpoint paused", extra={"account_id": str(account_id), "url": url, "why": reason}
    )


class WebhookWorker:
    def __init__(
        self,
        ledger: EventLog,
        views: ViewDatabase,
        sender: CallbackSender,
        key: Callable[[], bytes],
        *,
        clock: Callable[[], datetime],
        concurrency: int = 4,
        lease: timedelta = timedelta(seconds=60),
        batch_size: int = DEFAULT_BATCH,
        jitter: Callable[[], float] = random.random,
        on_paused: Callable[[UUID, str, str], None] = log_pause,
        follow: bool = False,
    ) -> None:
        self.ledger = ledger
        self.views = views
        self.sender = sender
        self.key = key
        self.clock = clock
        self.concurrency = concurrency
        self.lease = lease
        self.batch_size = batch_size
        self.jitter = jitter
        self.on_paused = on_paused
        self.sql = store_for(views.dialect)
        self.runner = (
            ProjectionRunner(
                ledger,
                views,
                [MessageStatusProjection(self.sql), WebhookOutboxProjection(self.sql)],
            )
            if follow
            else None
        )

    # --- one round ----------------------------------------------------------------------

    def deliver_once(self) -> RoundResult:
        """Claim what is due now, send it, record every answer."""
        now = self.clock()
        claimed = self._claim(now)
        if not claimed:
            return RoundResult()
        endpoints = self._endpoints({c.account_id for c in claimed})
        work: list[tuple[Claimed, bytes, list[str]]] = []
        skipped: list[tuple[Claimed, str]] = []
        for c in claimed:
            s = self.sql
            body = callback_body(self.ledger, s.to_uuid(c.message_id), int(c.version))
            endpoint = endpoints.get(c.account_id)
            if body is None:
                skipped.append((c, "the event did not change the status"))
            elif endpoint is None:
                skipped.append((c, "the account's webhook (and its secret) was removed"))
            else:
                nonces = signing_nonces(endpoint, s, now)
                account_id = s.to_uuid(c.account_id)
                secrets = [derive_secret(self.key(), account_id, n) for n in nonces]
                work.append((c, body, secrets))
        answers = self._send_all(work)
        return self._record(now, answers, skipped)

    def run_until_idle(self, max_rounds: int = 1000) -> int:
        """Rounds until nothing is due; the number of callbacks delivered."""
        delivered = 0
        for _ in range(max_rounds):
            if self.runner is not None:
                self.runner.run_once()
            result = self.deliver_once()
            delivered += result.delivered
            if result.claimed == 0:
                break
        return delivered

    def run_forever(self, stop: threading.Event, *, interval: float = 0.1) -> None:
        """Rounds until ``stop`` is set; errors are logged and retried."""
        while not stop.is_set():
            try:
                if self.runner is not None:
                    self.runner.run_once(max_pages=50)
                if self.deliver_once().claimed == 0:
                    stop.wait(interval)
            except Exception:
                log.exception("webhook round failed; retrying")
                stop.wait(1.0)

    # --- claim --------------------------------------------------------------------------

    def _claim(self, now: datetime) -> list[Claimed]:
        s, ph = self.sql, self.sql.ph
        lock = " FOR UPDATE OF o SKIP LOCKED" if self.views.dialect == "postgres" else ""
        with self.views.transaction() as cur:
            if self.views.dialect == "postgres":
                # Claims take turns (they are short), so two workers never both see an
                # endpoint's free slots: the limit holds across processes.
                cur.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))",
                    (_CLAIM_LOCK_CLASS,),
                )
            cur.execute(
                "SELECT account_id, url, COUNT(*) FROM webhook_outbox WHERE state = 'pending' "
                f"AND claimed_until > {ph} GROUP BY account_id, url",
                (s.time(now),),
            )
            per_endpoint: dict[tuple[Any, str], int] = {
                (a, u): int(n) for a, u, n in cur.fetchall()
            }
            cur.execute(
                f"SELECT {_CLAIM_COLUMNS} FROM webhook_outbox o LEFT JOIN "
                "webhook_endpoint_state e ON e.account_id = o.account_id AND e.url = o.url "
                f"WHERE o.state = 'pending' AND o.next_at <= {ph} "
                "AND (e.state IS NULL OR e.state = 'active') "
                f"ORDER BY o.next_at, o.position LIMIT {ph}{lock}",
                (s.time(now), self.batch_size * 4),
            )
            chosen: list[Claimed] = []
            for raw in cur.fetchall():
                c = Claimed._make(raw)
                key = (c.account_id, c.url)
                if per_endpoint.get(key, 0) >= self.concurrency:
                    continue  # the per-endpoint limit: the rest waits for a later round
                per_endpoint[key] = per_endpoint.get(key, 0) + 1
                chosen.append(c)
                if len(chosen) >= self.batch_size:
                    break
            if chosen:
                lease_end = s.time(now + self.lease)
                cur.executemany(
                    f"UPDATE webhook_outbox SET next_at = {ph}, claimed_until = {ph}, "
                    f"first_attempt_at = COALESCE(first_attempt_at, {ph}) WHERE webhook_id = {ph}",
                    [(lease_end, lease_end, s.time(now), c.webhook_id) for c in chosen],
                )
        return chosen

    def _endpoints(self, account_ids: set[Any]) -> dict[Any, EndpointRow]:
        s = self.sql
        with self.views.reading() as cur:
            rows = s.select_in(
                cur,
                f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE {{cond}}",
                "account_id",
                list(account_ids),
            )
        return {row[0]: EndpointRow._make(row) for row in rows}

    # --- send ---------------------------------------------------------------------------

    def _send_all(
        self, work: Sequence[tuple[Claimed, bytes, list[str]]]
    ) -> list[tuple[Claimed, CallbackAnswer]]:
        if not work:
            return []

        def one(item: tuple[Claimed, bytes, list[str]]) -> tuple[Claimed, CallbackAnswer]:
            c, body, secrets = item
            try:
                return c, self.sender.send(c.url, c.webhook_id, body, secrets)
            except Exception as e:  # a sender bug must not lose the round's records
                log.exception("webhook send failed")
                return c, CallbackAnswer(None, 0, f"{type(e).__name__}: {e}")

        if len(work) == 1:
            return [one(work[0])]
        with ThreadPoolExecutor(max_workers=min(len(work), MAX_THREADS)) as pool:
            return list(pool.map(one, work))

    # --- record -------------------------------------------------------------------------

    def _record(
        self,
        claimed_at: datetime,
        answers: Sequence[tuple[Claimed, CallbackAnswer]],
        skipped: Sequence[tuple[Claimed, str]],
    ) -> RoundResult:
        s, ph = self.sql, self.sql.ph
        at = self.clock()
        delivered = failed = 0
        paused: dict[tuple[Any, str], str] = {}
        with self.views.transaction() as cur:
            # Answered (or given up on): no longer in flight, whatever comes next.
            cur.executemany(
                f"UPDATE webhook_outbox SET claimed_until = NULL WHERE webhook_id = {ph}",
                [(c.webhook_id,) for c, _ in [*answers, *skipped]],
            )
            for c, reason in skipped:
                cur.execute(
                    f"UPDATE webhook_outbox SET state = 'skipped', next_at = {ph} "
                    f"WHERE webhook_id = {ph}",
                    (s.time(at), c.webhook_id),
                )
                self._attempt(cur, c.webhook_id, at, None, reason, None)
            for c, answer in answers:
                outcome = outcome_of(answer.status_code)
                attempts = int(c.attempts) + 1
                key = (c.account_id, c.url)
                if outcome == "done":
                    delivered += 1
                    cur.execute(
                        f"UPDATE webhook_outbox SET state = 'done', attempts = {ph}, "
                        f"last_status = {ph}, delivered_at = {ph}, next_at = {ph} "
                        f"WHERE webhook_id = {ph}",
                        (attempts, answer.status_code, s.time(at), s.time(at), c.webhook_id),
                    )
                    self._attempt(cur, c.webhook_id, at, answer, None, None)
                    self._endpoint_ok(cur, c, at)
                    continue
                failed += 1
                if outcome == "disable":
                    cur.execute(
                        f"UPDATE webhook_outbox SET state = 'gone', attempts = {ph}, "
                        f"last_status = {ph}, next_at = {ph} WHERE webhook_id = {ph}",
                        (attempts, answer.status_code, s.time(at), c.webhook_id),
                    )
                    self._attempt(cur, c.webhook_id, at, answer, answer.error, None)
                    self._endpoint_set(cur, c, "disabled", at, "the receiver answered 410 Gone")
                    continue
                first = claimed_at if c.first_attempt_at is None else s.to_time(c.first_attempt_at)
                retry_at = at + next_attempt(attempts, self.jitter())
                if retry_at > first + RETRY_WINDOW:
                    cur.execute(
                        f"UPDATE webhook_outbox SET state = 'failed', attempts = {ph}, "
                        f"last_status = {ph}, next_at = {ph} WHERE webhook_id = {ph}",
                        (attempts, answer.status_code, s.time(at), c.webhook_id),
                    )
                    self._attempt(cur, c.webhook_id, at, answer, answer.error, None)
                    reason = "a callback kept failing for 24 hours"
                    self._endpoint_set(cur, c, "paused", at, reason)
                    paused[key] = reason
                    continue
                cur.execute(
                    f"UPDATE webhook_outbox SET attempts = {ph}, last_status = {ph}, "
                    f"next_at = {ph} WHERE webhook_id = {ph}",
                    (attempts, answer.status_code, s.time(retry_at), c.webhook_id),
                )
                self._attempt(cur, c.webhook_id, at, answer, answer.error, retry_at)
                self._endpoint_failed(cur, c, at)
        for (account_id, url), reason in paused.items():
            try:
                self.on_paused(s.to_uuid(account_id), url, reason)
            except Exception:
                log.exception("on_paused hook failed")
        return RoundResult(
            claimed=len(answers) + len(skipped),
            delivered=delivered,
            failed=failed,
            skipped=len(skipped),
        )

    def _attempt(
        self,
        cur: Any,
        webhook_id: str,
        at: datetime,
        answer: CallbackAnswer | None,
        error: str | None,
        next_at: datetime | None,
    ) -> None:
        s = self.sql
        cur.execute(
            "INSERT INTO webhook_attempts (webhook_id, at, status_code, error, latency_ms, "
            f"next_at) VALUES ({s.marks(6)})",
            (
                webhook_id,
                s.time(at),
                None if answer is None else answer.status_code,
                error,
                0 if answer is None else answer.latency_ms,
                None if next_at is None else s.time(next_at),
            ),
        )

    def _endpoint_ok(self, cur: Any, c: Claimed, at: datetime) -> None:
        ph = self.sql.ph
        cur.execute(
            f"UPDATE webhook_endpoint_state SET failures = 0 WHERE account_id = {ph} "
            f"AND url = {ph} AND failures > 0",
            (c.account_id, c.url),
        )

    def _endpoint_failed(self, cur: Any, c: Claimed, at: datetime) -> None:
        s = self.sql
        cur.execute(
            "INSERT INTO webhook_endpoint_state (account_id, url, state, failures, changed_at) "
            f"VALUES ({s.marks(5)}) ON CONFLICT (account_id, url) DO UPDATE SET "
            "failures = webhook_endpoint_state.failures + 1",
            (c.account_id, c.url, "active", 1, s.time(at)),
        )

    def _endpoint_set(self, cur: Any, c: Claimed, state: str, at: datetime, reason: str) -> None:
        set_endpoint_state(cur, self.sql.dialect, c.account_id, c.url, state, at, reason, self.sql)


def set_endpoint_state(
    cur: Any,
    dialect: str,
    account_id: Any,
    url: str,
    state: str,
    at: datetime,
    reason: str | None,
    store: Any = None,
) -> None:
    """Record an endpoint's state (``active`` again resets its failure count)."""
    s = store or store_for(dialect)
    cur.execute(
        "INSERT INTO webhook_endpoint_state (account_id, url, state, failures, changed_at, "
        f"reason) VALUES ({s.marks(6)}) ON CONFLICT (account_id, url) DO UPDATE SET "
        "state = excluded.state, changed_at = excluded.changed_at, reason = excluded.reason, "
        "failures = CASE WHEN excluded.state = 'active' THEN 0 "
        "ELSE webhook_endpoint_state.failures + 1 END",
        (account_id, url, state, 0 if state == "active" else 1, s.time(at), reason),
    )


def resend(views: ViewDatabase, account_id: UUID, webhook_id: str, now: datetime) -> bool:
    """Send one callback again, now, with a fresh 24 h of retries; its endpoint resumes
    if it was paused or disabled (the admin asked). ``False`` if the account has no such
    callback."""
    s = store_for(views.dialect)
    ph = s.ph
    with views.transaction() as cur:
        cur.execute(
            f"SELECT url FROM webhook_outbox WHERE webhook_id = {ph} AND account_id = {ph}",
            (webhook_id, s.uuid(account_id)),
        )
        row = cur.fetchone()
        if row is None:
            return False
        cur.execute(
            f"UPDATE webhook_outbox SET state = 'pending', next_at = {ph}, "
            f"first_attempt_at = NULL WHERE webhook_id = {ph}",
            (s.time(now), webhook_id),
        )
        set_endpoint_state(cur, views.dialect, s.uuid(account_id), row[0], "active", now, None, s)
    return True


def resume_endpoint(views: ViewDatabase, account_id: UUID, url: str, now: datetime) -> None:
    """A webhook configured (again): its URL is active, whatever happened to it before."""
    s = store_for(views.dialect)
    with views.transaction() as cur:
        set_endpoint_state(cur, views.dialect, s.uuid(account_id), url, "active", now, None, s)
