"""The read side's one entry point: ``Queries``, what the API and the CLI read through.

    runner = build_runner(ledger, views)          # every projection, one runner
    q = Queries(ledger, views, runner)

    q.message(message_id, account_id | None) -> dict | None      GET /v1/messages/{id}
    q.message_for_key(message_id, key_hash)
        -> (principal, dict | None) | None                         the same, keyed
    q.messages(account_id | None, filters, limit=100, cursor=None)
        -> (items, next_cursor)                                    GET /v1/messages
        filters: batch_id, status (code), group, recipient, created_after, created_before
    q.balance(account_id) -> int | None                            projected balance
    q.ledger(account_id, period | None, limit=100, cursor=None)
        -> (entries, next_cursor)                                  GET .../ledger
    q.invoice(account_id, period) -> dict                          GET .../invoices/{period}
    q.issue_invoice(account_id, period) -> (invoice, position)     POST .../issue
    q.reconciliation(period, account_id | None) -> dict            GET /v1/reconciliation
    q.history(message_id, as_of | None, account_id | None) -> dict GET .../history
    q.balance_as_of(account_id, at) -> int                         from the event store
    q.status_counts() -> {code: n}                                 /metrics

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
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from domain.addressing import normalise_msisdn
from domain.errors import InvalidRequestError, SmsLedgerError
from domain.periods import parse_period
from domain.status import STATUS_CODES, Group
from projections import all_projections, store_for
from projections.history import balance_as_of, message_history
from projections.invoices import KIND_ORDER
from projections.reconciliation import reconcile
from projections.runner import PAGE_SIZE, ProjectionRunner
from smsledger.keys import Principal, principal_from_row

if TYPE_CHECKING:
    from collections.abc import Mapping
    from uuid import UUID

    from projections.db import ViewDatabase
    from smsledger.application import Ledger

MAX_LIMIT = 1000
MESSAGE_COLUMNS = (
    "id, batch_id, account_id, sender, recipient, segments, encoding, price, currency, "
    "status, final, charged_to, refunded, created_at, updated_at, seq"
)
_KEYED_MESSAGE_COLUMNS = ", ".join(f"m.{c}" for c in MESSAGE_COLUMNS.split(", "))
_STATUS = {code: s.as_dict() for code, s in STATUS_CODES.items()}
_LEGACY = {code: s.legacy for code, s in STATUS_CODES.items()}
_GROUPS = {g.value for g in Group}


def build_runner(
    ledger: Ledger, views: ViewDatabase, *, page_size: int = PAGE_SIZE
) -> ProjectionRunner:
    """The runner with every read model: what ``serve`` and ``smsledger project`` run."""
    return ProjectionRunner(ledger, views, all_projections(views.dialect), page_size=page_size)


def _encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(parts)).decode().rstrip("=")


def _decode_cursor(cursor: str, shape: tuple[type, ...]) -> list[Any]:
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        parts = None
    if (
        not isinstance(parts, list)
        or len(parts) != len(shape)
        or not all(type(p) is t for p, t in zip(parts, shape, strict=True))
    ):
        msg = "cursor is not one this API gave out"
        raise InvalidRequestError(msg)
    return parts


def _check_limit(limit: int) -> int:
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        msg = f"limit must be 1-{MAX_LIMIT}"
        raise InvalidRequestError(msg)
    return limit


def _aware(value: Any, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        msg = f"{name} must be a time with an offset"
        raise InvalidRequestError(msg)
    return value


class Queries:
    """Reads over the views, and history from the event store. Thread-safe."""

    def __init__(
        self, ledger: Ledger, views: ViewDatabase, runner: ProjectionRunner | None = None
    ) -> None:
        self.app = ledger
        self.views = views
        self.store = store_for(views.dialect)
        self.runner = runner if runner is not None else build_runner(ledger, views)

    # --- messages ---------------------------------------------------------------------

    def _message_dict(self, r: Any) -> dict[str, Any]:
        s = self.store
        code = int(r[9])
        return {
            "id": s.to_uuid(r[0]),
            "batch_id": s.to_uuid(r[1]),
            "account_id": s.to_uuid(r[2]),
            "sender": r[3],
            "recipient": r[4],
            "segments": int(r[5]),
            "encoding": r[6],
            "price": int(r[7]) if r[11] is not None else 0,
            "currency": r[8],
            "status": dict(_STATUS[code]),
            "legacy_status": _LEGACY[code],
            "final": bool(r[10]),
            "charged_to": r[11],
            "refunded": bool(r[12]),
            "created_at": s.to_time(r[13]),
            "updated_at": s.to_time(r[14]),
        }

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
        return None if row is None else self._message_dict(row)

    def message_for_key(
        self, message_id: UUID, key_hash: str
    ) -> tuple[Principal, dict[str, Any] | None] | None:
        """The live key whose hash is ``key_hash`` and, in the same round trip, the message
        it may see: ``None`` for no such live key, the message ``None`` when it is unknown
        or another account's. The key is read on every call, so a revocation counts at once.
        """
        s = self.store
        query = (
            f"SELECT k.id, k.role, k.account_id, {_KEYED_MESSAGE_COLUMNS} FROM api_keys k "
            f"LEFT JOIN view_messages m ON m.id = {s.ph} "
            "AND (k.account_id IS NULL OR m.account_id = k.account_id) "
            f"WHERE k.key_hash = {s.ph} AND k.revoked_at IS NULL"
        )
        with self.views.reading() as cur:
            cur.execute(query, (s.uuid(message_id), key_hash))
            row = cur.fetchone()
        if row is None:
            return None
        found = None if row[3] is None else self._message_dict(row[3:])
        return principal_from_row(row[:3]), found

    def messages(
        self,
        account_id: UUID | None,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of messages, oldest first, and the cursor of the next page (or ``None``)."""
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
            try:
                after = datetime.fromisoformat(at)
            except ValueError:
                msg = "cursor is not one this API gave out"
                raise InvalidRequestError(msg) from None
            where.append(f"(created_at > {ph} OR (created_at = {ph} AND seq > {ph}))")
            args.extend([s.time(after), s.time(after), seq])
        query = f"SELECT {MESSAGE_COLUMNS} FROM view_messages"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += f" ORDER BY created_at, seq LIMIT {limit + 1}"
        with self.views.reading() as cur:
            cur.execute(query, args)
            rows = cur.fetchall()
        items = [self._message_dict(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = _encode_cursor(s.to_time(last[13]).isoformat(), int(last[15]))
        return items, next_cursor

    @staticmethod
    def _recipient(raw: str) -> str:
        try:
            return normalise_msisdn(raw)
        except SmsLedgerError:
            return raw  # a rejected message keeps the number as it was given

    def status_counts(self) -> dict[int, int]:
        """Messages by current status code (for /metrics)."""
        with self.views.reading() as cur:
            cur.execute("SELECT status, COUNT(*) FROM view_messages GROUP BY status")
            return {int(code): int(n) for code, n in cur.fetchall()}

    # --- money ------------------------------------------------------------------------

    def _account_row(self, account_id: UUID) -> tuple[str, str, int] | None:
        s = self.store
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT currency, timezone, balance FROM view_accounts WHERE id = {s.ph}",
                [s.uuid(account_id)],
            )
            row = cur.fetchone()
        return None if row is None else (row[0], row[1], int(row[2]))

    def balance(self, account_id: UUID) -> int | None:
        """The projected balance (one row read, whatever the history); ``None`` if the
        view has not seen the account yet."""
        row = self._account_row(account_id)
        return None if row is None else row[2]

    def balance_as_of(self, account_id: UUID, at: datetime) -> int:
        """The balance at instant ``at``, replayed from the event store."""
        return balance_as_of(self.app, account_id, _aware(at, "at"))

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
                "SELECT seq, at, kind, amount, balance_after, message_id, reference "
                f"FROM view_ledger_entries WHERE {' AND '.join(where)} "
                f"ORDER BY seq LIMIT {limit + 1}",
                args,
            )
            rows = cur.fetchall()
        entries = []
        for seq, at, kind, amount, after, mid, reference in rows[:limit]:
            entry: dict[str, Any] = {
                "seq": int(seq),
                "at": s.to_time(at),
                "kind": kind,
                "amount": int(amount),
                "balance_after": int(after),
            }
            if mid is not None:
                entry["message_id"] = s.to_uuid(mid)
            if reference is not None:
                entry["reference"] = reference
            entries.append(entry)
        next_cursor = _encode_cursor(int(rows[limit - 1][0])) if len(rows) > limit else None
        return entries, next_cursor

    def invoice(self, account_id: UUID, period: str) -> dict[str, Any]:
        """The account's invoice for ``period`` (open and empty if nothing is on it yet)."""
        s, ph = self.store, self.store.ph
        parse_period(period)
        row = self._account_row(account_id)
        currency = row[0] if row is not None else self.app.get_account(account_id).currency
        key = [s.uuid(account_id), period]
        with self.views.reading() as cur:
            cur.execute(
                f"SELECT status FROM view_invoices WHERE account_id = {ph} AND period = {ph}", key
            )
            head = cur.fetchone()
            cur.execute(
                "SELECT kind, description, quantity, amount FROM view_invoice_lines "
                f"WHERE account_id = {ph} AND period = {ph}",
                key,
            )
            rows = cur.fetchall()
        lines = sorted(
            (
                {"kind": k, "description": d, "quantity": int(q), "amount": int(a)}
                for k, d, q, a in rows
            ),
            key=lambda line: (KIND_ORDER.get(line["kind"], 9), line["description"]),
        )
        return {
            "account_id": account_id,
            "period": period,
            "status": head[0] if head else "open",
            "currency": currency,
            "lines": lines,
            "total": sum(line["amount"] for line in lines),
        }

    def issue_invoice(
        self, account_id: UUID, period: str, *, timeout: float = 5.0
    ) -> tuple[dict[str, Any], int | None]:
        """Issue ``period``'s invoice (``PeriodNotEndedError`` before it has ended in the
        account's time zone; issuing again changes nothing) and answer it as issued,
        with the log position of the write."""
        parse_period(period)
        written = self.app.issue_invoice(account_id, period)
        position = written.position
        self.catch_up(position, timeout)
        return self.invoice(account_id, period), position

    def catch_up(self, position: int | None, timeout: float = 5.0) -> None:
        """Make the views reach ``position``: wait a moment for the running projections,
        then apply the missing pages in this thread (safe beside another runner)."""
        if position is None:
            position = self.runner.head()
        if not self.runner.wait(position, min(timeout, 0.2)):
            self.runner.run_once()

    # --- audit ------------------------------------------------------------------------

    def reconciliation(self, period: str, account_id: UUID | None = None) -> dict[str, Any]:
        """GET /v1/reconciliation: every account with activity in ``period`` (or one)."""
        parse_period(period)
        if account_id is not None and self._account_row(account_id) is None:
            self.app.get_account(account_id)  # AccountNotFoundError for an unknown id
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
        return message_history(self.app, message_id, as_of, account_id)


def format_reconciliation(report: Mapping[str, Any]) -> str:
    """The reconciliation report as text, for ``smsledger audit``."""
    out = [
        f"reconciliation {report['period']}: "
        f"{'OK' if report['ok'] else 'DISCREPANCIES'} ({len(report['accounts'])} accounts)"
    ]
    for a in report["accounts"]:
        out.append(f"account {a['account_id']}")
        out.extend(
            f"  {field:<20} {a[field]}"
            for field in (
                "messages_charged",
                "charged_to_balance",
                "charged_to_invoice",
                "refunded_to_balance",
                "refunded_on_invoice",
                "top_ups",
                "invoice_total",
                "balance_movement",
            )
        )
        for d in a["discrepancies"]:
            about = f" message {d['message_id']}" if "message_id" in d else ""
            out.append(f"  ! {d['kind']}{about}: {d['detail']}")
    return "\n".join(out)


__all__ = ["Queries", "build_runner", "format_reconciliation"]
