"""The acceptance rules of one send, with no database: campaigns by region, fixed
lines, protected senders, banned keywords with their inflections, unpriced destinations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from smsledger.domain.account import Account
from smsledger.domain.errors import ConflictError, InvalidRequestError
from smsledger.domain.pricing import PriceList
from smsledger.domain.rules import (
    PLATFORM_BANNED_KEYWORDS,
    PROTECTED_SENDERS,
    find_banned_keyword,
)
from smsledger.domain.sending import accept_batch

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PRICES = PriceList("SEK", 95, {"SE": 45, "US": 80, "CA": 80})


def funded_account() -> Account:
    account = Account(
        name="Acme",
        payment_model="balance",
        currency="SEK",
        timezone="Europe/Stockholm",
        timestamp=NOW,
    )
    account.top_up(100_000, "initial", NOW)
    return account


def statuses(
    account: Account,
    recipients: list[str],
    *,
    sender: str = "Acme",
    body: str = "Hello",
    prices: PriceList = PRICES,
    now: datetime = NOW,
) -> list[int]:
    accepted = accept_batch(
        account,
        uuid4(),
        sender=sender,
        recipients=recipients,
        body=body,
        validity_period=3600,
        send_at=None,
        reference=None,
        prices=prices,
        platform_keywords=PLATFORM_BANNED_KEYWORDS,
        max_parts=10,
        now=now,
    )
    return [line["status"] for line in accepted.lines]


# --- campaigns: by the number's region, not by +1 ------------------------------------------

US, CANADA, JAMAICA, BAHAMAS = "+12025550123", "+14165550123", "+18762345678", "+12423591234"


def test_us_and_canadian_numbers_need_a_campaign_of_their_own_country() -> None:
    account = funded_account()
    assert statuses(account, [US, CANADA]) == [403, 403]
    account.book_campaign("CA", "crtc-1", None, NOW)
    assert statuses(account, [US, CANADA]) == [403, 103]


def test_other_nanp_countries_are_ordinary_destinations_priced_by_the_list() -> None:
    account = funded_account()
    accepted = accept_batch(
        account,
        uuid4(),
        sender="Acme",
        recipients=[JAMAICA, BAHAMAS],
        body="Hi",
        validity_period=3600,
        send_at=None,
        reference=None,
        prices=PRICES,
        platform_keywords=(),
        max_parts=10,
        now=NOW,
    )
    assert [(line["status"], line["price"]) for line in accepted.lines] == [(103, 95), (103, 95)]


def test_a_campaign_counts_from_its_booking_until_its_end() -> None:
    account = funded_account()
    account.book_campaign("US", "tcr-1", NOW + timedelta(days=30), NOW)
    assert account.campaign_countries(NOW - timedelta(seconds=1)) == frozenset()
    assert account.campaign_countries(NOW) == {"US"}
    assert account.campaign_countries(NOW + timedelta(days=30) - timedelta(seconds=1)) == {"US"}
    assert account.campaign_countries(NOW + timedelta(days=30)) == frozenset()
    assert statuses(account, [US], now=NOW + timedelta(days=31)) == [403]


def test_a_booking_retried_is_one_booking_and_other_terms_are_a_conflict() -> None:
    account = funded_account()
    until = NOW + timedelta(days=30)
    assert account.book_campaign("US", "tcr-1", until, NOW) is True
    assert account.book_campaign("US", "tcr-1", until, NOW) is False
    assert len(account.campaigns) == 1
    with pytest.raises(ConflictError):
        account.book_campaign("CA", "tcr-1", until, NOW)
    with pytest.raises(ConflictError):
        account.book_campaign("US", "tcr-1", None, NOW)


@pytest.mark.parametrize(
    ("country", "until"),
    [("JM", None), ("us", None), (True, None), ("US", NOW), ("US", NOW - timedelta(days=1))],
)
def test_a_campaign_is_for_us_or_canada_and_ends_in_the_future(
    country: object, until: datetime | None
) -> None:
    with pytest.raises(InvalidRequestError):
        funded_account().book_campaign(country, "ref", until, NOW)  # type: ignore[arg-type]


def test_a_snapshot_from_before_campaigns_had_countries_keeps_its_booking() -> None:
    # Version 1 of the account kept one flag for "US and Canada, no end".
    old = funded_account()
    state = {k: v for k, v in vars(old).items() if k not in ("campaigns", "verified_senders")}
    state["us_campaign"] = True
    Account.upcast_v1_v2(state)
    assert {c[0] for c in state["campaigns"].values()} == {"US", "CA"}
    assert state["verified_senders"] == {}
    restored = Account.__new__(Account)
    restored.__dict__.update(state)
    assert restored.campaign_countries(NOW) == {"US", "CA"}


def test_the_first_form_of_a_booking_still_books_both_countries() -> None:
    account = funded_account()
    account._campaign_booked(NOW)  # what replaying a stored first-form event does
    assert account.campaign_countries(NOW) == {"US", "CA"}
    assert statuses(account, [US, CANADA]) == [103, 103]


# --- fixed lines and destinations without a price ------------------------------------------


@pytest.mark.parametrize("fixed", ["+4681234567", "+46311234567", "+442071234567", "+4930123456"])
def test_a_fixed_line_is_410_and_costs_nothing(fixed: str) -> None:
    account = funded_account()
    assert statuses(account, [fixed, "+46701234567"]) == [410, 103]
    assert account.balance == 100_000 - 45


def test_a_destination_with_no_price_is_406_and_costs_nothing() -> None:
    account = funded_account()
    listed_only = PriceList("SEK", None, {"SE": 45})
    assert statuses(account, ["+4915123456789", "+46701234567"], prices=listed_only) == [406, 103]
    assert account.balance == 100_000 - 45


# --- protected senders -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Swedbank", "SWEDBANK", "Swed-Bank", "swed bank", "Polisen"])
def test_a_protected_sender_name_is_403_until_verified_for_the_account(name: str) -> None:
    account = funded_account()
    assert statuses(account, ["+46701234567"], sender=name) == [403]
    assert account.balance == 100_000
    account.verify_sender("Swedbank" if "bank" in name.lower() else name, NOW)
    assert statuses(account, ["+46701234567"], sender=name) == [103]


def test_an_ordinary_sender_needs_no_verification() -> None:
    assert "acme" not in PROTECTED_SENDERS
    assert statuses(funded_account(), ["+46701234567"], sender="Acme") == [103]


def test_verifying_twice_is_one_verification_and_unverifying_takes_it_back() -> None:
    account = funded_account()
    assert account.verify_sender("Nordea", NOW) is True
    assert account.verify_sender("NORDEA", NOW) is False
    assert account.unverify_sender("nordea", NOW) is True
    assert account.unverify_sender("nordea", NOW) is False
    assert statuses(account, ["+46701234567"], sender="Nordea") == [403]


# --- banned keywords -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "hit"),
    [
        ("Best casinos in town", "casino"),
        ("CASINO night", "casino"),
        ("Stop gambling now", "gamble"),
        ("He gambled it all", "gamble"),
        ("for gamblers only", "gamble"),
        ("New BETTING  ODDS today", "betting odds"),
        ("win the jackpots", "jackpot"),
    ],
)
def test_platform_keywords_match_whole_words_in_any_case_and_inflection(
    body: str, hit: str
) -> None:
    assert find_banned_keyword(body, PLATFORM_BANNED_KEYWORDS) == hit


@pytest.mark.parametrize(
    "body", ["Casinoroyale is a film title", "a gamblerish mood", "pornography studies", "Hi"]
)
def test_a_keyword_inside_another_word_is_no_match(body: str) -> None:
    assert find_banned_keyword(body, ["casino", "gamble", "porn"]) is None


def test_an_account_keyword_doubles_its_consonant_before_ing() -> None:
    assert find_banned_keyword("betting tips", ["bet"]) == "bet"
    assert find_banned_keyword("bets placed", ["bet"]) == "bet"
    assert find_banned_keyword("better offers", ["bet"]) == "bet"
    assert find_banned_keyword("beta release", ["bet"]) is None


def test_an_account_keyword_rejects_the_batch_with_404() -> None:
    account = funded_account()
    account.set_banned_keywords(["Lottery"], NOW)
    assert statuses(account, ["+46701234567"], body="Our lotteries are open") == [404]
    assert account.balance == 100_000


def test_a_snapshot_from_before_the_stop_service_has_it_off_and_no_add_ons() -> None:
    old = funded_account()
    gone = ("add_ons", "sms_stop", "unsubscribe_link")
    state = {k: v for k, v in vars(old).items() if k not in gone}
    Account.upcast_v2_v3(state)
    restored = Account.__new__(Account)
    restored.__dict__.update(state)
    assert (restored.sms_stop, restored.unsubscribe_link, restored.add_ons) == (False, False, {})
    with pytest.raises(ConflictError):
        restored.set_stop_service(True, False, frozenset(), NOW)
    assert restored.set_stop_service(True, False, frozenset({"virtual_number"}), NOW)
    assert restored.sms_stop
