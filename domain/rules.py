"""Acceptance rules: what makes one recipient's message a 4xx instead of a send.

The platform's lists are data (``protected_senders.json``, ``banned_keywords.json``,
shipped inside the package), reviewed like code, so that a change needs no release of the
rules themselves.
"""

from __future__ import annotations

import functools
import json
import re
from importlib.resources import files
from typing import TYPE_CHECKING

from smsledger.domain.account import sender_key
from smsledger.domain.addressing import Msisdn, parse_msisdn
from smsledger.domain.errors import (
    ContentRejectedError,
    MissingSmsSubscriptionError,
    RecipientRejectedError,
    SenderRejectedError,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Set

    from smsledger.domain.account import Account


def _data(name: str) -> dict[str, object]:
    loaded = json.loads(files("smsledger.domain").joinpath(name).read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        msg = f"{name} must hold a JSON object"
        raise TypeError(msg)
    return loaded


def _strings(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        msg = f"{what} must be a list of non-empty strings"
        raise TypeError(msg)
    return value


PLATFORM_BANNED_KEYWORDS: tuple[str, ...] = tuple(
    _strings(_data("banned_keywords.json")["keywords"], "banned_keywords.json keywords")
)
"""Content the platform refuses for every account (gambling, adult content, ...)."""

PROTECTED_SENDERS: frozenset[str] = frozenset(
    sender_key(name)
    for group, names in _data("protected_senders.json").items()
    if not group.startswith("_")
    for name in _strings(names, f"protected_senders.json {group}")
)
"""``sender_key`` of every name an account may use only once verified for it."""

# Endings that make a word's common inflections (casino: casinos; gamble: gambles,
# gambling, gambled, gambler). A keyword that ends in "e" drops it first; a final
# consonant may double before -ing/-ed/-er (bet: betting); a final "y" after a consonant
# may become -ies/-ied (lottery: lotteries).
_ENDINGS = r"(?:s|es|e|ed|er|ers|ing|ings|d)?"


def _word_pattern(keyword: str) -> str:
    """A keyword (one word or a phrase) as a regex that also takes the last word's
    common inflections."""
    *head, last = keyword.lower().split()
    stem = last[:-1] if len(last) > 3 and last.endswith("e") else last
    forms = [f"{re.escape(stem)}{_ENDINGS}"]
    if stem[-1] not in "aeiouy" and stem[-1].isalpha():
        forms.append(f"{re.escape(stem + stem[-1])}(?:ing|ed|er|ers)")  # bet: betting
    if len(stem) > 2 and stem.endswith("y") and stem[-2] not in "aeiou":
        forms.append(f"{re.escape(stem[:-1])}(?:ies|ied)")  # lottery: lotteries
    tail = forms[0] if len(forms) == 1 else f"(?:{'|'.join(forms)})"
    return r"\s+".join([*(re.escape(w) for w in head), tail])


@functools.lru_cache(maxsize=256)
def _keyword_regex(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    """One compiled alternation per keyword list: an account's list changes rarely and is
    checked on every batch."""
    usable = [k for k in keywords if k.split()]
    if not usable:
        return None
    alternatives = "|".join(f"(?P<k{i}>{_word_pattern(k)})" for i, k in enumerate(usable))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def find_banned_keyword(body: str, keywords: Iterable[str]) -> str | None:
    """The first banned keyword found as a whole word, in any case or common inflection."""
    listed = tuple(keywords)
    regex = _keyword_regex(listed)
    if regex is None:
        return None
    found = regex.search(body)
    if found is None:
        return None
    usable = [k for k in listed if k.split()]
    index = int(next(name for name, v in found.groupdict().items() if v is not None)[1:])
    return usable[index]


def check_content(body: str, account: Account, platform_keywords: Iterable[str]) -> None:
    """404 when the body holds a platform or account banned keyword."""
    hit = find_banned_keyword(body, [*platform_keywords, *account.banned_keywords])
    if hit is not None:
        msg = f"body contains the banned keyword {hit!r}"
        raise ContentRejectedError(msg)


def check_sender_allowed(sender: str, account: Account) -> None:
    """403 when ``sender`` is a protected name (a bank's, an authority's) that the
    operator has not verified for this account."""
    if sender_key(sender) in PROTECTED_SENDERS and not account.has_verified_sender(sender):
        msg = (
            f"sender {sender!r} is a protected name; the operator must verify it for this "
            "account before it can be used"
        )
        raise SenderRejectedError(msg)


def check_recipient(raw: str, account: Account, campaigns: Set[str]) -> Msisdn:
    """Normalise a recipient and apply the per-recipient rules; returns the number.

    409 not a valid MSISDN; 405 on the block list; 410 a fixed line, which cannot take
    SMS; 403 a US or Canadian number (by its region, not by +1: Jamaica is +1 too)
    without an active campaign of that country (``campaigns``, from
    ``Account.campaign_countries``).
    """
    number = parse_msisdn(raw)
    msisdn = number.e164
    if account.is_blocked(msisdn):
        msg = f"{msisdn} is on the account's block list"
        raise RecipientRejectedError(msg)
    if number.fixed_line:
        msg = f"{msisdn} is a fixed line, which cannot receive SMS"
        raise MissingSmsSubscriptionError(msg)
    if number.region in ("US", "CA") and number.region not in campaigns:
        country = "US" if number.region == "US" else "Canadian"
        msg = f"{country} recipients need an active campaign booked for the account"
        raise SenderRejectedError(msg)
    return number
