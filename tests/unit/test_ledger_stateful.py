"""A Hypothesis state machine drives random ledger commands against a simple model.

After every step: the balance equals top-ups minus balance charges plus balance refunds
(from the model and, independently, from the stored events), it is never negative,
every message is charged at most once and refunded at most once and only if charged,
and every aggregate rebuilt from its events equals the one in memory. Add-ons are
ordered, given notice and charged by month-end passes at random times: every fee due by
the last pass is charged exactly once, at the price or 0 as the payment model of that
pass says, a fee once charged never changes, none falls on or after ``ends_on``; and
month end issues each ended month at most once.

Recipients text STOP to the account's virtual number (with the stop service on or off,
the number's add-on running or ended), follow a message's unsubscribe link (with the
link on or off, its add-on running or ended: a message carries its own link exactly when
the link worked at its send, and its segments are its final body's), numbers are blocked
and unblocked by hand, and due messages are handed off. The read model the STOP path
asks for pending messages is played by the machine and lags: it only knows the messages
sent before its last ``catch_up``. Whatever the order: no message to a number blocked at
that moment is ever handed off (it is 405 and refunded instead), a STOP cancels exactly
the pending messages to its sender that the read model knew of, a repeated SMS does
nothing, and the money still reconciles.
"""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from smsledger.adapters.storage import memory_env
from smsledger.application.ledger import Ledger
from smsledger.domain.addons import due_dates
from smsledger.domain.errors import ConflictError
from smsledger.domain.periods import last_closed_period, local_date, period_of
from smsledger.domain.segments import segment
from smsledger.domain.status import CANCELED, RECIPIENT_REJECTED, SENDING
from smsledger.domain.unsubscribe import token_of
from tests.support import FakeClock

VALID = ["+46701234567", "+46701234568", "+4790012345", "+4520123456"]
INVALID = ["12", "+12025550123"]  # not an MSISDN; US without a campaign
UNIT = {"+46": 45, "+47": 55, "+45": 55}


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.ledger = Ledger(memory_env(), clock=self.clock)
        self.top_ups = 0
        self.charged: dict[UUID, tuple[str, int]] = {}  # message -> (charged_to, price)
        self.refunded: set[UUID] = set()
        self.cancelable: list[UUID] = []
        self.live: dict[UUID, Any] = {}  # aggregates as last returned by a use case
        self.refs = 0
        self.add_ons: list[UUID] = []
        self.fees: dict[UUID, dict[str, int]] = {}  # add-on -> due date -> amount (model)
        self.last_pass: dict[UUID, date] = {}
        self.recipient: dict[UUID, str] = {}  # funded message -> its recipient
        self.seen: set[UUID] = set()  # what the (lagging) read model knows
        self.ledger.pending_messages = self._pending
        self.sms_refs: dict[str, dict[str, Any]] = {}  # gateway_ref -> first answer
        self.handed_off: set[UUID] = set()

    def _pending(self, pairs: Any) -> list[UUID]:
        """The read model's answer: the messages to these recipients it has seen."""
        wanted = {number for _, number in pairs}
        return [m for m in self.seen if self.recipient.get(m) in wanted]

    @initialize(
        model=st.sampled_from(["balance", "post_invoice"]), stop=st.booleans(), link=st.booleans()
    )
    def open(self, model: str, stop: bool, link: bool) -> None:
        self.account_id = self.ledger.open_account("Prop", payment_model=model).value.id
        if stop:  # a virtual number and sms_stop on from the start: STOPs find work
            self.order_add_on("virtual_number")
            self.ledger.set_stop_service(self.account_id, sms_stop=True, unsubscribe_link=False)
            self.top_up(5_000, repeat=False)
        if link:  # the unsubscribe link on from the start: sends carry links to follow
            self.order_add_on("unsubscribe_link")
            self.ledger.set_stop_service(self.account_id, sms_stop=stop, unsubscribe_link=True)

    def teardown(self) -> None:
        self.ledger.close()

    @property
    def expected_balance(self) -> int:
        charged = sum(p for to, p in self.charged.values() if to == "balance")
        refunded = sum(self.charged[m][1] for m in self.refunded if self.charged[m][0] == "balance")
        return self.top_ups - charged + refunded

    @rule(amount=st.integers(1, 2000), repeat=st.booleans())
    def top_up(self, amount: int, repeat: bool) -> None:
        account = self.ledger.get_account(self.account_id)
        if account.payment_model == "post_invoice":
            return
        self.refs += 1
        reference = f"r{self.refs}"
        self.ledger.top_up(self.account_id, amount, reference)
        self.top_ups += amount
        if repeat:  # a retried request credits nothing more
            _, created = self.ledger.top_up(self.account_id, amount, reference).value
            assert not created

    @rule(
        recipients=st.lists(st.sampled_from(VALID + INVALID), min_size=1, max_size=6),
        body=st.sampled_from(["Hi", "Hej då €", "x" * 200, "Zürich 💡"]),
        later=st.booleans(),
    )
    def send(self, recipients: list[str], body: str, later: bool) -> None:
        send_at = self.clock.now + timedelta(hours=1) if later else None
        account = self.ledger.get_account(self.account_id)
        linked = self.ledger.stop_service(account, self.clock.now)[1]
        receipt = self.ledger.send_batch(
            self.account_id, sender="Prop", recipients=recipients, body=body, send_at=send_at
        )
        for line, shown in zip(receipt.lines, receipt.bodies, strict=True):
            mid = UUID(line["id"])
            if line["status"] == 103:
                message = self.ledger.get_message(mid)
                # The body sent is the body, with its own link when the link works; the
                # segments (and so the price) are the final body's.
                assert shown == message.body
                assert (token_of(message) is not None) is linked
                assert message.body.startswith(body)
                assert segment(message.body).segments == message.segments
                assert message.charged_to is not None
                self.charged[mid] = (message.charged_to, message.price)
                self.cancelable.append(mid)
                self.recipient[mid] = message.recipient
                assert line["price"] == message.price > 0
            else:
                assert line["price"] == 0

    @rule(model=st.sampled_from(["balance", "post_invoice"]))
    def switch_payment_model(self, model: str) -> None:
        self.ledger.change_payment_model(self.account_id, model)

    @precondition(lambda self: bool(self.cancelable))
    @rule(pick=st.integers(0, 10_000), twice=st.booleans())
    def cancel(self, pick: int, twice: bool) -> None:
        mid = self.cancelable.pop(pick % len(self.cancelable))
        message = self.ledger.cancel(mid).value
        self.live[mid] = message
        self.refunded.add(mid)
        if twice:
            try:
                self.ledger.cancel(mid)
            except ConflictError:
                pass
            else:
                raise AssertionError("a second cancel must be a conflict")

    @rule(days=st.integers(1, 40))
    def time_passes(self, days: int) -> None:
        self.clock.advance(days=days)

    @rule(kind=st.sampled_from(["virtual_number", "unsubscribe_link"]))
    def order_add_on(self, kind: str) -> None:
        add_on, ordered = self.ledger.order_add_on(self.account_id, kind, None).value
        if ordered:
            self.add_ons.append(add_on.id)
            self.fees[add_on.id] = {}

    @precondition(lambda self: bool(self.add_ons))
    @rule(pick=st.integers(0, 100))
    def give_notice(self, pick: int) -> None:
        self.ledger.give_add_on_notice(self.add_ons[pick % len(self.add_ons)])

    @precondition(lambda self: bool(self.add_ons))
    @rule()
    def month_end_pass(self) -> None:
        now = self.clock.now
        included = self.ledger.get_account(self.account_id).payment_model == "post_invoice"
        for add_on_id in self.add_ons:
            add_on = self.ledger.get_add_on(add_on_id)
            price = 0 if included else add_on.price_per_year
            for due in self.ledger.charge_add_on_fees(add_on_id, now).value:
                assert due not in self.fees[add_on_id], "a fee charged twice"
                self.fees[add_on_id][due] = price
            self.last_pass[add_on_id] = local_date(now, add_on.timezone)
        period = last_closed_period(now, "Europe/Stockholm", timedelta(0))
        account = self.ledger.get_account(self.account_id)
        if period >= period_of(account.created_on, "Europe/Stockholm"):
            self.ledger.issue_invoice(self.account_id, period)

    # --- inbound STOP, block list, hand-off ----------------------------------------------

    @rule()
    def read_model_catches_up(self) -> None:
        self.seen = set(self.recipient)

    @rule(on=st.booleans())
    def switch_stop_service(self, on: bool) -> None:
        try:
            self.ledger.set_stop_service(self.account_id, sms_stop=on, unsubscribe_link=False)
        except ConflictError:
            assert on  # switching off always works; on needs a running virtual number

    def _number(self) -> str | None:
        numbers = [
            a.number
            for a in (self.ledger.get_add_on(i) for i in self.add_ons)
            if a.kind == "virtual_number"
        ]
        return numbers[-1] if numbers else None

    @rule(
        sender=st.sampled_from(VALID),
        body=st.sampled_from(["STOP", "stopp!", "Stop it", "hello", "Save A B C"]),
        ref=st.integers(0, 8),
    )
    def recipient_texts(self, sender: str, body: str, ref: int | str) -> None:
        number = self._number()
        if number is None:
            return
        now = self.clock.now
        account = self.ledger.get_account(self.account_id)
        stop_works = self.ledger.stop_service(account, now)[0]
        running = any(
            self.ledger.get_add_on(i).number == number
            and self.ledger.get_add_on(i).active_on(local_date(now, account.timezone))
            for i in self.add_ons
        )
        pending = {m for m in self.seen & set(self.cancelable) if self.recipient[m] == sender}
        sms = {
            "to": number,
            "from": sender,
            "body": body,
            "at": now.isoformat(),
            "gateway_ref": f"sms-{ref}",
        }
        (result,) = self.ledger.receive_inbound([sms]).value
        first = self.sms_refs.get(sms["gateway_ref"])
        if first is not None:  # the same SMS again: nothing done twice
            assert result == {**first, "outcome": "duplicate"}
            return
        if not running:
            assert result["outcome"] == "unknown_number"
            return
        self.sms_refs[sms["gateway_ref"]] = result
        assert result["outcome"] == "stored"
        first_word = body.split(maxsplit=1)[0].rstrip("!").lower()
        opt_out = stop_works and first_word in ("stop", "stopp")
        saves = first_word == "save" and len(body.split()) == 4  # Save <first> <last> <group>
        assert result["action"] == ("opt_out" if opt_out else "contact_saved" if saves else None)
        if not opt_out:
            return
        assert self.ledger.get_account(self.account_id).is_blocked(sender)
        sms_aggregate: Any = self.ledger.repository.get(result["id"])
        canceled = {UUID(h) for h in sms_aggregate.canceled}
        assert canceled == pending
        event(f"STOP canceled {min(len(canceled), 2)}")
        for mid in canceled:
            assert self.ledger.get_message(mid).status == CANCELED
            self.cancelable.remove(mid)
            self.refunded.add(mid)

    @rule(sender=st.sampled_from(VALID), seen=st.booleans(), due=st.booleans())
    def scheduled_then_stop(self, sender: str, seen: bool, due: bool) -> None:
        """The story the stop service is for: a message scheduled, then its recipient's
        STOP, with the read model caught up in between or not; then, maybe, its time
        comes and the dispatcher runs."""
        self.send([sender], "Tomorrow", later=True)
        if seen:
            self.read_model_catches_up()
        self.refs += 1
        self.recipient_texts(sender, "STOP", f"story-{self.refs}")
        if due and self.cancelable:
            self.clock.advance(hours=2)
            self.dispatcher_hands_off()

    @rule(on=st.booleans())
    def switch_unsubscribe_link(self, on: bool) -> None:
        account = self.ledger.get_account(self.account_id)
        # ConflictError: a part switched on (this one, or sms_stop kept) whose add-on ended.
        with contextlib.suppress(ConflictError):
            self.ledger.set_stop_service(
                self.account_id, sms_stop=account.sms_stop, unsubscribe_link=on
            )

    @rule(pick=st.integers(0, 10_000), twice=st.booleans())
    def recipient_follows_the_link(self, pick: int, twice: bool) -> None:
        linked = [m for m in self.recipient if token_of(self.ledger.get_message(m))]
        if not linked:
            return
        message = self.ledger.get_message(linked[pick % len(linked)])
        token = token_of(message)
        assert token is not None
        event("unsubscribe link followed")
        self.ledger.unsubscribe(token)
        # The message a use case returned before (a cancel's) is one event behind now.
        self.live.pop(message.id, None)
        assert self.ledger.get_account(self.account_id).is_blocked(message.recipient)
        if twice:  # a second press changes nothing
            assert self.ledger.unsubscribe(token).value[1] == "already_unsubscribed"

    @rule(number=st.sampled_from(VALID), block=st.booleans())
    def block_by_hand(self, number: str, block: bool) -> None:
        if block:
            self.ledger.block_number(self.account_id, number)
        else:
            self.ledger.unblock_number(self.account_id, number)

    @precondition(lambda self: bool(self.cancelable))
    @rule()
    def dispatcher_hands_off(self) -> None:
        now = self.clock.now
        blocked = set(self.ledger.get_account(self.account_id).blocked)
        started, _ = self.ledger.start_sending(list(self.cancelable), now).value
        for message in started:
            assert message.recipient not in blocked, "a message to a blocked number went out"
            self.handed_off.add(message.id)
            self.cancelable.remove(message.id)
        for mid in list(self.cancelable):
            message = self.ledger.get_message(mid)
            if message.status == RECIPIENT_REJECTED:
                event("405 at hand-off")
                assert message.recipient in blocked
                assert message.refunded
                self.cancelable.remove(mid)
                self.refunded.add(mid)
            else:
                assert message.recipient not in blocked or not message.may_hand_off(now)

    @invariant()
    def nothing_went_out_to_a_number_blocked_when_it_went(self) -> None:
        for mid in self.handed_off:
            assert self.ledger.get_message(mid).status == SENDING

    @invariant()
    def every_due_fee_is_charged_once_as_the_model_says(self) -> None:
        for add_on_id in self.add_ons:
            add_on = self.ledger.get_add_on(add_on_id)
            assert add_on.fees == self.fees[add_on_id]
            if add_on_id in self.last_pass:
                ends = date.fromisoformat(add_on.ends_on) if add_on.ends_on else None
                expected = due_dates(add_on.start, ends, self.last_pass[add_on_id])
                assert sorted(add_on.fees) == [d.isoformat() for d in expected]

    @invariant()
    def no_month_is_issued_twice(self) -> None:
        if hasattr(self, "account_id"):
            issued = self.ledger.get_account(self.account_id).issued_invoices
            assert len(issued) == len(set(issued))

    @invariant()
    def balance_matches_model_and_events(self) -> None:
        if not hasattr(self, "account_id"):
            return
        account = self.ledger.get_account(self.account_id)
        assert account.balance == self.expected_balance >= 0
        # Independently, from the stored events alone.
        from_events = 0
        for stored in self.ledger.events.get(self.account_id):
            name = type(stored).__name__
            if name == "ToppedUp":
                from_events += stored.amount  # type: ignore[attr-defined]
            elif name == "BatchCharged" and stored.charged_to == "balance":  # type: ignore[attr-defined]
                from_events -= stored.amount  # type: ignore[attr-defined]
            elif name == "Refunded":
                from_events += stored.amount  # type: ignore[attr-defined]
        assert from_events == account.balance

    @invariant()
    def each_message_charged_and_refunded_at_most_once(self) -> None:
        for mid in self.charged:
            names = [type(e).__name__ for e in self.ledger.events.get(mid)]
            assert names.count("Funded") == 1
            assert names.count("Refunded") == (1 if mid in self.refunded else 0)
            if "Refunded" in names:
                assert names.index("Funded") < names.index("Refunded")

    @invariant()
    def aggregates_rebuilt_from_events_equal_those_in_memory(self) -> None:
        for mid, live in self.live.items():
            assert vars(self.ledger.get_message(mid)) == vars(live)
        if hasattr(self, "account_id"):
            account = self.ledger.get_account(self.account_id)
            rebuilt: Any = None
            for e in self.ledger.events.get(self.account_id):
                rebuilt = e.mutate(rebuilt)  # type: ignore[attr-defined]
            assert vars(rebuilt) == vars(account)


LedgerMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerMachine = LedgerMachine.TestCase
