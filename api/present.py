"""Domain objects → the contract's JSON shapes (plain dicts, rendered by orjson)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from smsledger.domain.status import STATUS_CODES, status

if TYPE_CHECKING:
    from smsledger.application.ledger import BatchReceipt
    from smsledger.domain.account import Account


def status_public(code: int) -> dict[str, Any]:
    return status(code).as_dict()


def status_codes() -> list[dict[str, Any]]:
    return [
        {**s.as_dict(), "final": s.final, "description": s.description}
        for s in sorted(STATUS_CODES.values(), key=lambda s: s.code)
    ]


def account_public(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "payment_model": account.payment_model,
        "currency": account.currency,
        "timezone": account.timezone,
        "balance": account.balance,
    }


def blocklist_public(account: Account) -> dict[str, Any]:
    return {
        "items": [
            {"msisdn": msisdn, "added_at": datetime.fromisoformat(added_at), "source": source}
            for msisdn, (source, added_at) in sorted(account.blocked.items())
        ]
    }


def campaigns_public(account: Account, now: datetime) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for reference, (country, booked, until) in sorted(account.campaigns.items()):
        booked_at = datetime.fromisoformat(str(booked))
        valid_until = datetime.fromisoformat(until) if until else None
        items.append(
            {
                "country": country,
                "reference": reference,
                "booked_at": booked_at,
                "valid_until": valid_until,
                "active": booked_at <= now and (valid_until is None or now < valid_until),
            }
        )
    return {"items": items}


def senders_public(account: Account) -> dict[str, Any]:
    return {
        "items": [
            {"sender": name, "verified_at": datetime.fromisoformat(at)}
            for name, at in sorted(account.verified_senders.values())
        ]
    }


def batch_public(receipt: BatchReceipt) -> dict[str, Any]:
    return {
        "batch_id": receipt.batch_id,
        "total_price": receipt.total_price,
        "currency": receipt.currency,
        "messages": [
            {
                "id": line["id"],
                "recipient": line["recipient"],
                "body": body,
                "status": status_public(line["status"]),
                "segments": line["segments"],
                "encoding": line["encoding"],
                "price": line["price"],
            }
            for line, body in zip(receipt.lines, receipt.bodies, strict=True)
        ],
    }
