"""The rules of a webhook (``domain.webhooks``) and the sender's target check."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from smsledger.adapters.webhooks import HttpCallbackSender, TargetRefusedError, sign
from smsledger.domain.account import Account
from smsledger.domain.errors import InvalidRequestError
from smsledger.domain.webhooks import (
    MAX_RETRY_GAP,
    address_refusal,
    check_webhook_url,
    derive_secret,
    event_id_for,
    next_attempt,
    outcome_of,
    webhook_id_for,
)

ACCOUNT = UUID("00000000-0000-4000-8000-000000000001")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_a_secret_is_a_standard_webhooks_secret_fixed_by_key_and_nonce() -> None:
    secret = derive_secret(b"k" * 32, ACCOUNT, "nonce-1")
    assert secret.startswith("whsec_")
    assert secret == derive_secret(b"k" * 32, ACCOUNT, "nonce-1")
    assert secret != derive_secret(b"k" * 32, ACCOUNT, "nonce-2")
    assert secret != derive_secret(b"other-key" * 4, ACCOUNT, "nonce-1")
    Webhook(secret)  # the library takes it as it is


def test_a_signature_per_secret_each_verifies_alone() -> None:
    old, new = derive_secret(b"k" * 32, ACCOUNT, "a"), derive_secret(b"k" * 32, ACCOUNT, "b")
    now = datetime.now(UTC)
    header = sign([new, old], "msg_1", now, b'{"x": 1}')
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": header,
    }
    assert len(header.split()) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(b'{"x": 1}', headers) == {"x": 1}


def test_one_webhook_id_per_change_stable_across_retries() -> None:
    mid = UUID("00000000-0000-4000-8000-000000000002")
    assert webhook_id_for(event_id_for(mid, 3)) == webhook_id_for(event_id_for(mid, 3))
    assert webhook_id_for(event_id_for(mid, 3)) != webhook_id_for(event_id_for(mid, 4))
    assert webhook_id_for(event_id_for(mid, 3)).startswith("msg_")


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (200, "done"),
        (204, "done"),
        (299, "done"),
        (410, "disable"),
        (404, "retry"),
        (429, "retry"),
        (500, "retry"),
        (301, "retry"),
        (None, "retry"),
    ],
)
def test_what_an_answer_means(code: int | None, outcome: str) -> None:
    assert outcome_of(code) == outcome


@given(st.integers(min_value=1, max_value=10_000), st.floats(min_value=0, max_value=1))
def test_retries_back_off_exponentially_with_jitter_and_a_cap(attempts: int, jitter: float) -> None:
    gap = next_attempt(attempts, jitter)
    full = min(timedelta(seconds=5) * 2 ** min(attempts - 1, 20), MAX_RETRY_GAP)
    assert full / 2 <= gap <= full
    assert next_attempt(attempts + 1, jitter) >= gap


def test_the_gaps_double_until_an_hour() -> None:
    gaps = [next_attempt(n, 1.0).total_seconds() for n in range(1, 14)]
    assert gaps[:5] == [5, 10, 20, 40, 80]
    assert gaps[-1] == 3600


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "169.254.0.1", "fd00:ec2::254", "fe80::1", "::ffff:169.254.1.1"]
)
def test_link_local_and_metadata_addresses_are_always_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert address_refusal(ip, allow_private=True) is not None
    assert address_refusal(ip, allow_private=False) is not None


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.8", "172.16.3.4", "192.168.0.2", "::1", "100.64.0.1", "fc00::1"],
)
def test_private_and_loopback_addresses_need_the_setting(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert address_refusal(ip, allow_private=False) is not None
    assert address_refusal(ip, allow_private=True) is None


def test_a_public_address_is_a_target() -> None:
    assert address_refusal(ipaddress.ip_address("93.184.216.34"), allow_private=False) is None


def test_a_url_keeps_its_text_and_refuses_what_a_callback_cannot_go_to() -> None:
    assert check_webhook_url("https://hooks.example.com/x?y=1", allow_private=False) == (
        "https://hooks.example.com/x?y=1"
    )
    for bad in ("javascript:alert(1)", "https://u:p@example.com/", "http://[::1", 5, None):
        with pytest.raises(InvalidRequestError):
            check_webhook_url(bad, allow_private=True)


def test_a_name_that_resolves_to_a_refused_address_is_refused_at_delivery() -> None:
    # DNS rebinding: the name looked fine when configured; what it resolves to now counts.
    sender = HttpCallbackSender(
        allow_private=False, timeout=1, resolve=lambda host, port: ["93.184.216.34", "10.0.0.1"]
    )
    with pytest.raises(TargetRefusedError, match="private"):
        sender.target("https://hooks.example.com/x")
    metadata = HttpCallbackSender(
        allow_private=True, timeout=1, resolve=lambda host, port: ["169.254.169.254"]
    )
    answer = metadata.send("http://hooks.example.com/x", "msg_1", b"{}", ["whsec_AAAA"])
    assert answer.status_code is None
    assert answer.error is not None
    assert "link-local" in answer.error


def test_the_service_never_calls_itself() -> None:
    sender = HttpCallbackSender(allow_private=True, timeout=1)
    sender.add_own("127.0.0.1", 8000)
    with pytest.raises(TargetRefusedError, match="itself"):
        sender.target("http://127.0.0.1:8000/v1/messages")
    sender.add_own("0.0.0.0", 9000)
    with pytest.raises(TargetRefusedError, match="itself"):
        sender.target("http://10.0.0.5:9000/")
    assert sender.target("http://127.0.0.1:8001/")[3] == "127.0.0.1"


def test_a_rotation_keeps_the_old_secret_signing_for_24_hours() -> None:
    account = Account(
        name="Acme", payment_model="balance", currency="SEK", timezone="UTC", timestamp=T0
    )
    account.configure_webhook(
        "https://a.example/h", ["message.status"], "n1", T0, allow_private=False
    )
    assert account.signing_nonces(T0) == ["n1"]
    account.configure_webhook(
        "https://a.example/h",
        ["message.status"],
        "n2",
        T0 + timedelta(hours=1),
        allow_private=False,
    )
    assert account.signing_nonces(T0 + timedelta(hours=2)) == ["n2", "n1"]
    assert account.signing_nonces(T0 + timedelta(hours=25, seconds=1)) == ["n2"]
    assert account.remove_webhook(T0 + timedelta(hours=26))
    assert account.signing_nonces(T0 + timedelta(hours=26)) == []
    assert not account.remove_webhook(T0 + timedelta(hours=27))
