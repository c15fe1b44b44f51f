"""The unsubscribe link in the send decision and on its own (``smsledger.domain.unsubscribe``),
with no database: what it adds to a body, what it costs, and what using it does."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest

from smsledger.domain.account import Account
from smsledger.domain.errors import UnsubscribeLinkNotFoundError
from smsledger.domain.pricing import load_price_list
from smsledger.domain.sending import AcceptedBatch, accept_batch
from smsledger.domain.status import FUNDED, INSUFFICIENT_FUNDS
from smsledger.domain.unsubscribe import (
    TOKEN_LENGTH,
    UnsubscribeLinks,
    is_token,
    mask_number,
    message_id_for,
    token_of,
    use_link,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PRICES = load_price_list()
BASE = "https://ledger.example"
# "\n" + BASE + "/u/" + 16 characters of token
LINK_LENGTH = 1 + len(BASE) + 3 + TOKEN_LENGTH
SE_UNIT = 45


def account(balance: int = 10_000) -> Account:
    a = Account(
        name="Acme",
        payment_model="balance",
        currency="SEK",
        timezone="Europe/Stockholm",
        timestamp=NOW,
    )
    a.top_up(balance, "t", NOW)
    return a


def tokens() -> Iterator[str]:
    for n in itertools.count():
        yield f"tok{n:013d}"


def send(
    a: Account, recipients: list[str], body: str = "hi", *, linked: bool = True
) -> AcceptedBatch:
    return accept_batch(
        a,
        uuid4(),
        sender="Acme",
        recipients=recipients,
        body=body,
        validity_period=600,
        send_at=None,
        reference=None,
        prices=PRICES,
        platform_keywords=("casino",),
        max_parts=10,
        now=NOW,
        links=UnsubscribeLinks(BASE, tokens()) if linked else None,
    )


def test_every_accepted_message_gets_its_own_link_on_a_line_of_its_own() -> None:
    batch = send(account(), ["+46701234561", "+46701234562"], "Your table is ready!")
    first, second = batch.messages
    assert first.body == f"Your table is ready!\n{BASE}/u/tok0000000000000"
    assert second.body == f"Your table is ready!\n{BASE}/u/tok0000000000001"
    # The message's id is the one its token names, so a click finds it by id alone.
    assert first.id == message_id_for("tok0000000000000")
    assert token_of(first) == "tok0000000000000"
    # The batch keeps the body once and each line its token (its receipt replays them).
    assert batch.batch.body == "Your table is ready!"
    assert [line.get("token") for line in batch.lines] == [
        "tok0000000000000",
        "tok0000000000001",
    ]


def test_rejected_recipients_get_no_token_and_their_body_as_sent() -> None:
    a = account()
    a.block_number("+46701234562", "manual", NOW)
    batch = send(a, ["+46701234562", "12", "+46701234561"], "Hello")
    blocked, invalid, sent = batch.messages
    assert (blocked.status, invalid.status, sent.status) == (405, 409, FUNDED)
    assert blocked.body == invalid.body == "Hello"
    assert token_of(blocked) is None
    assert token_of(invalid) is None
    # The one accepted message drew the first token: the rejected drew none.
    assert sent.body.endswith("/u/tok0000000000000")
    assert "token" not in batch.lines[0]
    assert "token" not in batch.lines[1]


def test_the_link_takes_a_gsm7_body_from_one_segment_to_two_and_doubles_the_price() -> None:
    fits = "a" * (160 - LINK_LENGTH)  # exactly 160 septets with the link
    over = fits + "a"
    for body, linked, segments in [
        (over, False, 1),
        (fits, True, 1),
        (over, True, 2),
    ]:
        a = account()
        message = send(a, ["+46701234561"], body, linked=linked).messages[0]
        assert (message.encoding, message.segments) == ("GSM-7", segments), (len(body), linked)
        assert message.price == segments * SE_UNIT
        assert a.balance == 10_000 - segments * SE_UNIT


def test_the_link_takes_a_ucs2_body_from_one_segment_to_two_and_doubles_the_price() -> None:
    fits = "ж" * (70 - LINK_LENGTH)  # exactly 70 UTF-16 units with the link
    over = fits + "ж"
    for body, linked, segments in [
        (over, False, 1),
        (fits, True, 1),
        (over, True, 2),
    ]:
        a = account()
        message = send(a, ["+46701234561"], body, linked=linked).messages[0]
        assert (message.encoding, message.segments) == ("UCS-2", segments), (len(body), linked)
        assert message.price == segments * SE_UNIT


def test_a_body_that_fits_ten_parts_only_without_the_link_is_408_for_all() -> None:
    body = "a" * (153 * 10)  # ten full parts, no room for a link
    assert send(account(), ["+46701234561"], body, linked=False).messages[0].status == FUNDED
    batch = send(account(), ["+46701234561"], body)
    assert batch.messages[0].status == 408
    assert batch.total_price == 0


def test_the_balance_pays_for_the_link_and_the_rest_are_402() -> None:
    # Two segments each with the link (90 öre): 100 öre funds one.
    batch = send(account(balance=100), ["+46701234561", "+46701234562"], "a" * 150)
    assert [m.status for m in batch.messages] == [FUNDED, INSUFFICIENT_FUNDS]
    assert batch.total_price == 90


def test_using_the_link_blocks_the_number_once_naming_the_message() -> None:
    a = account()
    message = send(a, ["+46701234561"], "Hello").messages[0]
    token = token_of(message)
    assert token is not None
    a.collect_events()
    message.collect_events()
    later = NOW + timedelta(hours=1)
    assert use_link(message, a, token, later) == "unsubscribed"
    assert a.blocked["+46701234561"] == ["unsubscribe_link", later.isoformat()]
    (blocked,) = a.collect_events()
    assert blocked.message_id == str(message.id)  # type: ignore[attr-defined]
    (used,) = message.collect_events()
    assert type(used).__name__ == "UnsubscribeLinkUsed"
    # A second use changes nothing.
    assert use_link(message, a, token, later + timedelta(minutes=1)) == "already_unsubscribed"
    assert a.collect_events() == []
    assert message.collect_events() == []


def test_a_used_link_blocks_again_once_the_number_was_unblocked_by_hand() -> None:
    a = account()
    message = send(a, ["+46701234561"], "Hello").messages[0]
    token = token_of(message) or ""
    assert use_link(message, a, token, NOW) == "unsubscribed"
    a.unblock_number("+46701234561", NOW + timedelta(days=1))
    a.collect_events()
    message.collect_events()
    # Pressed again: a fresh opt-out, honoured; the message keeps its first use.
    again = NOW + timedelta(days=2)
    assert use_link(message, a, token, again) == "unsubscribed"
    assert a.blocked["+46701234561"] == ["unsubscribe_link", again.isoformat()]
    (blocked,) = a.collect_events()
    assert blocked.message_id == str(message.id)  # type: ignore[attr-defined]
    assert message.collect_events() == []
    assert message.link_used_at == NOW


def test_a_number_already_blocked_is_already_unsubscribed_and_nothing_is_recorded() -> None:
    a = account()
    message = send(a, ["+46701234561"], "Hello").messages[0]
    a.block_number("+46701234561", "manual", NOW)
    a.collect_events()
    message.collect_events()
    assert use_link(message, a, token_of(message) or "", NOW) == "already_unsubscribed"
    assert a.blocked["+46701234561"][0] == "manual"
    assert a.collect_events() == []
    assert message.collect_events() == []


def test_another_token_or_a_message_without_a_link_is_no_link() -> None:
    a = account()
    linked = send(a, ["+46701234561"], "Hello").messages[0]
    plain = send(a, ["+46701234561"], "Hello", linked=False).messages[0]
    with pytest.raises(UnsubscribeLinkNotFoundError):
        use_link(linked, a, "tok0000000000009", NOW)
    assert token_of(plain) is None
    # A body that merely ends like a link is not one: the id must be the token's.
    fake = send(a, ["+46701234561"], f"see\n{BASE}/u/tok0000000000000", linked=False)
    assert token_of(fake.messages[0]) is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("tok0000000000000", True),
        ("AZaz09-_AZaz09-_", True),
        ("short", False),
        ("tok00000000000000", False),
        ("tok000000000000=", False),
        ("tok00000000000\x00", False),
        ("tok000000000000é", False),
        (12, False),
    ],
)
def test_token_shape_is_checked_before_any_lookup(value: object, ok: bool) -> None:
    assert is_token(value) is ok
    if not ok:
        with pytest.raises(UnsubscribeLinkNotFoundError):
            message_id_for(value)  # type: ignore[arg-type]


def test_a_token_names_its_message_as_uuid5_does() -> None:
    from uuid import NAMESPACE_URL, uuid5

    namespace = uuid5(NAMESPACE_URL, "https://smsledger.example/unsubscribe-link")
    for token in ("tok0000000000000", "AZaz09-_AZaz09-_"):
        assert message_id_for(token) == uuid5(namespace, token)


def test_the_page_shows_the_number_masked() -> None:
    assert mask_number("+46701234561") == "+4670•••••61"
    assert "12345" not in mask_number("+4915112345678")
    assert mask_number("+4915112345678").endswith("78")


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "https://sms.example/ü", "https://sms.example/a b", "ftp://x", ""],
)
def test_a_public_url_that_would_not_be_one_gsm7_link_is_refused(url: str) -> None:
    from pydantic import ValidationError

    from smsledger.settings import Settings

    with pytest.raises(ValidationError):
        Settings(public_url=url)


def test_the_public_url_loses_its_trailing_slash() -> None:
    from smsledger.settings import Settings

    assert Settings(public_url="https://sms.example/out/").public_url == "https://sms.example/out"


def test_shown_body_agrees_with_the_408_rule_character_by_character() -> None:
    from smsledger.domain.errors import InvalidContentError
    from smsledger.domain.segments import segment, shown_body

    specials = [0xD800, 0xDFFF, 0xFFFE, 0xFFFF, 0x2028, 0x200F, 0x1F600, 0x10FFFF]
    for code in [*range(0x3000), *specials]:
        body = f"a{chr(code)}b"
        try:
            segment(body, max_parts=10)
            legal = True
        except InvalidContentError:
            legal = False
        assert (shown_body(body) is not None) is legal, hex(code)
