"""Concurrent clients against a real ``smsledger serve``, and what the store holds after.

Shared by the concurrency and kill -9 scenarios: open an account over HTTP, fire sends
from many threads, and read the charges straight from the event store (not from a
view), so "charges equal answers" is checked against the ledger's own record.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from smsledger.application.ledger import Ledger
from smsledger.domain.account import Account
from smsledger.domain.message import Message
from tests.e2e.serving import clean_env
from tests.support import url_of

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from uuid import UUID

    from smsledger.adapters.storage import Database

OPERATOR_TOKEN = "ops-writes-operator-token-0123456789"


def serve_env(database: Database, **overrides: str) -> dict[str, str]:
    """``serve`` on this database with every worker on; the simulated carrier delivers
    everything, so no refund moves the balance while the test counts charges."""
    return clean_env(
        SMSLEDGER_DATABASE_URL=url_of(database),
        SMSLEDGER_OPERATOR_TOKEN=OPERATOR_TOKEN,
        SMSLEDGER_SIMULATOR_MIX="delivered=1",
        SMSLEDGER_LOG_LEVEL="WARNING",
        **overrides,
    )


def _operator() -> dict[str, str]:
    return {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@dataclass
class Sender:
    """An account with a balance and a sender key."""

    account_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def open_sender(url: str, balance: int, name: str = "Acme") -> Sender:
    with httpx.Client(base_url=url, timeout=30) as http:
        r = http.post(
            "/v1/accounts",
            json={"name": name, "payment_model": "balance", "currency": "SEK"},
            headers=_operator(),
        )
        assert r.status_code == 201, r.text
        account_id, admin = r.json()["id"], r.json()["admin_key"]
        k = http.post(
            f"/v1/accounts/{account_id}/keys",
            json={"role": "sender"},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert k.status_code == 201, k.text
        t = http.post(
            f"/v1/accounts/{account_id}/top-ups",
            json={"amount": balance, "reference": f"initial-{name}"},
            headers=_operator(),
        )
        assert t.status_code == 201, t.text
    return Sender(account_id, k.json()["key"])


def recipient(n: int) -> str:
    return f"+4670{n:07d}"


@dataclass
class Answer:
    """One request's fate: an HTTP status and body, or the transport error it met."""

    status: int | None
    body: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


def send_one(
    url: str, sender: Sender, n: int, reference: str | None = None, *, recipients: int = 1
) -> Answer:
    """One send (to one recipient unless told); never raises."""
    payload: dict[str, Any] = {
        "sender": "Acme",
        "recipients": [recipient(n * recipients + k) for k in range(recipients)],
        "body": f"hi {n}",
    }
    if reference is not None:
        payload["reference"] = reference
    started = time.monotonic()
    try:
        r = httpx.post(url + "/v1/messages", json=payload, headers=sender.headers, timeout=60)
    except httpx.TransportError as e:
        return Answer(None, error=type(e).__name__, seconds=time.monotonic() - started)
    body = r.json() if r.headers.get("content-type", "").endswith("json") else {}
    return Answer(r.status_code, body, seconds=time.monotonic() - started)


def in_parallel(calls: Sequence[Callable[[], Answer]], threads: int) -> list[Answer]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda call: call(), calls))


def charged(answers: Sequence[Answer]) -> dict[UUID, int]:
    """What the 202 answers say was charged: message id to price, funded messages only."""
    out: dict[UUID, int] = {}
    for a in answers:
        if a.status == 202:
            for m in a.body["messages"]:
                if m["status"]["code"] != 402 and m["price"]:
                    out[uuid.UUID(m["id"])] = int(m["price"])
    return out


@dataclass(frozen=True)
class Stored:
    """What the event store says of one account."""

    charges: dict[UUID, int]  # message id to amount, from the account's BatchCharged events
    times_charged: dict[UUID, int]  # how many charge entries each message has
    balance: int
    messages: set[UUID]  # every message aggregate of the account's batches


def stored(database: Database, account_id: str) -> Stored:
    ledger = Ledger(database.eventsourcing_env())
    try:
        charges: dict[UUID, int] = {}
        times: dict[UUID, int] = {}
        for event in ledger.events.get(uuid.UUID(account_id)):
            if isinstance(event, Account.BatchCharged):  # type: ignore[attr-defined]
                for mid, amount in event.charges:
                    key = uuid.UUID(str(mid))
                    charges[key] = int(amount)
                    times[key] = times.get(key, 0) + 1
        account = ledger.get_account(uuid.UUID(account_id))
        found = ledger.get_messages(list(charges))
        messages = {mid for mid, m in found.items() if isinstance(m, Message)}
        return Stored(charges, times, account.balance, messages)
    finally:
        ledger.close()


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]
