"""Acceptance rules: what makes one recipient's message a 4xx instead of a send."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from smsledger.domain.addressing import Msisdn, parse_msisdn
from smsledger.domain.errors import (
    ContentRejectedError,
    RecipientRejectedError,
    SenderRejectedError,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from smsledger.domain.account import Account

PLATFORM_BANNED_KEYWORDS: tuple[str, ...] = ("casino", "betting odds", "xxx")
"""Content the platform refuses for every account (gambling, adult content)."""


def find_banned_keyword(body: str, keywords: Iterable[str]) -> str | None:
    """The first banned keyword found as a whole word (case-insensitive), if any."""
    lowered = body.lower()
    for keyword in keywords:
        if re.search(rf"(?<!\w){re.escape(keyword.lower())}(?!\w)", lowered):
            return keyword
    return None


def check_content(body: str, account: Account, platform_keywords: Iterable[str]) -> None:
    """404 when the body holds a platform or account banned keyword."""
    hit = find_banned_keyword(body, [*platform_keywords, *account.banned_keywords])
    if hit is not None:
        msg = f"body contains the banned keyword {hit!r}"
        raise ContentRejectedError(msg)


def check_recipient(raw: str, account: Account) -> Msisdn:
    """Normalise a recipient and apply the per-recipient rules; returns the number.

    409 not a valid MSISDN; 405 on the block list; 403 US/Canada without a campaign.
    """
    number = parse_msisdn(raw)
    msisdn = number.e164
    if account.is_blocked(msisdn):
        msg = f"{msisdn} is on the account's block list"
        raise RecipientRejectedError(msg)
    if number.north_american and not account.us_campaign:
        msg = "US and Canadian recipients need a pre-booked campaign"
        raise SenderRejectedError(msg)
    return number
