"""The Account aggregate: payment model, prepaid balance, block list, campaigns and
verified sender names.

The account's stream stays short: one event per top-up, per batch and per refund
pass (not per message), and the application snapshots it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from eventsourcing.domain import Aggregate, event

from smsledger.domain.errors import (
    ConflictError,
    InvalidRequestError,
    PeriodNotEndedError,
    TopUpConflictError,
)
from smsledger.domain.periods import period_bounds
from smsledger.domain.text import check_line
from smsledger.domain.times import check_time
from smsledger.domain.webhooks import ROTATION_OVERLAP, WEBHOOK_EVENTS, check_webhook_url

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

PaymentModel = Literal["balance", "post_invoice"]
ChargedTo = Literal["balance", "invoice"]
BlockSource = Literal["manual", "stop", "unsubscribe_link"]
PAYMENT_MODELS: tuple[PaymentModel, ...] = ("balance", "post_invoice")
MAX_TOP_UP = 10**12  # minor units; an absurd amount is a typo, not a top-up
MAX_NAME_LENGTH = 200
MAX_TOP_UP_REFERENCE_LENGTH = 200
MAX_KEYWORD_LENGTH = 100
MAX_KEYWORDS = 1_000
MAX_MSISDN_LENGTH = 16  # "+" and E.164's 15 digits
MAX_CAMPAIGN_REFERENCE_LENGTH = 200
MAX_SENDER_NAME_LENGTH = 16  # "+" and 15 digits, or an 11-character name
LEGACY_CAMPAIGN = "first-booking-"  # + country: the reference shown for the first form
_EPOCH = "1970-01-01T00:00:00+00:00"
CampaignCountry = Literal["US", "CA"]
CAMPAIGN_COUNTRIES: tuple[CampaignCountry, ...] = ("US", "CA")


def check_account_name(name: object) -> str:
    """An account's name, stripped: 1-200 characters of one printable line."""
    if isinstance(name, str):
        name = name.strip()
    return check_line(name, "name", max_length=MAX_NAME_LENGTH)


def check_payment_model(model: object) -> PaymentModel:
    if model == "balance":
        return "balance"
    if model == "post_invoice":
        return "post_invoice"
    msg = f"payment_model must be 'balance' or 'post_invoice', got {model!r}"
    raise InvalidRequestError(msg)


def check_campaign_country(country: object) -> CampaignCountry:
    if country == "US":
        return "US"
    if country == "CA":
        return "CA"
    msg = f"country must be 'US' or 'CA' (the destinations that need a campaign), got {country!r}"
    raise InvalidRequestError(msg)


def sender_key(name: str) -> str:
    """The form two sender names are compared in: ``Swed-Bank`` and ``SWEDBANK`` are one
    name to a recipient, so case and separators are dropped."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


class Account(Aggregate):
    TOPIC = "smsledger:Account"
    # Version 2 added campaigns per country and verified sender names; version 3 the
    # add-ons attached and the stop service. Snapshots taken before carry none of these;
    # the library calls ``upcast_v1_v2`` and ``upcast_v2_v3`` on their state.
    class_version = 3

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        campaigns: dict[str, list[str | None]] = {}
        if state.get("us_campaign"):  # booked in the first form; its time is not kept
            for country in CAMPAIGN_COUNTRIES:
                campaigns[LEGACY_CAMPAIGN + country] = [country, _EPOCH, None]
        state.setdefault("campaigns", campaigns)
        state.setdefault("verified_senders", {})

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state.setdefault("add_ons", {})
        state.setdefault("sms_stop", False)
        state.setdefault("unsubscribe_link", False)

    class Created(Aggregate.Created):
        TOPIC = "smsledger:Account.Created"

    @event("Opened", topic="smsledger:Account.Opened")
    def __init__(
        self,
        name: str,
        payment_model: PaymentModel,
        currency: str,
        timezone: str,
        timestamp: datetime,
    ) -> None:
        self.name = name
        self.payment_model: PaymentModel = payment_model
        self.currency = currency
        self.timezone = timezone
        self.balance = 0
        self.top_ups: dict[str, int] = {}
        self.top_up_balances: dict[str, int] = {}  # reference -> the balance it left
        self.blocked: dict[str, list[str]] = {}  # msisdn -> [source, added_at ISO]
        self.us_campaign = False  # the first form of a booking (see ``_campaign_booked``)
        self.campaigns: dict[str, list[str | None]] = {}  # ref -> [country, booked, until]
        self.verified_senders: dict[str, list[str]] = {}  # sender_key -> [name, verified_at]
        self.banned_keywords: list[str] = []
        self.issued_invoices: list[str] = []
        self.add_ons: dict[str, list[str]] = {}  # kind -> ids of its add-ons, oldest first
        self.sms_stop = False  # the stop service: inbound STOP blocks the sender
        self.unsubscribe_link = False  # the stop service: a link in every message

    # --- top-ups -----------------------------------------------------------------

    def top_up(self, amount: int, reference: str, timestamp: datetime) -> bool:
        """Credit the balance once per reference; ``False`` if it was already done.

        A retry is recognised before the payment model is looked at: a top-up done
        before the account moved to post-invoicing, retried after, is the same top-up
        (its first answer again), not a new one the model refuses."""
        if type(amount) is not int or amount <= 0 or amount > MAX_TOP_UP:
            msg = f"top-up amount must be a positive integer of minor units, got {amount!r}"
            raise InvalidRequestError(msg)
        check_line(reference, "top-up reference", max_length=MAX_TOP_UP_REFERENCE_LENGTH)
        if reference in self.top_ups:
            if self.top_ups[reference] != amount:
                msg = (
                    f"reference {reference!r} was used for {self.top_ups[reference]}, not {amount}"
                )
                raise TopUpConflictError(msg)
            return False
        if self.payment_model == "post_invoice":
            msg = "a post-invoiced account has no top-up"
            raise ConflictError(msg)
        self._topped_up(amount, reference, timestamp)
        return True

    def balance_after_top_up(self, reference: str) -> int:
        """The balance the top-up with ``reference`` left: what its first answer said."""
        # An account restored from a snapshot taken before this was kept has no record
        # of it; its balance now is the best answer there is.
        balances: dict[str, int] = self.__dict__.get("top_up_balances", {})
        return balances.get(reference, self.balance)

    @event("ToppedUp", topic="smsledger:Account.ToppedUp")
    def _topped_up(self, amount: int, reference: str, timestamp: datetime) -> None:
        self.balance += amount
        self.top_ups[reference] = amount
        # setdefault: an account restored from an older snapshot lacks the dict.
        self.__dict__.setdefault("top_up_balances", {})[reference] = self.balance

    # --- charging ----------------------------------------------------------------

    @property
    def charges_to(self) -> ChargedTo:
        """Post-invoicing has priority over any balance left."""
        return "invoice" if self.payment_model == "post_invoice" else "balance"

    def plan_funding(self, prices: Sequence[int]) -> int:
        """How many of ``prices``, in order, this account can fund now.

        On the balance model messages are funded in recipient order while the
        balance covers each price; the rest are refused. On post-invoicing all are.
        """
        if self.charges_to == "invoice":
            return len(prices)
        left = self.balance
        for i, price in enumerate(prices):
            if price > left:
                return i
            left -= price
        return len(prices)

    def charge_batch(
        self, batch_id: UUID, charges: Sequence[tuple[UUID, int]], timestamp: datetime
    ) -> None:
        """Record one batch's charges; on the balance model the balance goes down."""
        total = sum(amount for _, amount in charges)
        if self.charges_to == "balance" and total > self.balance:
            msg = f"batch costs {total}, balance is {self.balance}"
            raise ConflictError(msg)
        self._batch_charged(
            batch_id,
            self.charges_to,
            total,
            [[message_id.hex, amount] for message_id, amount in charges],
            timestamp,
        )

    @event("BatchCharged", topic="smsledger:Account.BatchCharged")
    def _batch_charged(
        self,
        batch_id: UUID,
        charged_to: ChargedTo,
        amount: int,
        charges: list[list[str | int]],
        timestamp: datetime,
    ) -> None:
        if charged_to == "balance":
            self.balance -= amount

    def refund(self, refunds: Sequence[tuple[UUID, int]], timestamp: datetime) -> None:
        """Give balance-charged messages' prices back, in one event per pass."""
        if refunds:
            total = sum(amount for _, amount in refunds)
            self._refunded(
                total, [[message_id.hex, amount] for message_id, amount in refunds], timestamp
            )

    @event("Refunded", topic="smsledger:Account.Refunded")
    def _refunded(self, amount: int, refunds: list[list[str | int]], timestamp: datetime) -> None:
        self.balance += amount

    # --- invoices ----------------------------------------------------------------

    def issue_invoice(self, period: str, timestamp: datetime) -> bool:
        """Freeze a month's invoice once the month has ended in the account's time zone.

        ``False`` if it was already issued. Anything charged or refunded for the period
        afterwards goes on the next open invoice as an adjustment (``projections/``).
        """
        _, end = period_bounds(period, self.timezone)
        if timestamp < end:
            msg = f"period {period} has not ended yet in {self.timezone}"
            raise PeriodNotEndedError(msg)
        if period in getattr(self, "issued_invoices", ()):
            return False
        self._invoice_issued(period, timestamp)
        return True

    @event("InvoiceIssued", topic="smsledger:Account.InvoiceIssued")
    def _invoice_issued(self, period: str, timestamp: datetime) -> None:
        self.issued_invoices = [*getattr(self, "issued_invoices", ()), period]

    # --- settings ------------------------------------------------------------------

    def change_payment_model(self, payment_model: PaymentModel, timestamp: datetime) -> None:
        if payment_model != self.payment_model:
            self._payment_model_changed(payment_model, timestamp)

    @event("PaymentModelChanged", topic="smsledger:Account.PaymentModelChanged")
    def _payment_model_changed(self, payment_model: PaymentModel, timestamp: datetime) -> None:
        self.payment_model = payment_model

    # --- campaigns and senders ---------------------------------------------------------

    def book_campaign(
        self,
        country: str,
        reference: str,
        valid_until: datetime | None,
        timestamp: datetime,
    ) -> bool:
        """Book the campaign a US or Canadian recipient needs; ``False`` if this reference
        was booked before with the same terms (a retry), 409 if with other terms."""
        booked_country = check_campaign_country(country)
        check_line(reference, "campaign reference", max_length=MAX_CAMPAIGN_REFERENCE_LENGTH)
        until: str | None = None
        if valid_until is not None:
            check_time(valid_until, "valid_until")
            if valid_until <= timestamp:
                msg = "valid_until must be in the future"
                raise InvalidRequestError(msg)
            until = valid_until.isoformat()
        known = self.campaigns.get(reference)
        if known is not None:
            if known[0] != booked_country or known[2] != until:
                msg = f"campaign reference {reference!r} was booked with other terms"
                raise ConflictError(msg)
            return False
        self._country_campaign_booked(booked_country, reference, until, timestamp)
        return True

    @event("CountryCampaignBooked", topic="smsledger:Account.CountryCampaignBooked")
    def _country_campaign_booked(
        self, country: str, reference: str, valid_until: str | None, timestamp: datetime
    ) -> None:
        self.campaigns[reference] = [country, timestamp.isoformat(), valid_until]

    @event("CampaignBooked", topic="smsledger:Account.CampaignBooked")
    def _campaign_booked(self, timestamp: datetime) -> None:
        """The first form of a booking, US and Canada with no end and no reference: still
        read (as two campaigns), no longer written."""
        self.us_campaign = True
        for country in CAMPAIGN_COUNTRIES:
            reference = LEGACY_CAMPAIGN + country
            self.campaigns.setdefault(reference, [country, timestamp.isoformat(), None])

    def campaign_countries(self, at: datetime) -> frozenset[str]:
        """The countries this account may send to at ``at``, of those that need a
        campaign (computed once per batch, not per recipient)."""
        active = set()
        for country, booked, until in self.campaigns.values():
            if booked is None or datetime.fromisoformat(booked) > at:
                continue
            if until is None or at < datetime.fromisoformat(until):
                active.add(str(country))
        return frozenset(active)

    def verify_sender(self, name: str, timestamp: datetime) -> bool:
        """Let this account use ``name`` although it is a protected name; ``False`` if
        it already could."""
        key = sender_key(check_line(name, "sender", max_length=MAX_SENDER_NAME_LENGTH))
        if not key:
            msg = "a sender name needs at least one letter or digit"
            raise InvalidRequestError(msg)
        if key in self.verified_senders:
            return False
        self._sender_verified(name, key, timestamp)
        return True

    @event("SenderVerified", topic="smsledger:Account.SenderVerified")
    def _sender_verified(self, name: str, key: str, timestamp: datetime) -> None:
        self.verified_senders[key] = [name, timestamp.isoformat()]

    def unverify_sender(self, name: str, timestamp: datetime) -> bool:
        key = sender_key(name)
        if key not in self.verified_senders:
            return False
        self._sender_unverified(key, timestamp)
        return True

    @event("SenderUnverified", topic="smsledger:Account.SenderUnverified")
    def _sender_unverified(self, key: str, timestamp: datetime) -> None:
        del self.verified_senders[key]

    def has_verified_sender(self, name: str) -> bool:
        return sender_key(name) in self.verified_senders

    def set_banned_keywords(self, keywords: Sequence[str], timestamp: datetime) -> None:
        if isinstance(keywords, str) or len(keywords) > MAX_KEYWORDS:
            msg = f"keywords must be a list of at most {MAX_KEYWORDS} words"
            raise InvalidRequestError(msg)
        for keyword in keywords:
            check_line(keyword, "keyword", min_length=0, max_length=MAX_KEYWORD_LENGTH)
        cleaned = sorted({k.strip().lower() for k in keywords if k.strip()})
        if cleaned != self.banned_keywords:
            self._keywords_set(cleaned, timestamp)

    @event("BannedKeywordsSet", topic="smsledger:Account.BannedKeywordsSet")
    def _keywords_set(self, keywords: list[str], timestamp: datetime) -> None:
        self.banned_keywords = keywords

    # --- block list ------------------------------------------------------------------

    def is_blocked(self, msisdn: str) -> bool:
        return msisdn in self.blocked

    def block_number(
        self,
        msisdn: str,
        source: BlockSource,
        timestamp: datetime,
        inbound_id: UUID | None = None,
    ) -> bool:
        """Put a normalised number on the block list; ``False`` if already there.
        ``inbound_id``: the inbound SMS (a STOP) that asked for it, kept in the event
        so support can replay why."""
        check_line(msisdn, "msisdn", max_length=MAX_MSISDN_LENGTH)
        if msisdn in self.blocked:
            return False
        self._number_blocked(
            msisdn, source, timestamp, None if inbound_id is None else str(inbound_id)
        )
        return True

    @event("NumberBlocked", topic="smsledger:Account.NumberBlocked")
    def _number_blocked(
        self, msisdn: str, source: BlockSource, timestamp: datetime, inbound_id: str | None = None
    ) -> None:
        """``inbound_id`` is absent from events written before inbound SMS existed."""
        self.blocked[msisdn] = [source, timestamp.isoformat()]

    def unblock_number(self, msisdn: str, timestamp: datetime) -> bool:
        if msisdn not in self.blocked:
            return False
        self._number_unblocked(msisdn, timestamp)
        return True

    @event("NumberUnblocked", topic="smsledger:Account.NumberUnblocked")
    def _number_unblocked(self, msisdn: str, timestamp: datetime) -> None:
        del self.blocked[msisdn]

    # --- add-ons and the stop service ------------------------------------------------------

    def attach_add_on(self, add_on_id: UUID, kind: str, timestamp: datetime) -> bool:
        """Note an add-on ordered for the account (its own aggregate keeps its dates and
        fees), so that what the add-on enables can find it; ``False`` if noted before."""
        ids = self.add_ons.get(kind, [])
        if str(add_on_id) in ids:
            return False
        self._add_on_attached(str(add_on_id), kind, timestamp)
        return True

    @event("AddOnAttached", topic="smsledger:Account.AddOnAttached")
    def _add_on_attached(self, add_on_id: str, kind: str, timestamp: datetime) -> None:
        self.add_ons.setdefault(kind, []).append(add_on_id)

    def set_stop_service(
        self, sms_stop: bool, unsubscribe_link: bool, backed: frozenset[str], timestamp: datetime
    ) -> bool:
        """Switch the stop service's two parts. Switching one on needs what provides it
        (``backed``: the kinds of add-on running today, or both under a post-invoicing
        subscription), else ``ConflictError``; switching off always works. ``False`` if
        nothing changed."""
        if not isinstance(sms_stop, bool) or not isinstance(unsubscribe_link, bool):
            msg = "sms_stop and unsubscribe_link must be true or false"
            raise InvalidRequestError(msg)
        if sms_stop and "virtual_number" not in backed:
            msg = "sms_stop needs a virtual number add-on (or a post-invoicing subscription)"
            raise ConflictError(msg)
        if unsubscribe_link and "unsubscribe_link" not in backed:
            msg = (
                "unsubscribe_link needs an unsubscribe link add-on "
                "(or a post-invoicing subscription)"
            )
            raise ConflictError(msg)
        if (sms_stop, unsubscribe_link) == (self.sms_stop, self.unsubscribe_link):
            return False
        self._stop_service_set(sms_stop, unsubscribe_link, timestamp)
        return True

    @event("StopServiceSet", topic="smsledger:Account.StopServiceSet")
    def _stop_service_set(
        self, sms_stop: bool, unsubscribe_link: bool, timestamp: datetime
    ) -> None:
        self.sms_stop = sms_stop
        self.unsubscribe_link = unsubscribe_link

    # --- status callbacks (``smsledger.domain.webhooks``) --------------------------------

    @property
    def webhook_config(self) -> dict[str, Any] | None:
        """The webhook as last configured, or ``None``; read with ``getattr`` because
        snapshots taken before webhooks existed have no such attribute."""
        config: dict[str, Any] | None = getattr(self, "webhook", None)
        return config

    def configure_webhook(
        self,
        url: str,
        events: Sequence[str],
        nonce: str,
        timestamp: datetime,
        *,
        allow_private: bool,
    ) -> None:
        """Set the webhook's URL and event kinds, with a new signing secret (``nonce``):
        a second PUT rotates it, and the secret before keeps signing for 24 hours."""
        url = check_webhook_url(url, allow_private=allow_private)
        if isinstance(events, str) or not isinstance(events, list | tuple):
            msg = f"events must be a list of {list(WEBHOOK_EVENTS)}"
            raise InvalidRequestError(msg)
        if any(e not in WEBHOOK_EVENTS for e in events) or len(set(events)) != len(events):
            msg = f"events must be distinct kinds of {list(WEBHOOK_EVENTS)}"
            raise InvalidRequestError(msg)
        check_line(nonce, "nonce", max_length=100)
        current = self.webhook_config
        previous = None if current is None else current["nonce"]
        until = None if previous is None else (timestamp + ROTATION_OVERLAP).isoformat()
        self._webhook_configured(url, list(events), nonce, previous, until, timestamp)

    @event("WebhookConfigured", topic="smsledger:Account.WebhookConfigured")
    def _webhook_configured(
        self,
        url: str,
        events: list[str],
        nonce: str,
        previous_nonce: str | None,
        previous_until: str | None,
        timestamp: datetime,
    ) -> None:
        self.webhook: dict[str, Any] | None = {
            "url": url,
            "events": events,
            "nonce": nonce,
            "previous_nonce": previous_nonce,
            "previous_until": previous_until,
            "configured_at": timestamp.isoformat(),
        }

    def remove_webhook(self, timestamp: datetime) -> bool:
        """Stop the account's callbacks; ``False`` if none was configured."""
        if self.webhook_config is None:
            return False
        self._webhook_removed(timestamp)
        return True

    @event("WebhookRemoved", topic="smsledger:Account.WebhookRemoved")
    def _webhook_removed(self, timestamp: datetime) -> None:
        self.webhook = None

    def signing_nonces(self, at: datetime) -> list[str]:
        """The nonces of the secrets that sign a callback sent at ``at``: the current
        one, and the one before while its 24 hours of overlap last."""
        config = self.webhook_config
        if config is None:
            return []
        nonces = [config["nonce"]]
        until = config.get("previous_until")
        if config.get("previous_nonce") and until and at < datetime.fromisoformat(until):
            nonces.append(config["previous_nonce"])
        return nonces
