"""The add-ons view: each add-on with its dates and the next fee date, and every fee
charged (what reconciliation checks the invoices' fee lines against)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from smsledger.domain.addons import add_months, due_dates
from smsledger.projections.runner import Projection

if TYPE_CHECKING:
    from collections.abc import Sequence

    from smsledger.projections.runner import LoggedEvent
    from smsledger.projections.store import ViewStore

A = "smsledger:AddOn."
ORDERED = A + "Ordered"
NOTICE_GIVEN = A + "NoticeGiven"
FEE_CHARGED = A + "FeeCharged"


def next_due(started_on: str, ends_on: str | None, charged: set[str]) -> str | None:
    """The first fee date not charged yet, before the end; ``None`` when none is left."""
    start = date.fromisoformat(started_on)
    end = date.fromisoformat(ends_on) if ends_on else None
    horizon = add_months(start, 12 * (len(charged) + 1))
    for due in due_dates(start, end, horizon):
        if due.isoformat() not in charged:
            return due.isoformat()
    return None


class AddOnsProjection(Projection):
    name = "add_ons"
    topics = (ORDERED, NOTICE_GIVEN, FEE_CHARGED)

    def __init__(self, store: ViewStore) -> None:
        self.store = store

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        s, ph = self.store, self.store.ph
        for logged in events:  # few: one order, a notice, a fee a year per add-on
            e = logged.event
            add_on = s.uuid(e.originator_id)
            if logged.topic == ORDERED:
                cur.execute(
                    "INSERT INTO view_add_ons (id, account_id, kind, number, price_per_year, "
                    "currency, started_on, next_due_on, ordered_at) "
                    f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph}) "
                    "ON CONFLICT (id) DO NOTHING",
                    [
                        add_on,
                        s.uuid(e.account_id),
                        e.kind,
                        e.number,
                        e.price_per_year,
                        e.currency,
                        e.started_on,
                        e.started_on,
                        s.time(e.timestamp),
                    ],
                )
                continue
            if logged.topic == NOTICE_GIVEN:
                cur.execute(
                    f"UPDATE view_add_ons SET notice_given_on = {ph}, ends_on = {ph} "
                    f"WHERE id = {ph}",
                    [e.notice_given_on, e.ends_on, add_on],
                )
            else:
                cur.execute(
                    "INSERT INTO view_add_on_fees (add_on_id, due_on, account_id, period, amount) "
                    f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}) ON CONFLICT DO NOTHING",
                    [add_on, e.due_on, s.uuid(e.account_id), e.period, e.amount],
                )
            self._refresh_next_due(cur, add_on)

    def _refresh_next_due(self, cur: Any, add_on: Any) -> None:
        ph = self.store.ph
        cur.execute(f"SELECT started_on, ends_on FROM view_add_ons WHERE id = {ph}", [add_on])
        row = cur.fetchone()
        if row is None:
            return
        cur.execute(f"SELECT due_on FROM view_add_on_fees WHERE add_on_id = {ph}", [add_on])
        charged = {str(r[0]) for r in cur.fetchall()}
        cur.execute(
            f"UPDATE view_add_ons SET next_due_on = {ph} WHERE id = {ph}",
            [next_due(str(row[0]), row[1], charged), add_on],
        )

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM view_add_on_fees")
        cur.execute("DELETE FROM view_add_ons")
