"""Account balance and ledger view: the balance per account, and every movement of it.

A ledger entry is numbered per account (``seq``) and carries the balance after it. A
batch charged to the balance gives one ``charge`` entry per message, a refund pass one
``refund`` entry per message, a top-up one ``top_up`` entry. Charges that go on an
invoice do not move the balance and are not here (they are on the invoice).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from smsledger.projections.runner import Projection

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from smsledger.projections.runner import LoggedEvent
    from smsledger.projections.store import ViewStore

A = "smsledger:Account."
OPENED = A + "Opened"
TOPPED_UP = A + "ToppedUp"
BATCH_CHARGED = A + "BatchCharged"
REFUNDED = A + "Refunded"
PAYMENT_MODEL_CHANGED = A + "PaymentModelChanged"

ACCOUNT_COLUMNS = (
    "id",
    "name",
    "payment_model",
    "currency",
    "timezone",
    "balance",
    "entries",
    "opened_at",
)
ENTRY_COLUMNS = (
    "account_id",
    "seq",
    "at",
    "period",
    "kind",
    "amount",
    "balance_after",
    "message_id",
    "reference",
)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_period(at: datetime, timezone: str) -> str:
    """``YYYY-MM`` of ``at`` in ``timezone`` (``domain.periods.period_of``, cached zone)."""
    local = at.astimezone(_zone(timezone))
    return f"{local.year:04d}-{local.month:02d}"


class AccountLedgerProjection(Projection):
    name = "account_ledger"
    topics = (OPENED, TOPPED_UP, BATCH_CHARGED, REFUNDED, PAYMENT_MODEL_CHANGED)
    beside = True  # reads only its own tables

    def __init__(self, store: ViewStore) -> None:
        self.store = store

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        s = self.store
        opened = {e.event.originator_id for e in events if e.topic == OPENED}
        before = {e.event.originator_id for e in events} - opened
        accounts = self._load(cur, list(before)) if before else {}
        new: dict[UUID, dict[str, Any]] = {}
        entries: list[tuple[Any, ...]] = []
        uuid, time = s.uuid, s.time
        for logged in events:
            e = logged.event
            aid = e.originator_id
            if logged.topic == OPENED:
                new[aid] = {
                    "name": e.name,
                    "payment_model": e.payment_model,
                    "currency": e.currency,
                    "timezone": e.timezone,
                    "balance": 0,
                    "entries": 0,
                    "opened_at": e.timestamp,
                }
                continue
            acc = new.get(aid) or accounts.get(aid)
            if acc is None:
                continue
            topic = logged.topic
            if topic == PAYMENT_MODEL_CHANGED:
                acc["payment_model"] = e.payment_model
                continue
            moves: list[tuple[str, int, str | None, str | None]] = []
            if topic == TOPPED_UP:
                moves.append(("top_up", e.amount, None, e.reference))
            elif topic == BATCH_CHARGED:
                if e.charged_to != "balance":
                    continue
                moves.extend(("charge", -int(amount), str(mid), None) for mid, amount in e.charges)
            elif topic == REFUNDED:
                moves.extend(("refund", int(amount), str(mid), None) for mid, amount in e.refunds)
            if not moves:
                continue
            at = time(e.timestamp)
            period = local_period(e.timestamp, acc["timezone"])
            account_key = uuid(aid)
            balance, seq = acc["balance"], acc["entries"]
            for kind, amount, mid, reference in moves:
                balance += amount
                seq += 1
                entries.append(
                    (
                        account_key,
                        seq,
                        at,
                        period,
                        kind,
                        amount,
                        balance,
                        None if mid is None else uuid(UUID(mid)),
                        reference,
                    )
                )
            acc["balance"], acc["entries"] = balance, seq
        s.insert_many(
            cur,
            "view_accounts",
            ACCOUNT_COLUMNS,
            [
                (
                    uuid(aid),
                    a["name"],
                    a["payment_model"],
                    a["currency"],
                    a["timezone"],
                    a["balance"],
                    a["entries"],
                    time(a["opened_at"]),
                )
                for aid, a in new.items()
            ],
        )
        s.update_rows(
            cur,
            "view_accounts",
            ("id", "uuid"),
            (("payment_model", "text"), ("balance", "bigint"), ("entries", "bigint")),
            [
                (a["payment_model"], a["balance"], a["entries"], uuid(aid))
                for aid, a in accounts.items()
            ],
        )
        s.insert_many(cur, "view_ledger_entries", ENTRY_COLUMNS, entries)

    def _load(self, cur: Any, ids: list[UUID]) -> dict[UUID, dict[str, Any]]:
        s = self.store
        rows = s.select_in(
            cur,
            "SELECT id, payment_model, timezone, balance, entries FROM view_accounts WHERE {cond}",
            "id",
            [s.uuid(i) for i in ids],
        )
        return {
            s.to_uuid(r[0]): {
                "payment_model": r[1],
                "timezone": r[2],
                "balance": int(r[3]),
                "entries": int(r[4]),
            }
            for r in rows
        }

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM view_ledger_entries")
        cur.execute("DELETE FROM view_accounts")
