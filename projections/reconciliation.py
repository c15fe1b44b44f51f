"""Reconciliation: per account and period, three independent sources checked against
each other.

- the Message events' own money facts (``view_messages``: each message's charge with
  its ``charged_to`` and period, each refund with its ``refunded_to`` and period),
- the account ledger (``view_ledger_entries``, built from the Account events),
- the invoice lines (``view_invoice_lines``, attributed to the period their charges
  and refunds belong to, adjustments on later invoices included).

Every balance-charged message must have exactly one ledger charge of its price in the
same period, every balance refund one ledger refund; every ledger entry that names a
message must match one; invoice lines must add up to the invoice-charged messages; and
each ledger entry's ``balance_after`` must follow from the one before it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uuid import UUID

    from smsledger.projections.store import ViewStore


def _blank(account_id: UUID) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "messages_charged": 0,
        "charged_to_balance": 0,
        "charged_to_invoice": 0,
        "refunded_to_balance": 0,
        "refunded_on_invoice": 0,
        "top_ups": 0,
        "fees": 0,
        "invoice_total": 0,
        "balance_movement": 0,
        "discrepancies": [],
    }


def reconcile(
    store: ViewStore, cur: Any, period: str, account_id: UUID | None
) -> list[dict[str, Any]]:
    """One report per account with any activity in ``period`` (always ``account_id``'s)."""
    s, ph = store, store.ph
    scope, args = (
        ("", []) if account_id is None else (f" AND account_id = {ph}", [s.uuid(account_id)])
    )
    reports: dict[UUID, dict[str, Any]] = {}
    if account_id is not None:
        reports[account_id] = _blank(account_id)

    def report(raw: Any) -> dict[str, Any]:
        aid = s.to_uuid(raw)
        if aid not in reports:
            reports[aid] = _blank(aid)
        return reports[aid]

    def problem(r: dict[str, Any], kind: str, detail: str, message_id: UUID | None = None) -> None:
        d: dict[str, Any] = {"kind": kind, "detail": detail}
        if message_id is not None:
            d["message_id"] = message_id
        r["discrepancies"].append(d)

    # 1. The messages' own charge and refund facts.
    charges: dict[UUID, dict[UUID, int]] = defaultdict(dict)
    cur.execute(
        "SELECT account_id, id, charged_to, price FROM view_messages "
        f"WHERE charge_period = {ph} AND charged_to IS NOT NULL{scope}",
        [period, *args],
    )
    for raw_account, raw_id, charged_to, price in cur.fetchall():
        r = report(raw_account)
        r["messages_charged"] += 1
        if charged_to == "balance":
            r["charged_to_balance"] += int(price)
            charges[r["account_id"]][s.to_uuid(raw_id)] = int(price)
        else:
            r["charged_to_invoice"] += int(price)
    refunds: dict[UUID, dict[UUID, int]] = defaultdict(dict)
    cur.execute(
        "SELECT account_id, id, refunded_to, refund_amount FROM view_messages "
        f"WHERE refund_period = {ph} AND refunded = {ph}{scope}",
        [period, True, *args],
    )
    for raw_account, raw_id, refunded_to, amount in cur.fetchall():
        r = report(raw_account)
        if refunded_to == "balance":
            r["refunded_to_balance"] += int(amount)
            refunds[r["account_id"]][s.to_uuid(raw_id)] = int(amount)
        else:
            r["refunded_on_invoice"] += int(amount)

    # 2. The ledger.
    cur.execute(
        "SELECT account_id, seq, kind, amount, balance_after, message_id "
        f"FROM view_ledger_entries WHERE period = {ph}{scope} ORDER BY account_id, seq",
        [period, *args],
    )
    entries: dict[UUID, list[tuple[int, str, int, int, UUID | None]]] = defaultdict(list)
    for raw_account, seq, kind, amount, after, raw_mid in cur.fetchall():
        r = report(raw_account)
        mid = None if raw_mid is None else s.to_uuid(raw_mid)
        entries[r["account_id"]].append((int(seq), kind, int(amount), int(after), mid))
        r["balance_movement"] += int(amount)
        if kind == "top_up":
            r["top_ups"] += int(amount)

    # 3. The invoice lines: what is billed on this period's invoice, and what is
    # billed anywhere for this period's charges and refunds.
    cur.execute(
        f"SELECT account_id, SUM(amount) FROM view_invoice_lines WHERE period = {ph}{scope} "
        "GROUP BY account_id",
        [period, *args],
    )
    for raw_account, total in cur.fetchall():
        report(raw_account)["invoice_total"] = int(total)
    billed: dict[tuple[UUID, str], int] = {}
    cur.execute(
        "SELECT account_id, source_kind, SUM(amount) FROM view_invoice_lines "
        f"WHERE origin_period = {ph}{scope} GROUP BY account_id, source_kind",
        [period, *args],
    )
    for raw_account, source, total in cur.fetchall():
        billed[(report(raw_account)["account_id"], source)] = int(total)

    # 4. The add-ons' fees that fell due in this period (their own events).
    cur.execute(
        f"SELECT account_id, SUM(amount) FROM view_add_on_fees WHERE period = {ph}{scope} "
        "GROUP BY account_id",
        [period, *args],
    )
    for raw_account, total in cur.fetchall():
        report(raw_account)["fees"] = int(total)

    for aid, r in reports.items():
        _check_ledger(r, entries.get(aid, []), charges.get(aid, {}), refunds.get(aid, {}), problem)
        if entries.get(aid):
            _check_chain(s, cur, aid, entries[aid], r, problem)
        on_invoice = billed.get((aid, "sms"), 0)
        if on_invoice != r["charged_to_invoice"]:
            problem(
                r,
                "invoice_charges_mismatch",
                f"messages charged {r['charged_to_invoice']} to the invoice, "
                f"invoice lines bill {on_invoice}",
            )
        fee_lines = billed.get((aid, "fee"), 0)
        if fee_lines != r["fees"]:
            problem(
                r,
                "invoice_fees_mismatch",
                f"add-on fees of {r['fees']} fell due, invoice lines bill {fee_lines}",
            )
        refunded_lines = -billed.get((aid, "refund"), 0)
        if refunded_lines != r["refunded_on_invoice"]:
            problem(
                r,
                "invoice_refunds_mismatch",
                f"messages refunded {r['refunded_on_invoice']} on the invoice, "
                f"invoice lines credit {refunded_lines}",
            )
    return sorted(reports.values(), key=lambda r: str(r["account_id"]))


def _check_ledger(
    r: dict[str, Any],
    entries: list[tuple[int, str, int, int, UUID | None]],
    charges: dict[UUID, int],
    refunds: dict[UUID, int],
    problem: Any,
) -> None:
    for kind, facts, sign in (("charge", charges, -1), ("refund", refunds, 1)):
        seen: dict[UUID, int] = {}
        for seq, entry_kind, amount, _, mid in entries:
            if entry_kind != kind or mid is None:
                continue
            if mid in seen:
                problem(r, f"duplicate_ledger_{kind}", f"ledger entry {seq} repeats a {kind}", mid)
                continue
            seen[mid] = sign * amount
            if mid not in facts:
                problem(
                    r,
                    f"ledger_{kind}_without_message",
                    f"ledger entry {seq} is a {kind} of {abs(amount)} with no such "
                    f"{'balance charge' if kind == 'charge' else 'balance refund'} "
                    "of the message in this period",
                    mid,
                )
            elif facts[mid] != sign * amount:
                problem(
                    r,
                    f"{kind}_amount_mismatch",
                    f"message {kind} is {facts[mid]}, ledger entry {seq} says {abs(amount)}",
                    mid,
                )
        for mid, amount in facts.items():
            if mid not in seen:
                problem(
                    r,
                    f"{kind}_missing_from_ledger",
                    f"message {kind} of {amount} to the balance has no ledger entry",
                    mid,
                )


def _check_chain(
    s: ViewStore,
    cur: Any,
    account_id: UUID,
    entries: list[tuple[int, str, int, int, UUID | None]],
    r: dict[str, Any],
    problem: Any,
) -> None:
    first = entries[0][0]
    previous, expected_seq = 0, 1
    cur.execute(
        f"SELECT seq, balance_after FROM view_ledger_entries WHERE account_id = {s.ph} "
        f"AND seq < {s.ph} ORDER BY seq DESC LIMIT 1",
        [s.uuid(account_id), first],
    )
    row = cur.fetchone()
    if row:
        expected_seq, previous = int(row[0]) + 1, int(row[1])
    for seq, _, amount, after, _ in entries:
        if seq != expected_seq:
            problem(r, "ledger_gap", f"ledger entries {expected_seq}..{seq - 1} are missing")
        if after != previous + amount:
            problem(
                r,
                "balance_chain_broken",
                f"ledger entry {seq}: {previous} {amount:+d} should leave {previous + amount}, "
                f"it says {after}",
            )
        previous, expected_seq = after, seq + 1
