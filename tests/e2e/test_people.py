"""People over HTTP, on both databases, with a real SMTP server: invite → mail → set the
password (rule errors) → log in → act in the role → disabled → 401; resets that never
tell whether an address exists; the failed-login throttle; tenant isolation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from smsledger.api.main import create_app
from smsledger.bootstrap import Services, build
from smsledger.settings import Settings
from tests.e2e.conftest import OPERATOR, OPERATOR_TOKEN, bearer, open_tenant, problem_of
from tests.smtp import Inbox, smtp_server

if TYPE_CHECKING:
    from smsledger.adapters.storage import Database
    from tests.support import FakeClock

GOOD = "Correct horse 9 battery"
ADA = "ada@example.com"


@pytest.fixture
def mail() -> Iterator[tuple[Inbox, str]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def people(
    database: Database, clock: FakeClock, mail: tuple[Inbox, str]
) -> Iterator[tuple[TestClient, Services, Inbox]]:
    inbox, url = mail
    settings = Settings(
        operator_token=OPERATOR_TOKEN,
        gateway="none",
        workers="none",
        smtp_url=url,
        public_url="https://ledger.example",
    )
    services = build(settings, database=database, clock=clock)
    try:
        with TestClient(create_app(services)) as client:
            yield client, services, inbox
    finally:
        services.close()


def deliver(services: Services) -> int:
    """What the mailer worker does in ``serve``: send what is due, through SMTP."""
    return services.mailer.run_once()


def test_invite_set_password_log_in_act_and_be_disabled(
    people: tuple[TestClient, Services, Inbox],
) -> None:
    client, services, inbox = people
    tenant = open_tenant(client, top_up=10_000)
    users = f"/v1/accounts/{tenant.id}/users"
    # The admin invites Ada as a sender; the mail goes out through SMTP with her link.
    r = client.post(
        users,
        json={"email": "Ada@Example.com", "name": "Ada L", "role": "sender"},
        headers=tenant.as_("admin"),
    )
    assert r.status_code == 201, r.text
    ada = r.json()
    assert (ada["email"], ada["role"], ada["state"]) == (ADA, "sender", "invited")
    assert deliver(services) == 1
    assert deliver(services) == 0  # sent once
    (invitation,) = inbox.to(ADA)
    assert "Acme" in invitation["Subject"]
    token = inbox.token_for(ADA)
    assert "https://ledger.example/password?token=" in invitation.get_content()
    # The link opens a page with a form; no referrer, never cached.
    page = client.get(f"/password?token={token}")
    assert page.status_code == 200
    assert '<form method="post" action="/password">' in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    # Each broken rule is named, and the link keeps working.
    for weak, rule in (
        ("Short1A", "at least 10 characters"),
        ("nocapitals12", "at least one capital letter"),
        ("NoDigitsHere", "at least one digit"),
    ):
        r = client.post("/v1/passwords", json={"token": token, "password": weak})
        assert r.status_code == 422, r.text
        assert rule in problem_of(r)["detail"]
        assert r.json()["errors"][0]["loc"] == ["body", "password"]
    r = client.post("/v1/passwords", json={"token": token, "password": GOOD})
    assert r.status_code == 204, r.text
    # Once only.
    again = client.post("/v1/passwords", json={"token": token, "password": GOOD})
    assert again.status_code == 401
    # Log in: a wrong password and an unknown address read the same.
    wrong = client.post("/v1/sessions", json={"email": ADA, "password": "Wrong pass 1"})
    unknown = client.post("/v1/sessions", json={"email": "nobody@example.com", "password": GOOD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    r = client.post("/v1/sessions", json={"email": "ADA@example.com", "password": GOOD})
    assert r.status_code == 201, r.text
    session = r.json()
    assert session["role"] == "sender"
    assert session["account_id"] == tenant.id
    assert session["token"].startswith("ss_")
    as_ada = bearer(session["token"])
    # She acts as a sender of her account, and only that.
    sent = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": ["+46701234567"], "body": "hi"},
        headers=as_ada,
    )
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["messages"][0]["id"]
    services.runner.catch_up()
    assert client.get(f"/v1/messages/{message_id}", headers=as_ada).status_code == 200
    assert client.get(f"/v1/accounts/{tenant.id}/ledger", headers=as_ada).status_code == 403
    assert client.get(users, headers=as_ada).status_code == 403
    # The list shows her active, without any password.
    services.runner.catch_up()
    listed = client.get(users, headers=tenant.as_("admin")).json()["items"]
    assert [(u["email"], u["state"]) for u in listed] == [(ADA, "active")]
    assert "argon2" not in client.get(users, headers=OPERATOR).text
    # Disabled: her session stops at once, and she cannot log in again.
    r = client.delete(f"{users}/{ada['id']}", headers=tenant.as_("admin"))
    assert r.json()["state"] == "disabled"
    assert client.get(f"/v1/messages/{message_id}", headers=as_ada).status_code == 401
    r = client.post("/v1/sessions", json={"email": ADA, "password": GOOD})
    assert r.status_code == 401


def test_a_role_change_ends_the_sessions_and_logging_out_ends_one(
    people: tuple[TestClient, Services, Inbox],
) -> None:
    client, services, inbox = people
    tenant = open_tenant(client)
    users = f"/v1/accounts/{tenant.id}/users"
    user = client.post(
        users, json={"email": ADA, "name": "Ada", "role": "support"}, headers=OPERATOR
    ).json()
    deliver(services)
    client.post("/v1/passwords", json={"token": inbox.token_for(ADA), "password": GOOD})
    first = bearer(
        client.post("/v1/sessions", json={"email": ADA, "password": GOOD}).json()["token"]
    )
    second = bearer(
        client.post("/v1/sessions", json={"email": ADA, "password": GOOD}).json()["token"]
    )
    assert client.delete("/v1/sessions/current", headers=first).status_code == 204
    assert client.get(f"/v1/accounts/{tenant.id}", headers=first).status_code == 401
    assert client.get(f"/v1/accounts/{tenant.id}", headers=second).status_code == 200
    r = client.patch(f"{users}/{user['id']}", json={"role": "finance"}, headers=tenant.as_("admin"))
    assert r.json()["role"] == "finance"
    assert client.get(f"/v1/accounts/{tenant.id}", headers=second).status_code == 401
    r = client.post("/v1/sessions", json={"email": ADA, "password": GOOD})
    assert r.json()["role"] == "finance"


def test_a_reset_never_tells_whether_an_address_exists(
    people: tuple[TestClient, Services, Inbox], clock: FakeClock
) -> None:
    client, services, inbox = people
    tenant = open_tenant(client)
    client.post(
        f"/v1/accounts/{tenant.id}/users",
        json={"email": ADA, "name": "Ada", "role": "admin"},
        headers=OPERATOR,
    )
    deliver(services)
    client.post("/v1/passwords", json={"token": inbox.token_for(ADA), "password": GOOD})
    known = client.post("/v1/password-resets", json={"email": ADA})
    unknown = client.post("/v1/password-resets", json={"email": "eve@example.com"})
    malformed = client.post("/v1/password-resets", json={"email": "not an address"})
    assert known.status_code == unknown.status_code == malformed.status_code == 202
    assert known.content == unknown.content == malformed.content == b""
    # A second request within a minute sends no second mail.
    client.post("/v1/password-resets", json={"email": ADA})
    deliver(services)
    assert len(inbox.to(ADA)) == 2  # the invitation and one reset
    assert inbox.to("eve@example.com") == []
    new = "Another 7 password"
    assert (
        client.post(
            "/v1/passwords", json={"token": inbox.token_for(ADA), "password": new}
        ).status_code
        == 204
    )
    assert client.post("/v1/sessions", json={"email": ADA, "password": GOOD}).status_code == 401
    assert client.post("/v1/sessions", json={"email": ADA, "password": new}).status_code == 201
    # An expired link (2 hours) is refused.
    clock.advance(minutes=2)
    client.post("/v1/password-resets", json={"email": ADA})
    deliver(services)
    clock.advance(hours=2, seconds=1)
    r = client.post("/v1/passwords", json={"token": inbox.token_for(ADA), "password": GOOD})
    assert r.status_code == 401


def test_failed_logins_are_throttled_per_address(
    people: tuple[TestClient, Services, Inbox], clock: FakeClock
) -> None:
    client, services, inbox = people
    tenant = open_tenant(client)
    client.post(
        f"/v1/accounts/{tenant.id}/users",
        json={"email": ADA, "name": "Ada", "role": "admin"},
        headers=OPERATOR,
    )
    deliver(services)
    client.post("/v1/passwords", json={"token": inbox.token_for(ADA), "password": GOOD})
    for _ in range(5):
        assert (
            client.post("/v1/sessions", json={"email": ADA, "password": "Wrong pass 1"}).status_code
            == 401
        )
    # Now even the right password waits, and says how long.
    r = client.post("/v1/sessions", json={"email": ADA, "password": GOOD})
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 15 * 60
    problem_of(r)
    clock.advance(minutes=15, seconds=1)
    assert client.post("/v1/sessions", json={"email": ADA, "password": GOOD}).status_code == 201


def test_users_are_their_accounts_own(people: tuple[TestClient, Services, Inbox]) -> None:
    client, services, _inbox = people
    victim = open_tenant(client, name="Victim")
    attacker = open_tenant(client, name="Attacker")
    users = f"/v1/accounts/{victim.id}/users"
    user = client.post(
        users, json={"email": ADA, "name": "Ada", "role": "admin"}, headers=victim.as_("admin")
    ).json()
    services.runner.catch_up()
    one = f"{users}/{user['id']}"
    for method, url, body in (
        ("GET", users, None),
        ("POST", users, {"email": "x@example.com", "name": "X", "role": "admin"}),
        ("GET", one, None),
        ("PATCH", one, {"role": "finance"}),
        ("DELETE", one, None),
        ("POST", f"{one}/invitation", None),
    ):
        r = client.request(method, url, json=body, headers=attacker.as_("admin"))
        assert r.status_code == 404, (method, url, r.text)
        assert ADA not in r.text
        for role in ("sender", "support", "finance"):
            r = client.request(method, url, json=body, headers=victim.as_(role))
            assert r.status_code == 403, (role, method, url)
    # Inviting an address that is already someone's (of any account) is 409.
    r = client.post(
        f"/v1/accounts/{attacker.id}/users",
        json={"email": ADA, "name": "Ada", "role": "admin"},
        headers=attacker.as_("admin"),
    )
    assert r.status_code == 409
    assert client.get(one, headers=victim.as_("admin")).json()["state"] == "invited"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-address", "name": "A", "role": "admin"},
        {"email": ADA, "name": "", "role": "admin"},
        {"email": ADA, "name": "A\u0000B", "role": "admin"},
        {"email": ADA, "name": "A", "role": "operator"},
        {"email": ADA, "name": "A", "role": "admin", "password": "x"},
    ],
)
def test_a_bad_invitation_is_422_and_invites_nobody(
    people: tuple[TestClient, Services, Inbox], body: dict[str, str]
) -> None:
    client, services, inbox = people
    tenant = open_tenant(client)
    r = client.post(f"/v1/accounts/{tenant.id}/users", json=body, headers=OPERATOR)
    assert r.status_code == 422, r.text
    problem_of(r)
    assert deliver(services) == 0
    assert inbox.mails == []


def test_a_paused_callback_endpoint_is_mailed_to_the_accounts_active_admins(
    people: tuple[TestClient, Services, Inbox],
) -> None:
    from uuid import UUID

    from smsledger.bootstrap import tell_admins_of_pause

    client, services, inbox = people
    tenant = open_tenant(client)
    users = f"/v1/accounts/{tenant.id}/users"
    for email, role in (
        (ADA, "admin"),
        ("bob@example.com", "admin"),
        ("cy@example.com", "support"),
    ):
        client.post(users, json={"email": email, "name": "N", "role": role}, headers=OPERATOR)
    deliver(services)
    for email in (ADA, "cy@example.com"):  # Bob never sets a password: not active
        r = client.post("/v1/passwords", json={"token": inbox.token_for(email), "password": GOOD})
        assert r.status_code == 204
    services.runner.catch_up()
    # What the callback worker calls once an endpoint has failed for 24 hours.
    tell_admins_of_pause(
        services, UUID(tenant.id), "https://hooks.example/x", "a callback kept failing"
    )
    assert deliver(services) == 1
    (mail,) = [m for m in inbox.to(ADA) if m["Subject"] == "Status callbacks paused"]
    assert "https://hooks.example/x" in mail.get_content()
    assert [m["Subject"] for m in inbox.to("cy@example.com")] == [
        "You are invited to Acme on smsledger"
    ]
