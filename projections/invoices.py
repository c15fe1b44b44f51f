"""Monthly invoices: what post-invoiced accounts owe per calendar month.

Built from the Message events (``Funded`` with ``charged_to="invoice"`` names the
period in the account's time zone; ``Refunded`` with ``refunded_to="invoice"`` likewise)
and from ``Account.InvoiceIssued``. Lines are grouped by kind, destination country and
unit price, never one per message; ``quantity`` counts segments.

Issuing is an event on the Account (auditable, and replayed in log order by a rebuild),
so which invoice a charge lands on depends only on the log: a charge or refund for a
period whose ``InvoiceIssued`` comes earlier in the log goes on the next open invoice
as an ``adjustment`` line, and an issued invoice never changes.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from smsledger.domain.addons import DESCRIPTION, add_months
from smsledger.domain.addressing import country_of
from smsledger.domain.money import CURRENCIES, Money
from smsledger.domain.periods import next_period
from smsledger.projections.runner import Projection

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    from smsledger.domain.message import Message
    from smsledger.projections.events import EventLog
    from smsledger.projections.runner import LoggedEvent
    from smsledger.projections.store import ViewStore

ACCEPTED = "smsledger:Message.Accepted"
FUNDED = "smsledger:Message.Funded"
REFUNDED = "smsledger:Message.Refunded"
ISSUED = "smsledger:Account.InvoiceIssued"
FEE_CHARGED = "smsledger:AddOn.FeeCharged"

FACT_COLUMNS = (
    "message_id",
    "account_id",
    "country",
    "unit_price",
    "segments",
    "currency",
    "charge_period",
)
LINE_COLUMNS = (
    "account_id",
    "period",
    "line_key",
    "kind",
    "source_kind",
    "origin_period",
    "description",
    "quantity",
    "amount",
)
KIND_ORDER = {"sms": 0, "refund": 1, "fee": 2, "adjustment": 3}


def _money(amount: int, currency: str) -> str:
    return str(Money(amount, currency)) if currency in CURRENCIES else f"{amount} {currency}"


@lru_cache(maxsize=4096)
def _single_region(calling_code: int) -> str | None:
    regions = COUNTRY_CODE_TO_REGION_CODE.get(calling_code, ())
    if len(regions) == 1 and len(regions[0]) == 2 and regions[0].isalpha():
        return str(regions[0])
    return None


def destination(recipient: str) -> str:
    """The recipient's country, as ``domain.addressing.country_of`` says; a calling code
    that belongs to one country alone is read from the prefix (no full parse)."""
    if recipient.startswith("+"):
        for length in (1, 2, 3):
            digits = recipient[1 : 1 + length]
            if digits.isdigit() and int(digits) in COUNTRY_CODE_TO_REGION_CODE:
                region = _single_region(int(digits))
                if region is not None:
                    return region
                break
    return country_of(recipient)


@lru_cache(maxsize=4096)
def describe(source: str, country: str, unit_price: int, currency: str) -> str:
    what = f"SMS to {country}, {_money(unit_price, currency)} per segment"
    return what if source == "sms" else f"Refunded {what}"


class Facts:
    """What an invoice line needs to know about one invoice-charged message."""

    __slots__ = ("account_id", "charge_period", "country", "currency", "segments", "unit_price")

    def __init__(
        self,
        account_id: UUID,
        country: str,
        unit_price: int,
        segments: int,
        currency: str,
        charge_period: str | None = None,
    ) -> None:
        self.account_id = account_id
        self.charge_period = charge_period
        self.country = country
        self.unit_price = unit_price
        self.segments = segments
        self.currency = currency


class InvoiceProjection(Projection):
    name = "invoices"
    topics = (ACCEPTED, FUNDED, REFUNDED, ISSUED, FEE_CHARGED)
    beside = True  # reads only its own tables

    def __init__(self, store: ViewStore) -> None:
        self.store = store
        self.ledger: EventLog | None = None
        ph = store.ph
        self._upsert_line = (
            f"INSERT INTO view_invoice_lines ({', '.join(LINE_COLUMNS)}) "
            f"VALUES ({', '.join([ph] * len(LINE_COLUMNS))}) "
            "ON CONFLICT (account_id, period, line_key) DO UPDATE SET "
            "quantity = view_invoice_lines.quantity + excluded.quantity, "
            "amount = view_invoice_lines.amount + excluded.amount"
        )
        self._open = (
            f"INSERT INTO view_invoices (account_id, period, status) VALUES ({ph}, {ph}, 'open') "
            "ON CONFLICT (account_id, period) DO NOTHING"
        )
        self._issue = (
            "INSERT INTO view_invoices (account_id, period, status, issued_at) "
            f"VALUES ({ph}, {ph}, 'issued', {ph}) ON CONFLICT (account_id, period) "
            "DO UPDATE SET status = 'issued', issued_at = excluded.issued_at"
        )

    def bind(self, ledger: EventLog) -> None:
        self.ledger = ledger

    def apply(self, cur: Any, events: Sequence[LoggedEvent]) -> None:
        s = self.store
        accepted: dict[UUID, Any] = {}
        new_facts: dict[UUID, Facts] = {}
        refunded: list[UUID] = []
        wanted: list[LoggedEvent] = []
        for logged in events:
            e = logged.event
            if logged.topic == ACCEPTED:
                accepted[e.originator_id] = e
            elif logged.topic == FUNDED:
                if e.charged_to == "invoice":
                    fact = self._facts(accepted, e.originator_id)
                    fact.charge_period = e.period
                    new_facts[e.originator_id] = fact
                    wanted.append(logged)
            elif logged.topic == REFUNDED:
                if e.refunded_to == "invoice":
                    refunded.append(e.originator_id)
                    wanted.append(logged)
            else:
                wanted.append(logged)
        if not wanted:
            return
        facts = dict(new_facts)
        missing = [m for m in refunded if m not in facts]
        if missing:
            facts.update(self._load_facts(cur, missing))
        accounts = (
            {f.account_id for f in facts.values()}
            | {w.event.originator_id for w in wanted if w.topic == ISSUED}
            | {w.event.account_id for w in wanted if w.topic == FEE_CHARGED}
        )
        issued = self._issued(cur, accounts)

        lines: dict[tuple[UUID, str, str], list[Any]] = {}
        open_invoices: set[tuple[UUID, str]] = set()
        issues: list[tuple[UUID, str, Any]] = []
        for logged in wanted:
            e = logged.event
            if logged.topic == ISSUED:
                issued.setdefault(e.originator_id, set()).add(e.period)
                issues.append((e.originator_id, e.period, e.timestamp))
                continue
            if logged.topic == FEE_CHARGED:
                self._fee_line(e, issued.get(e.account_id, set()), lines, open_invoices)
                continue
            f = facts.get(e.originator_id)
            if f is None:  # refunded on invoice, but never charged to one: nothing to bill
                continue
            if logged.topic == FUNDED:
                source, amount = "sms", int(e_price(accepted, e.originator_id, f))
            else:
                source, amount = "refund", -int(e.amount)
            # ``origin``: the period the money movement belongs to (what reconciliation
            # adds up); ``corrects``: the month whose invoice it changes, which for a
            # refund is the month its message was charged in (rows from before that was
            # kept fall back to the refund's own month).
            origin = e.period
            corrects = origin if source == "sms" else (f.charge_period or origin)
            target, kind = origin, source
            done = issued.get(f.account_id, set())
            if origin in done:
                target = next_period(origin)
                while target in done:
                    target = next_period(target)
            if target != origin or corrects in done:
                kind = "adjustment"  # the invoice it belongs to is issued: never changed
            key = f"{source}|{f.country}|{f.unit_price}"
            description = describe(source, f.country, f.unit_price, f.currency)
            if kind == "adjustment":
                # One line per message: finance follows it back to the message and the
                # invoice it corrects.
                key = f"adjustment|{corrects}|{e.originator_id}|{key}"
                description = f"Adjustment for {corrects}, message {e.originator_id}: {description}"
            line = lines.get((f.account_id, target, key))
            if line is None:
                lines[(f.account_id, target, key)] = [kind, source, origin, description, 0, 0]
                line = lines[(f.account_id, target, key)]
            line[4] += f.segments
            line[5] += amount
            open_invoices.add((f.account_id, target))

        uuid = s.uuid
        s.insert_many(
            cur,
            "view_invoice_messages",
            FACT_COLUMNS,
            [
                (
                    uuid(m),
                    uuid(f.account_id),
                    f.country,
                    f.unit_price,
                    f.segments,
                    f.currency,
                    f.charge_period,
                )
                for m, f in new_facts.items()
            ],
        )
        s.update_many(cur, self._open, [(uuid(a), p) for a, p in sorted(open_invoices)])
        s.update_many(cur, self._issue, [(uuid(a), p, s.time(t)) for a, p, t in issues])
        s.update_many(
            cur,
            self._upsert_line,
            [(uuid(a), p, k, *line) for (a, p, k), line in lines.items()],
        )

    @staticmethod
    def _fee_line(
        e: Any,
        done: set[str],
        lines: dict[tuple[UUID, str, str], list[Any]],
        open_invoices: set[tuple[UUID, str]],
    ) -> None:
        """An add-on's yearly fee: a line of its own on its due month's invoice (0 and
        "included" under a subscription); once that month is issued, an adjustment on
        the next open one."""
        origin = target = e.period
        while target in done:
            target = next_period(target)
        due = date.fromisoformat(e.due_on)
        until = add_months(due, 12) - timedelta(days=1)
        what = f"{DESCRIPTION[e.kind]}, {due.isoformat()} to {until.isoformat()}"
        if e.amount == 0:
            what += " (included in the subscription)"
        else:
            what += f", {_money(int(e.amount), e.currency)} a year"
        kind = "fee"
        if target != origin:
            kind, what = "adjustment", f"Adjustment for {origin}: {what}"
        key = f"{kind}|fee|{e.originator_id}|{e.due_on}"
        lines[(e.account_id, target, key)] = [kind, "fee", origin, what, 1, int(e.amount)]
        open_invoices.add((e.account_id, target))

    def _facts(self, accepted: dict[UUID, Any], message_id: UUID) -> Facts:
        e = accepted.get(message_id)
        if e is None:
            # Its Accepted event ended the previous page (they are written together, so
            # this is at most one message per page): read it from the event store.
            if self.ledger is None:
                msg = "InvoiceProjection needs the ledger (ProjectionRunner binds it)"
                raise RuntimeError(msg)
            m = cast("Message", self.ledger.repository.get(message_id, version=1))
            accepted[message_id] = m
            return Facts(
                m.account_id, destination(m.recipient), m.unit_price, m.segments, m.currency
            )
        return Facts(e.account_id, destination(e.recipient), e.unit_price, e.segments, e.currency)

    def _load_facts(self, cur: Any, ids: list[UUID]) -> dict[UUID, Facts]:
        s = self.store
        rows = s.select_in(
            cur,
            f"SELECT {', '.join(FACT_COLUMNS)} FROM view_invoice_messages WHERE {{cond}}",
            "message_id",
            [s.uuid(i) for i in ids],
        )
        return {
            s.to_uuid(r[0]): Facts(s.to_uuid(r[1]), r[2], int(r[3]), int(r[4]), r[5], r[6])
            for r in rows
        }

    def _issued(self, cur: Any, accounts: set[UUID]) -> dict[UUID, set[str]]:
        s = self.store
        out: dict[UUID, set[str]] = {}
        if not accounts:
            return out
        rows = s.select_in(
            cur,
            "SELECT account_id, period FROM view_invoices WHERE status = 'issued' AND {cond}",
            "account_id",
            [s.uuid(a) for a in accounts],
        )
        for r in rows:
            out.setdefault(s.to_uuid(r[0]), set()).add(r[1])
        return out

    def clear(self, cur: Any) -> None:
        cur.execute("DELETE FROM view_invoice_lines")
        cur.execute("DELETE FROM view_invoices")
        cur.execute("DELETE FROM view_invoice_messages")


def e_price(accepted: dict[UUID, Any], message_id: UUID, f: Facts) -> int:
    """The charged price: the Accepted event's, else segments x unit price."""
    e = accepted.get(message_id)
    return int(e.price) if e is not None else f.segments * f.unit_price
