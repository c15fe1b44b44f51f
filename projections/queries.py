"""The read side's one entry point: ``Queries``, what the API and the CLI read through.

    runner = build_runner(ledger, views)          # every projection, one runner
    q = Queries(ledger, views)

    q.message(message_id, account_id | None) -> dict | None      GET /v1/messages/{id}
    q.messages(account_id | None, filters, limit=100, cursor=None)
        -> (items, next_cursor)                                    GET /v1/messages
        filters: batch_id, status (code), group, recipient, created_after, created_before
    q.balance(account_id) -> int | None                            projected balance
    q.ledger(account_id, period | None, limit=100, cursor=None)
        -> (entries, next_cursor)                                  GET .../ledger
    q.invoice(account_id, period) -> dict                          GET .../invoices/{period}
    q.invoices(account_id, limit, cursor) -> (items, next_cursor)  GET .../invoices
    q.accounts(account_id | None, limit, cursor) -> (items, next)  GET /v1/accounts
    q.reconciliation(period, account_id | None) -> dict            GET /v1/reconciliation
    q.history(message_id, as_of | None, account_id | None) -> dict GET .../history
    q.contact_history(contact_id, account_id) -> dict              GET .../contacts/{id}/history
    q.balance_as_of(account_id, at) -> int                         from the event store
    q.ledger_recent(account_id, period | None, limit) -> entries   the console's chart
    q.invoice_lines(account_id, period) -> [InvoiceLineKeyRow]     lines with their keys
    q.invoice_line_messages(account_id, period, line_key, limit, cursor)
        -> (items, next_cursor)                                    a line's messages
    q.status_counts() -> {code: n}                                 /metrics

Reads only: nothing here writes, and nothing here knows who is asking beyond the
account an answer is limited to. Rows are read by name (``MessageRow`` and friends).
Dicts are in the contract's exact shapes, with ``UUID`` and aware ``datetime`` values
(orjson and pydantic render both). ``account_id=None`` means the operator: no scope; an
id outside the caller's account reads as not found. Malformed input (a bad cursor or
period, a limit out of range) raises ``InvalidRequestError``; an unknown account
``AccountNotFoundError``; an unknown message ``MessageNotFoundError`` (history) or ``None``
(``message``). Projected reads are eventually consistent: ``runner.wait(position)``
first for read-your-writes. History and as-of read the event store, never a view.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from smsledger.domain.addressing import normalise_msisdn
from smsledger.domain.contacts import group_key, group_ref_id
from smsledger.domain.errors import InvalidRequestError, SmsLedgerError
from smsledger.domain.periods import parse_period
from smsledger.domain.segments import shown_body
from smsledger.domain.status import ACCEPTED, FUNDED, STATUS_CODES, Group, status
from smsledger.domain.text import check_line
from smsledger.domain.times import check_time, in_window, utc_text
from smsledger.projections import all_projections, store_for
from smsledger.projections.events import EventLog, account_of
from smsledger.projections.history import balance_as_of, contact_history, message_history
from smsledger.projections.invoices import KIND_ORDER
from smsledger.projections.reconciliation import reconcile
from smsledger.projections.runner import ProjectionRunner

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from uuid import UUID

    from smsledger.domain.message import Message
    from smsledger.projections.db import ViewDatabase
    from smsledger.projections.store import ViewStore

MAX_LIMIT = 1000
_STATUS = {code: s.as_dict() for code, s in STATUS_CODES.items()}
_LEGACY = {code: s.legacy for code, s in STATUS_CODES.items()}
_GROUPS = {g.value for g in Group}


class MessageRow(NamedTuple):
    """A ``view_messages`` row as the message reads select it (``MESSAGE_COLUMNS``)."""

    id: Any
    batch_id: Any
    account_id: Any
    sender: str
    recipient: str
    segments: int
    encoding: str
    price: int
    currency: str
    status: int
    final: bool
    charged_to: str | None
    refunded: bool
    created_at: Any
    updated_at: Any
    seq: int
    body: str | None  # NULL on a row projected before the view kept bodies


MESSAGE_COLUMNS = ", ".join(MessageRow._fields)


class LedgerRow(NamedTuple):
    seq: int
    at: Any
    kind: str
    amount: int
    balance_after: int
    message_id: Any
    reference: str | None


class AccountRow(NamedTuple):
    currency: str
    timezone: str
    balance: int


class AccountListRow(NamedTuple):
    id: Any
    name: str
    payment_model: str
    currency: str
    timezone: str
    balance: int
    opened_at: Any


class AddOnRow(NamedTuple):
    id: Any
    kind: str
    number: str | None
    price_per_year: int
    currency: str
    started_on: str
    notice_given_on: str | None
    ends_on: str | None


class InboundRow(NamedTuple):
    id: Any
    seq: int
    to_number: str
    from_number: str
    body: str
    at: Any
    action: str | None


class UserRow(NamedTuple):
    id: Any
    account_id: Any
    email: str
    name: str
    role: str
    state: str
    invited_at: Any


class ContactRow(NamedTuple):
    id: Any
    msisdn: str
    first_name: str
    last_name: str
    group_names: str
    source: str
    created_at: Any
    updated_at: Any


class GroupRow(NamedTuple):
    id: Any
    name: str
    name_key: str
    members: int


class InvoiceSummaryRow(NamedTuple):
    period: str
    status: str
    issued_at: Any
    total: int | None


class InvoiceLineRow(NamedTuple):
    kind: str
    description: str
    quantity: int
    amount: int


class InvoiceLineKeyRow(NamedTuple):
    line_key: str
    kind: str
    source_kind: str
    origin_period: str
    description: str
    quantity: int
    amount: int


def build_runner(
    ledger: EventLog, views: ViewDatabase, *, page_size: int | None = None
) -> ProjectionRunner:
    """The runner with every read model: what ``serve`` and ``smsledger project`` run."""
    return ProjectionRunner(ledger, views, all_projections(views.dialect), page_size=page_size)


def message_dict(store: ViewStore, row: Sequence[Any]) -> dict[str, Any]:
    """A ``MESSAGE_COLUMNS`` row in the shape of GET /v1/messages/{id}."""
    r = MessageRow._make(row)
    return {
        "id": store.to_uuid(r.id),
        "batch_id": store.to_uuid(r.batch_id),
        "account_id": store.to_uuid(r.account_id),
        "sender": r.sender,
        "recipient": r.recipient,
        "body": r.body,
        "segments": int(r.segments),
        "encoding": r.encoding,
        "price": int(r.price) if r.charged_to is not None else 0,
        "currency": r.currency,
        "status": dict(_STATUS[int(r.status)]),
        "legacy_status": _LEGACY[int(r.status)],
        "final": bool(r.final),
        "charged_to": r.charged_to,
        "refunded": bool(r.refunded),
        "created_at": store.to_time(r.created_at),
        "updated_at": store.to_time(r.updated_at),
    }


def message_object(message: Message) -> dict[str, Any]:
    """A message aggregate in the shape of GET /v1/messages/{id}: what a write answers
    (strongly consistent) and what a status callback carries."""
    code = status(message.status)
    return {
        "id": message.id,
        "batch_id": message.batch_id,
        "account_id": message.account_id,
        "sender": message.sender,
        "recipient": message.recipient,
        "body": shown_body(message.body),
        "segments": message.segments,
        "encoding": message.encoding,
        "price": message.price if message.charged else 0,
        "currency": message.currency,
        "status": code.as_dict(),
        "legacy_status": code.legacy,
        "final": code.final,
        "charged_to": message.charged_to,
        "refunded": message.refunded,
        "created_at": message.created_on,
        "updated_at": message.modified_on,
    }


def _why(change: str, source: str | None, at: datetime, message_id: Any, by_sms: bool) -> str:
    """One block-list change as support says it: "blocked by the unsubscribe link of
    message X at T"."""
    when = utc_text(at)
    if change != "blocked":
        return f"unblocked at {when}"
    if source == "unsubscribe_link":
        via = "the unsubscribe link" + ("" if message_id is None else f" of message {message_id}")
        return f"blocked by {via} at {when}"
    if source == "stop":
        return f"blocked by {'a STOP texted' if by_sms else 'STOP'} at {when}"
    return f"blocked by hand at {when}"


def _encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(parts)).decode().rstrip("=")


_NOT_OURS = "cursor is not one this API gave out"
MAX_CURSOR_LENGTH = 512
_CURSOR_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_SEQ_MAX = 2**63 - 1  # what both databases store in a BIGINT


def _decode_cursor(cursor: str, shape: tuple[type, ...]) -> list[Any]:
    """The parts of a cursor we gave out; ``InvalidRequestError`` for anything else.

    Strict base64url (``urlsafe_b64decode`` would skip foreign characters), the exact
    shape, and every number a sequence we could have stored: a forged 2**63 would
    overflow SQLite's integers on the way in."""
    if (
        not isinstance(cursor, str)
        or len(cursor) > MAX_CURSOR_LENGTH
        or not _CURSOR_ALPHABET.issuperset(cursor)
    ):
        raise InvalidRequestError(_NOT_OURS)
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        parts = None
    if (
        not isinstance(parts, list)
        or len(parts) != len(shape)
        or not all(type(p) is t for p, t in zip(parts, shape, strict=True))
        or not all(0 <= p <= _SEQ_MAX for p in parts if type(p) is int)
    ):
        raise InvalidRequestError(_NOT_OURS)
    return parts


def _cursor_time(text: str) -> datetime:
    """A cursor's time: the ISO text we wrote, an aware instant inside the window."""
    try:
        at = in_window(datetime.fromisoformat(text))
    except ValueError:
        at = None
    if at is None:
        raise InvalidRequestError(_NOT_OURS)
    return at


def _cursor_uuid(text: str) -> UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InvalidRequestError(_NOT_OURS) from None


PERIOD_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}", re.ASCII)


def time_id_cursor(at: datetime, row_id: UUID) -> str:
    """The cursor after a row ordered by (time, id): for lists kept outside this module."""
    return _encode_cursor(at.isoformat(), str(row_id))


def read_time_id_cursor(cursor: str) -> tuple[datetime, UUID]:
    """A ``time_id_cursor`` back; ``InvalidRequestError`` for one we did not give out."""
    at, row_id = _decode_cursor(cursor, (str, str))
    return _cursor_time(at), _cursor_uuid(row_id)


def _check_limit(limit: int) -> int:
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        msg = f"limit must be 1-{MAX_LIMIT}"
        raise InvalidRequestError(msg)
    return limit


def _aware(value: Any, name: str) -> datetime:
    return check_time(value, name)


class Queries:
    """Reads over the views, and history from the event store. Thread-safe."""

    def __init__(self, ledger: EventLog, views: ViewDatabase) -> None:
        self.log = ledger
        self.views = views
        self.store = store_for(views.dialect)

    # --- messages ---------------------------------------------------------------------

    def message(self, message_id: UUID, account_id: UUID | None = None) -> dict[str, Any] | None:
        """One message in the shape of GET /v1/messages/{id}; ``None`` if unknown or
        another account's."""
        s = self.store
        query = f"SELECT {MESSAGE_COLUMNS} FROM view_messages WHERE id = {s.ph}"
        args: list[Any] = [s.uuid(message_id)]
        if account_id is not None:
            query += f" AND account_id = {s.ph}"
            args.append(s.uuid(account_id))
        with self.views.reading() as cur:
            cur.execute(query, args)
            row = cur.fetchone()
        return None if row is None else message_dict(s, row)

    def messages(
        self,
        account_id: UUID | None,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        cursor: str | None = None,
        *,
        newest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of messages, oldest first (``newest_first``: the same index range
        read backwards), and the cursor of the next page (or ``None``)."""
        s, ph = self.store, self.store.ph
        _check_limit(limit)
        f = {k: v for k, v in (filters or {}).items() if v is not None}
        unknown = set(f) - {
            "batch_id",
            "status",
            "group",
            "recipient",
            "created_after",
            "created_before",
        }
        if unknown:
            msg = f"unknown filters: {', '.join(sorted(unknown))}"
            raise InvalidRequestError(msg)
        where: list[str] = []
        args: list[Any] = []
        if account_id is not None:
            where.append(f"account_id = {ph}")
            args.append(s.uuid(account_id))
        if "batch_id" in f:
            where.append(f"batch_id = {ph}")
            args.append(s.uuid(f["batch_id"]))
        if "status" in f:
            if f["status"] not in STATUS_CODES:
                return [], None
            where.append(f"status = {ph}")
            args.append(int(f["status"]))
        if "group" in f:
            if f["group"] not in _GROUPS:
                msg = f"group must be one of {', '.join(sorted(_GROUPS))}"
                raise InvalidRequestError(msg)
            where.append(f"status_group = {ph}")
            args.append(f["group"])
        if "recipient" in f:
            where.append(f"recipient = {ph}")
            args.append(self._recipient(str(f["recipient"])))
        if "created_after" in f:
            where.append(f"created_at > {ph}")
            args.append(s.time(_aware(f["created_after"], "created_after")))
        if "created_before" in f:
            where.append(f"created_at < {ph}")
            args.append(s.time(_aware(f["created_before"], "created_before")))
        if cursor:
            at, seq = _decode_cursor(cursor, (str, int))
            after = _cursor_time(at)
            op = "<" if newest_first else ">"
            where.append(f"(created_at {op} {ph} OR (created_at = {ph} AND seq {op} {ph}))")
            args.extend([s.time(after), s.time(after), seq])
        query = f"SELECT {MESSAGE_COLUMNS} FROM view_messages"
        if where:
            query += " WHERE " + " AND ".join(where)
        order = "created_at DESC, seq DESC" if newest_first else "created_at, seq"
        query += f" ORDER BY {order} LIMIT {limit + 1}"
        with self.views.reading() as cur:
            cur.execute(query, args)
            rows = [MessageRow._make(r) for r in cur.fetchall()]
        items = [message_dict(s, r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = _encode_cursor(s.to_time(last.created_at).isoformat(), int(last.seq))
        return items, next_cursor

    @staticmethod
    def _recipient(raw: str) -> str:
        # No message holds a control character (``domain.text``), and PostgreSQL would
        # refuse a NUL in the parameter itself.
        check_line(raw, "recipient", max_length=64)
        try:
            return normalise_msisdn(raw)
        except SmsLedgerError:
            return raw  # a rejected message keeps the number as it was given

    def batch_status_counts(self, batch_id: UUID) -> dict[int, int]:
        """A batch's messages by current status code (one index range)."""
        s = self.store
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT status, COUNT(*) FROM view_messages WHERE batch_id = {s.ph} "
                "GROUP BY status",
                [s.uuid(batch_id)],
            )
            return {int(code): int(n) for code, n in cur.fetchall()}

    def status_counts(self) -> dict[int, int]:
        """Messages by current status code (for /metrics)."""
        with self.views.reading() as cur:
            cur.execute("SELECT status, COUNT(*) FROM view_messages GROUP BY status")
            return {int(code): int(n) for code, n in cur.fetchall()}

    # --- money ------------------------------------------------------------------------

    def _account_row(self, account_id: UUID) -> AccountRow | None:
        s = self.store
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT {', '.join(AccountRow._fields)} FROM view_accounts WHERE id = {s.ph}",
                [s.uuid(account_id)],
            )
            row = cur.fetchone()
        return None if row is None else AccountRow._make(row)

    def balance(self, account_id: UUID) -> int | None:
        """The projected balance (one row read, whatever the history); ``None`` if the
        view has not seen the account yet."""
        row = self._account_row(account_id)
        return None if row is None else int(row.balance)

    def balance_as_of(self, account_id: UUID, at: datetime) -> int:
        """The balance at instant ``at``, replayed from the event store."""
        return balance_as_of(self.log, account_id, _aware(at, "at"))

    def ledger(
        self,
        account_id: UUID,
        period: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the account's ledger entries in order (``period``: its month in the
        account's time zone), and the next page's cursor."""
        s, ph = self.store, self.store.ph
        _check_limit(limit)
        where, args = [f"account_id = {ph}"], [s.uuid(account_id)]
        if period is not None:
            parse_period(period)
            where.append(f"period = {ph}")
            args.append(period)
        if cursor:
            (after,) = _decode_cursor(cursor, (int,))
            where.append(f"seq > {ph}")
            args.append(after)
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT {', '.join(LedgerRow._fields)} "
                f"FROM view_ledger_entries WHERE {' AND '.join(where)} "
                f"ORDER BY seq LIMIT {limit + 1}",
                args,
            )
            rows = [LedgerRow._make(r) for r in cur.fetchall()]
        entries = []
        for row in rows[:limit]:
            entry: dict[str, Any] = {
                "seq": int(row.seq),
                "at": s.to_time(row.at),
                "kind": row.kind,
                "amount": int(row.amount),
                "balance_after": int(row.balance_after),
            }
            if row.message_id is not None:
                entry["message_id"] = s.to_uuid(row.message_id)
            if row.reference is not None:
                entry["reference"] = row.reference
            entries.append(entry)
        next_cursor = _encode_cursor(int(rows[limit - 1].seq)) if len(rows) > limit else None
        return entries, next_cursor

    def ledger_recent(
        self, account_id: UUID, period: str | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        """The account's last ``limit`` ledger entries (of ``period``), oldest first:
        one backward index range, whatever the history's length."""
        s, ph = self.store, self.store.ph
        _check_limit(limit)
        where, args = [f"account_id = {ph}"], [s.uuid(account_id)]
        if period is not None:
            parse_period(period)
            where.append(f"period = {ph}")
            args.append(period)
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT {', '.join(LedgerRow._fields)} FROM view_ledger_entries "
                f"WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT {limit}",
                args,
            )
            rows = [LedgerRow._make(r) for r in cur.fetchall()]
        return [
            {
                "seq": int(r.seq),
                "at": s.to_time(r.at),
                "kind": r.kind,
                "amount": int(r.amount),
                "balance_after": int(r.balance_after),
            }
            for r in reversed(rows)
        ]

    def invoice_lines(self, account_id: UUID, period: str) -> list[InvoiceLineKeyRow]:
        """The invoice's lines in the invoice's order, each with the key that says which
        messages it counts (``invoice_line_messages``)."""
        s, ph = self.store, self.store.ph
        parse_period(period)
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT {', '.join(InvoiceLineKeyRow._fields)} FROM view_invoice_lines "
                f"WHERE account_id = {ph} AND period = {ph}",
                [s.uuid(account_id), period],
            )
            rows = [InvoiceLineKeyRow._make(r) for r in cur.fetchall()]
        rows.sort(key=lambda r: (KIND_ORDER.get(r.kind, 9), r.description))
        return [r._replace(quantity=int(r.quantity), amount=int(r.amount)) for r in rows]

    def invoice_line_messages(
        self,
        account_id: UUID,
        period: str,
        line_key: str,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The messages an invoice line counts, by message id, a page at a time.

        An ``sms`` line is the period's invoice-charged messages of one country and unit
        price (one range of ``view_invoice_messages_line``), a ``refund`` line the
        period's invoice refunds of them; a message that went on an ``adjustment`` line
        instead (its month was issued) is not on the plain line. An adjustment line is
        its one message; a fee line has none."""
        s, ph = self.store, self.store.ph
        _check_limit(limit)
        lines = {r.line_key: r for r in self.invoice_lines(account_id, period)}
        line = lines.get(line_key)
        if line is None:
            msg = "no such line on this invoice"
            raise InvalidRequestError(msg)
        parts = line.line_key.split("|")
        columns = ", ".join(f"m.{c}" for c in MessageRow._fields)
        args: list[Any] = [s.uuid(account_id)]
        if line.kind == "adjustment" and line.source_kind in ("sms", "refund"):
            where = f"m.account_id = {ph} AND m.id = {ph}"
            args.append(s.uuid(_cursor_uuid(parts[2])))
            order = "m.id"
        elif line.kind in ("sms", "refund") and len(parts) == 3:
            country, unit_price = parts[1], int(parts[2])
            adjusted = self._adjusted_messages(account_id)
            if line.kind == "sms":
                where = (
                    f"i.account_id = {ph} AND i.charge_period = {ph} AND i.country = {ph} "
                    f"AND i.unit_price = {ph}"
                )
                order = "i.message_id"
            else:
                where = (
                    f"m.account_id = {ph} AND m.refunded AND m.refund_period = {ph} "
                    f"AND m.refunded_to = 'invoice' AND i.country = {ph} AND i.unit_price = {ph}"
                )
                order = "m.id"
            args.extend([line.origin_period, country, unit_price])
            if adjusted:
                where += f" AND {order} NOT IN ({', '.join([ph] * len(adjusted))})"
                args.extend(s.uuid(a) for a in sorted(adjusted))
        else:
            return [], None
        if cursor:
            (after,) = _decode_cursor(cursor, (str,))
            where += f" AND {order} > {ph}"
            args.append(s.uuid(_cursor_uuid(after)))
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT {columns} FROM view_invoice_messages i "
                f"JOIN view_messages m ON m.id = i.message_id WHERE {where} "
                f"ORDER BY {order} LIMIT {limit + 1}",
                args,
            )
            rows = [MessageRow._make(r) for r in cur.fetchall()]
        items = [message_dict(s, r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = _encode_cursor(str(s.to_uuid(rows[limit - 1].id)))
        return items, next_cursor

    def _adjusted_messages(self, account_id: UUID) -> set[UUID]:
        """The messages of the account's adjustment lines (one per message, few)."""
        s, ph = self.store, self.store.ph
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT line_key FROM view_invoice_lines WHERE account_id = {ph} "
                "AND kind = 'adjustment' AND source_kind IN ('sms', 'refund')",
                [s.uuid(account_id)],
            )
            keys = [str(r[0]) for r in cur.fetchall()]
        return {_cursor_uuid(k.split("|")[2]) for k in keys if k.count("|") >= 2}

    def invoice(self, account_id: UUID, period: str) -> dict[str, Any]:
        """The account's invoice for ``period`` (open and empty if nothing is on it yet)."""
        s, ph = self.store, self.store.ph
        parse_period(period)
        row = self._account_row(account_id)
        currency = row.currency if row is not None else account_of(self.log, account_id).currency
        key = [s.uuid(account_id), period]
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT status FROM view_invoices WHERE account_id = {ph} AND period = {ph}", key
            )
            head = cur.fetchone()
            cur.execute(
                f"SELECT {', '.join(InvoiceLineRow._fields)} FROM view_invoice_lines "
                f"WHERE account_id = {ph} AND period = {ph}",
                key,
            )
            rows = [InvoiceLineRow._make(r) for r in cur.fetchall()]
        rows.sort(key=lambda r: (KIND_ORDER.get(r.kind, 9), r.description))
        lines = [
            {
                "kind": r.kind,
                "description": r.description,
                "quantity": int(r.quantity),
                "amount": int(r.amount),
            }
            for r in rows
        ]
        return {
            "account_id": account_id,
            "period": period,
            "status": head[0] if head else "open",
            "currency": currency,
            "lines": lines,
            "total": sum(int(r.amount) for r in rows),
        }

    def invoices(
        self, account_id: UUID, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The account's invoices, newest period first, each with its status and total
        (periods with nothing on them have no invoice yet)."""
        s, ph = self.store, self.store.ph
        _check_limit(limit)
        row = self._account_row(account_id)
        currency = row.currency if row is not None else account_of(self.log, account_id).currency
        # An open invoice has lines but no head row yet; an issued one may have no
        # lines (an empty month issued): the periods are the union of both.
        key = s.uuid(account_id)
        args: list[Any] = [key, key, key, key]
        after = ""
        if cursor:
            (before,) = _decode_cursor(cursor, (str,))
            if not PERIOD_SHAPE.fullmatch(before):
                raise InvalidRequestError(_NOT_OURS)
            after = f"WHERE p.period < {ph} "
            args.append(before)
        query = (
            "SELECT p.period, COALESCE(i.status, 'open'), i.issued_at, "
            "(SELECT SUM(l.amount) FROM view_invoice_lines l "
            f"WHERE l.account_id = {ph} AND l.period = p.period) "
            f"FROM (SELECT period FROM view_invoice_lines WHERE account_id = {ph} "
            f"UNION SELECT period FROM view_invoices WHERE account_id = {ph}) p "
            f"LEFT JOIN view_invoices i ON i.account_id = {ph} AND i.period = p.period "
            f"{after}ORDER BY p.period DESC LIMIT {limit + 1}"
        )
        with self.views.reading() as cur:
            cur.execute(query, args)
            rows = [InvoiceSummaryRow._make(r) for r in cur.fetchall()]
        items = [
            {
                "account_id": account_id,
                "period": r.period,
                "status": r.status,
                "currency": currency,
                "total": int(r.total or 0),
                "issued_at": None if r.issued_at is None else s.to_time(r.issued_at),
            }
            for r in rows[:limit]
        ]
        next_cursor = _encode_cursor(rows[limit - 1].period) if len(rows) > limit else None
        return items, next_cursor

    def accounts(
        self, account_id: UUID | None, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Accounts in the order they were opened (``account_id``: that one only)."""
        s, ph = self.store, self.store.ph
        _check_limit(limit)
        where: list[str] = []
        args: list[Any] = []
        if account_id is not None:
            where.append(f"id = {ph}")
            args.append(s.uuid(account_id))
        if cursor:
            after, after_id = read_time_id_cursor(cursor)
            where.append(f"(opened_at > {ph} OR (opened_at = {ph} AND id > {ph}))")
            args.extend([s.time(after), s.time(after), s.uuid(after_id)])
        query = f"SELECT {', '.join(AccountListRow._fields)} FROM view_accounts"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += f" ORDER BY opened_at, id LIMIT {limit + 1}"
        with self.views.reading() as cur:
            cur.execute(query, args)
            rows = [AccountListRow._make(r) for r in cur.fetchall()]
        items = [
            {
                "id": s.to_uuid(r.id),
                "name": r.name,
                "payment_model": r.payment_model,
                "currency": r.currency,
                "timezone": r.timezone,
                "balance": int(r.balance),
            }
            for r in rows[:limit]
        ]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = time_id_cursor(s.to_time(last.opened_at), s.to_uuid(last.id))
        return items, next_cursor

    def users(
        self, account_id: UUID, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The account's users, in the order they were invited; never a password."""
        s, ph = self.store, self.store.ph
        _check_limit(limit)
        where = [f"account_id = {ph}"]
        args: list[Any] = [s.uuid(account_id)]
        if cursor:
            after, after_id = read_time_id_cursor(cursor)
            where.append(f"(invited_at > {ph} OR (invited_at = {ph} AND id > {ph}))")
            args.extend([s.time(after), s.time(after), s.uuid(after_id)])
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT {', '.join(UserRow._fields)} FROM view_users "
                f"WHERE {' AND '.join(where)} ORDER BY invited_at, id LIMIT {limit + 1}",
                args,
            )
            rows = [UserRow._make(r) for r in cur.fetchall()]
        items = [
            {
                "id": s.to_uuid(r.id),
                "account_id": s.to_uuid(r.account_id),
                "email": r.email,
                "name": r.name,
                "role": r.role,
                "state": r.state,
            }
            for r in rows[:limit]
        ]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = time_id_cursor(s.to_time(last.invited_at), s.to_uuid(last.id))
        return items, next_cursor

    def add_ons(
        self, account_id: UUID, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[AddOnRow], str | None]:
        """The account's add-ons, oldest first (ended ones too)."""
        s, ph = self.store, self.store.ph
        _check_limit(limit)
        where = [f"account_id = {ph}"]
        args: list[Any] = [s.uuid(account_id)]
        if cursor:
            started, after_id = _decode_cursor(cursor, (str, str))
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", started, re.ASCII):
                raise InvalidRequestError(_NOT_OURS)
            where.append(f"(started_on > {ph} OR (started_on = {ph} AND id > {ph}))")
            args.extend([started, started, s.uuid(_cursor_uuid(after_id))])
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT {', '.join(AddOnRow._fields)}, started_on AS k FROM view_add_ons "
                f"WHERE {' AND '.join(where)} ORDER BY started_on, id LIMIT {limit + 1}",
                args,
            )
            rows = [AddOnRow._make(r[:-1]) for r in cur.fetchall()]
        items = [r._replace(id=s.to_uuid(r.id)) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = _encode_cursor(last.started_on, str(last.id))
        return items, next_cursor

    # --- contacts and groups -------------------------------------------------------------

    def contacts(
        self,
        account_id: UUID,
        group_id: UUID | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The account's contacts in number order (of one group, if given), and the next
        page's cursor; each read on an index ((account, msisdn) or (group, msisdn))."""
        s, ph = self.store, self.store.ph
        _check_limit(limit)
        after = ""
        if cursor:
            (after,) = _decode_cursor(cursor, (str,))
        columns = ", ".join(f"c.{name}" for name in ContactRow._fields)
        if group_id is None:
            query = (
                f"SELECT {columns} FROM view_contacts c WHERE c.account_id = {ph} "
                f"AND c.msisdn > {ph} ORDER BY c.msisdn LIMIT {limit + 1}"
            )
            args: list[Any] = [s.uuid(account_id), after]
        else:
            query = (
                f"SELECT {columns} FROM view_group_members m "
                "JOIN view_contacts c ON c.id = m.contact_id "
                f"WHERE m.group_id = {ph} AND c.account_id = {ph} AND m.msisdn > {ph} "
                f"ORDER BY m.msisdn LIMIT {limit + 1}"
            )
            args = [s.uuid(group_id), s.uuid(account_id), after]
        with self.views.reading() as cur:
            cur.execute(query, args)
            rows = [ContactRow._make(r) for r in cur.fetchall()]
        items = [self._contact_item(r) for r in rows[:limit]]
        next_cursor = _encode_cursor(rows[limit - 1].msisdn) if len(rows) > limit else None
        return items, next_cursor

    def _contact_item(self, r: ContactRow) -> dict[str, Any]:
        s = self.store
        return {
            "id": s.to_uuid(r.id),
            "msisdn": r.msisdn,
            "first_name": r.first_name,
            "last_name": r.last_name,
            "groups": r.group_names.split("|") if r.group_names else [],
            "source": r.source,
            "created_at": s.to_time(r.created_at),
            "updated_at": s.to_time(r.updated_at),
        }

    def groups(
        self, account_id: UUID, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The account's groups by name (in any case), with their member counts."""
        s, ph = self.store, self.store.ph
        _check_limit(limit)
        after = ""
        if cursor:
            (after,) = _decode_cursor(cursor, (str,))
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT {', '.join(GroupRow._fields)} FROM view_groups "
                f"WHERE account_id = {ph} AND name_key > {ph} ORDER BY name_key "
                f"LIMIT {limit + 1}",
                [s.uuid(account_id), after],
            )
            rows = [GroupRow._make(r) for r in cur.fetchall()]
        items = [
            {"id": s.to_uuid(r.id), "name": r.name, "members": int(r.members)} for r in rows[:limit]
        ]
        next_cursor = _encode_cursor(rows[limit - 1].name_key) if len(rows) > limit else None
        return items, next_cursor

    def find_group(self, account_id: UUID, ref: str) -> UUID | None:
        """The account's group named ``ref`` (any case) or with the id ``ref``."""
        s, ph = self.store, self.store.ph
        group_id = group_ref_id(ref)
        if group_id is not None:
            column, value = "id", s.uuid(group_id)
        else:
            try:
                column, value = "name_key", group_key(ref)
            except InvalidRequestError:
                return None
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT id FROM view_groups WHERE account_id = {ph} AND {column} = {ph}",
                [s.uuid(account_id), value],
            )
            row = cur.fetchone()
        return None if row is None else s.to_uuid(row[0])

    def group_members(self, group_ids: Sequence[UUID], limit: int) -> list[str]:
        """The numbers of these groups' members, each once, in number order; at most
        ``limit`` (a caller asks one more than it may take, to know it was too many)."""
        s = self.store
        if not group_ids:
            return []
        cond, args = s.any_of("group_id", [s.uuid(g) for g in group_ids])
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT DISTINCT msisdn FROM view_group_members WHERE {cond} "
                f"ORDER BY msisdn LIMIT {int(limit)}",
                args,
            )
            return [str(r[0]) for r in cur.fetchall()]

    # --- inbound SMS and block lists ----------------------------------------------------

    def inbound_messages(
        self, account_id: UUID, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The SMS the account received on its virtual numbers, newest first."""
        s, ph = self.store, self.store.ph
        _check_limit(limit)
        where = [f"account_id = {ph}"]
        args: list[Any] = [s.uuid(account_id)]
        if cursor:
            (before,) = _decode_cursor(cursor, (int,))
            where.append(f"seq < {ph}")
            args.append(before)
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT {', '.join(InboundRow._fields)} FROM view_inbound_messages "
                f"WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT {limit + 1}",
                args,
            )
            rows = [InboundRow._make(r) for r in cur.fetchall()]
        items = [
            {
                "id": s.to_uuid(r.id),
                "to": r.to_number,
                "from": r.from_number,
                "body": r.body,
                "at": s.to_time(r.at),
                "action": r.action,
            }
            for r in rows[:limit]
        ]
        next_cursor = _encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None
        return items, next_cursor

    def number_history(self, msisdn: str, account_id: UUID | None = None) -> dict[str, Any]:
        """When and why a number was blocked and unblocked, per account, oldest first:
        ``{"msisdn", "accounts": [{"account_id", "blocked", "events": [{"at", "change",
        "source", "inbound_id", "inbound", "message_id", "why"}]}]}`` (``inbound``: the
        STOP's text and time; ``message_id``: the message whose unsubscribe link blocked
        it; ``why``: one sentence of it all, for support)."""
        s, ph = self.store, self.store.ph
        where, args = [f"e.msisdn = {ph}"], [msisdn]
        if account_id is not None:
            where.append(f"e.account_id = {ph}")
            args.append(s.uuid(account_id))
        with self.views.reading() as cur:
            cur.execute(
                "SELECT e.account_id, e.change, e.source, e.inbound_id, e.at, i.body, i.at, "
                "e.message_id "
                "FROM view_number_events e LEFT JOIN view_inbound_messages i "
                f"ON i.id = e.inbound_id WHERE {' AND '.join(where)} ORDER BY e.seq",
                args,
            )
            rows = cur.fetchall()
        by_account: dict[UUID, dict[str, Any]] = {}
        for account, change, source, inbound_id, at, body, sms_at, message_id in rows:
            entry = by_account.setdefault(
                s.to_uuid(account), {"account_id": s.to_uuid(account), "events": []}
            )
            entry["blocked"] = change == "blocked"
            when = s.to_time(at)
            linked = None if message_id is None else s.to_uuid(message_id)
            entry["events"].append(
                {
                    "at": when,
                    "change": change,
                    "source": source,
                    "inbound_id": None if inbound_id is None else s.to_uuid(inbound_id),
                    "inbound": None if body is None else {"body": body, "at": s.to_time(sms_at)},
                    "message_id": linked,
                    "why": _why(change, source, when, linked, inbound_id is not None),
                }
            )
        return {"msisdn": msisdn, "accounts": list(by_account.values())}

    def pending_messages(self, pairs: Sequence[tuple[UUID, str]]) -> list[UUID]:
        """Messages of each ``(account, recipient)`` not final and not handed to a
        gateway (as the view knows them): what a STOP cancels."""
        s, ph = self.store, self.store.ph
        out: list[UUID] = []
        with self.views.reading() as cur:
            for account_id, recipient in pairs:  # one indexed range each; STOPs are few
                cur.execute(
                    f"SELECT id FROM view_messages WHERE account_id = {ph} AND recipient = {ph} "
                    f"AND status IN ({ph}, {ph})",
                    [s.uuid(account_id), recipient, ACCEPTED, FUNDED],
                )
                out.extend(s.to_uuid(r[0]) for r in cur.fetchall())
        return out

    def admin_emails(self, account_id: UUID) -> list[str]:
        """The addresses of the account's active admin users (whom to tell)."""
        s, ph = self.store, self.store.ph
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT email FROM view_users WHERE account_id = {ph} AND role = 'admin' "
                "AND state = 'active' ORDER BY email",
                [s.uuid(account_id)],
            )
            return [str(r[0]) for r in cur.fetchall()]

    # --- audit ------------------------------------------------------------------------

    def reconciliation(self, period: str, account_id: UUID | None = None) -> dict[str, Any]:
        """GET /v1/reconciliation: every account with activity in ``period`` (or one)."""
        parse_period(period)
        if account_id is not None and self._account_row(account_id) is None:
            account_of(self.log, account_id)  # AccountNotFoundError for an unknown id
        with self.views.reading() as cur:
            accounts = reconcile(self.store, cur, period, account_id)
        return {
            "period": period,
            "ok": not any(a["discrepancies"] for a in accounts),
            "accounts": accounts,
        }

    # --- history (event store) --------------------------------------------------------

    def history(
        self, message_id: UUID, as_of: datetime | None = None, account_id: UUID | None = None
    ) -> dict[str, Any]:
        """The message's events from the event store, and its status as of ``as_of``;
        another account's message is ``MessageNotFoundError``, as an unknown one."""
        if as_of is not None:
            _aware(as_of, "as_of")
        return message_history(self.log, message_id, as_of, account_id)

    def contact_history(self, contact_id: UUID, account_id: UUID) -> dict[str, Any]:
        """The contact's events from the event store (a deleted one's too)."""
        return contact_history(self.log, contact_id, account_id)


__all__ = ["MESSAGE_COLUMNS", "MessageRow", "Queries", "build_runner", "message_dict"]
