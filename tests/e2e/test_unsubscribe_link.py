"""The unsubscribe link over HTTP, on both databases: the link in the body, what it costs,
the page and its opt-out, garbage tokens, forgery, probing and another account's data."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from smsledger.domain.errors import ConcurrentUpdateError
from smsledger.domain.times import utc_text
from tests.e2e.conftest import OPERATOR, Tenant, catch_up, open_tenant
from tests.e2e.test_cli import run
from tests.support import url_of

if TYPE_CHECKING:
    from pathlib import Path

    from fastapi.testclient import TestClient
    from httpx import Response

    from smsledger.adapters.storage import Database
    from smsledger.application.ledger import Ledger
    from smsledger.bootstrap import Services
    from tests.support import FakeClock

NUMBER = "+46731234567"
MASKED = "+4673•••••67"
BASE = "http://127.0.0.1:8000"  # SMSLEDGER_PUBLIC_URL's default
LINK_LENGTH = len("\n" + BASE + "/u/") + 16
_LINK = re.compile(r"\n" + re.escape(BASE) + r"/u/([A-Za-z0-9_-]{16})\Z")


def linked_tenant(
    client: TestClient, name: str = "Acme", payment_model: str = "post_invoice", top_up: int = 0
) -> Tenant:
    """An account with the unsubscribe link switched on (a subscription includes it; a
    balance account orders the add-on)."""
    tenant = open_tenant(client, name=name, payment_model=payment_model, top_up=top_up)
    if payment_model == "balance":
        r = client.post(
            f"/v1/accounts/{tenant.id}/add-ons",
            json={"kind": "unsubscribe_link"},
            headers=OPERATOR,
        )
        assert r.status_code == 201, r.text
    r = client.put(
        f"/v1/accounts/{tenant.id}/stop-service",
        json={"sms_stop": False, "unsubscribe_link": True},
        headers=OPERATOR,
    )
    assert r.status_code == 200, r.text
    return tenant


def send(client: TestClient, tenant: Tenant, body: str, *recipients: str, **kw: Any) -> Any:
    r = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": list(recipients or [NUMBER]), "body": body, **kw},
        headers=tenant.as_("sender"),
    )
    assert r.status_code == 202, r.text
    return r.json()


def token_in(body: str) -> str:
    found = _LINK.search(body)
    assert found is not None, body
    return found.group(1)


def blocklist(client: TestClient, tenant: Tenant) -> list[dict[str, Any]]:
    r = client.get(f"/v1/accounts/{tenant.id}/blocklist", headers=tenant.as_("admin"))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def confirm(client: TestClient, token: str, **headers: str) -> Response:
    r: Response = client.post(f"/u/{token}", data={"token": token}, headers=headers)
    return r


def assert_page(r: Response, status: int, *texts: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    for text in texts:
        assert text in r.text, (text, r.text)
    assert "Traceback" not in r.text
    assert NUMBER not in r.text  # only ever masked
    return r.text


def test_a_click_blocks_the_number_and_a_second_changes_nothing(
    client: TestClient, services: Services
) -> None:
    tenant = linked_tenant(client)
    receipt = send(client, tenant, "Your table is ready!", reference="r-1")
    (line,) = receipt["messages"]
    assert line["body"].startswith("Your table is ready!\n" + BASE + "/u/")
    token = token_in(line["body"])
    # GET /v1/messages/{id} shows the same final body.
    catch_up(services)
    read = client.get(f"/v1/messages/{line['id']}", headers=tenant.as_("sender")).json()
    assert read["body"] == line["body"]
    # A retry with the same reference answers the same bodies, links included.
    assert send(client, tenant, "Your table is ready!", reference="r-1") == receipt

    # The page confirms first: nothing is blocked by opening it.
    assert_page(client.get(f"/u/{token}"), 200, "Unsubscribe?", "Acme", MASKED, 'name="token"')
    assert blocklist(client, tenant) == []

    # The recipient presses the button.
    assert_page(confirm(client, token), 200, "You are unsubscribed", "Acme", MASKED)
    (entry,) = blocklist(client, tenant)
    assert (entry["msisdn"], entry["source"]) == (NUMBER, "unsubscribe_link")
    history = client.get(f"/v1/messages/{line['id']}/history", headers=tenant.as_("support")).json()
    assert [e["type"] for e in history["events"]][-1] == "UnsubscribeLinkUsed"

    # A second press, and the page again: already unsubscribed, nothing changed.
    assert_page(confirm(client, token), 200, "Already unsubscribed")
    assert_page(client.get(f"/u/{token}"), 200, "Already unsubscribed")
    assert blocklist(client, tenant) == [entry]
    history_again = client.get(
        f"/v1/messages/{line['id']}/history", headers=tenant.as_("support")
    ).json()
    assert len(history_again["events"]) == len(history["events"])

    # A later message to that number is 405, and carries no link.
    (later,) = send(client, tenant, "Another offer")["messages"]
    assert later["status"]["code"] == 405
    assert later["body"] == "Another offer"


@pytest.mark.parametrize(("alphabet", "single"), [("a", 160), ("ж", 70)], ids=["GSM-7", "UCS-2"])
def test_the_link_counts_in_segments_and_price(
    client: TestClient, alphabet: str, single: int
) -> None:
    tenant = linked_tenant(client, payment_model="balance", top_up=1000)
    fits = alphabet * (single - LINK_LENGTH)  # one segment exactly, link included
    over = fits + alphabet  # one character more: two segments
    one, two = send(client, tenant, fits)["messages"][0], send(client, tenant, over)["messages"][0]
    assert (one["segments"], one["price"]) == (1, 45)
    assert (two["segments"], two["price"]) == (2, 90)
    assert len(two["body"]) == len(over) + LINK_LENGTH
    balance = client.get(f"/v1/accounts/{tenant.id}", headers=tenant.as_("finance")).json()
    assert balance["balance"] == 1000 - 45 - 90
    # Without the link the longer body is one segment again.
    client.put(
        f"/v1/accounts/{tenant.id}/stop-service",
        json={"sms_stop": False, "unsubscribe_link": False},
        headers=OPERATOR,
    )
    plain = send(client, tenant, over)["messages"][0]
    assert (plain["segments"], plain["price"], plain["body"]) == (1, 45, over)


def test_rejected_recipients_get_no_link_and_links_are_off_without_the_service(
    client: TestClient,
) -> None:
    tenant = linked_tenant(client)
    r = client.post(
        f"/v1/accounts/{tenant.id}/blocklist",
        json={"msisdn": "+46731234568"},
        headers=tenant.as_("admin"),
    )
    assert r.status_code in (200, 201), r.text
    lines = send(client, tenant, "Hi", "+46731234568", "12", NUMBER, "+46731234569")["messages"]
    blocked, invalid, first, second = lines
    assert [m["status"]["code"] for m in lines] == [405, 409, 103, 103]
    assert blocked["body"] == invalid["body"] == "Hi"
    assert (blocked["segments"], invalid["segments"]) == (1, 1)
    assert token_in(first["body"]) != token_in(second["body"])  # one token each
    plain = open_tenant(client, name="Plain", payment_model="post_invoice")
    (line,) = send(client, plain, "Hi")["messages"]
    assert line["body"] == "Hi"


def test_a_click_before_the_read_models_caught_up_works(client: TestClient) -> None:
    # No catch_up: the link is found in the event store by the id its token names.
    tenant = linked_tenant(client)
    token = token_in(send(client, tenant, "Hi")["messages"][0]["body"])
    assert_page(client.get(f"/u/{token}"), 200, "Unsubscribe?")
    assert_page(confirm(client, token), 200, "You are unsubscribed")
    assert [e["source"] for e in blocklist(client, tenant)] == ["unsubscribe_link"]


@pytest.mark.parametrize(
    "path",
    [
        "/u/AAAAAAAAAAAAAAAA",  # well formed, nobody's
        "/u/short",
        "/u/" + "A" * 5000,
        "/u/",
        "/u",
        "/u/AAAAAAAA/AAAAAAA",
        "/u/AAAAAAAAAAAAAAA%00",
        "/u/%E2%80%AEAAAAAAAAAAAAAA",
        "/u/..%2F..%2Fetc",
    ],
)
def test_unknown_or_garbage_tokens_get_a_friendly_404_page(client: TestClient, path: str) -> None:
    assert_page(client.get(path), 404, "This link does not work")
    assert_page(client.post(path, data={"token": path[3:]}), 404, "This link does not work")


def test_forged_posts_change_nothing(client: TestClient) -> None:
    tenant = linked_tenant(client)
    token = token_in(send(client, tenant, "Hi")["messages"][0]["body"])
    assert_page(confirm(client, token, origin="https://evil.example"), 403)
    assert_page(confirm(client, token, **{"sec-fetch-site": "cross-site"}), 403)
    assert_page(client.post(f"/u/{token}"), 400)  # not from the form: no token in the body
    assert_page(client.post(f"/u/{token}", data={"token": "B" * 16}), 400)
    assert blocklist(client, tenant) == []
    # The form itself, as a browser sends it from the page: works.
    headers = {"origin": "http://testserver", "sec-fetch-site": "same-origin"}
    assert_page(confirm(client, token, **headers), 200, "You are unsubscribed")
    assert len(blocklist(client, tenant)) == 1


def test_probing_unknown_tokens_is_answered_429_after_twenty_a_minute(
    client: TestClient,
) -> None:
    tenant = linked_tenant(client)
    token = token_in(send(client, tenant, "Hi")["messages"][0]["body"])
    for n in range(20):
        assert_page(client.get(f"/u/AAAAAAAAAAAAA{n:03d}"), 404)
    r = client.get(f"/u/{token}")  # even a real one, until the minute is over
    assert_page(r, 429, "Too many attempts")
    assert r.headers["retry-after"] == "60"
    assert_page(confirm(client, token), 429)
    assert blocklist(client, tenant) == []


def test_the_page_shows_nothing_of_another_account(client: TestClient) -> None:
    acme = linked_tenant(client, name="Acme")
    globex = linked_tenant(client, name="Globex")
    acme_token = token_in(send(client, acme, "Hi")["messages"][0]["body"])
    globex_token = token_in(send(client, globex, "Hi")["messages"][0]["body"])
    page = assert_page(client.get(f"/u/{acme_token}"), 200, "Acme")
    assert "Globex" not in page
    assert acme.id not in page
    assert globex.id not in page
    # Acme's link blocks the number on Acme's list alone.
    assert_page(confirm(client, acme_token), 200, "You are unsubscribed")
    assert len(blocklist(client, acme)) == 1
    assert blocklist(client, globex) == []
    assert send(client, globex, "Still welcome")["messages"][0]["status"]["code"] == 103
    assert_page(client.get(f"/u/{globex_token}"), 200, "Unsubscribe?", "Globex")


def test_history_of_the_number_says_which_messages_link_blocked_it(
    ledger: Ledger, database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    # The recipient opts out through the link of Acme's message, then support asks.
    account = ledger.open_account("Acme", payment_model="post_invoice").value.id
    ledger.set_stop_service(account, sms_stop=False, unsubscribe_link=True)
    receipt = ledger.send_batch(account, sender="Acme", recipients=[NUMBER], body="Hi")
    message_id = receipt.lines[0]["id"]
    token = token_in(receipt.bodies[0] or "")
    clicked = clock.advance(hours=3)
    ledger.unsubscribe(token)
    done = run(["history", NUMBER], url_of(database), tmp_path)
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)["accounts"]
    assert entry["account_id"] == str(account)
    assert entry["blocked"] is True
    (event,) = entry["events"]
    assert (event["change"], event["source"], event["message_id"]) == (
        "blocked",
        "unsubscribe_link",
        message_id,
    )
    assert event["why"] == (
        f"blocked by the unsubscribe link of message {message_id} at {utc_text(clicked)}"
    )


def test_a_look_changes_nothing_and_the_token_never_reaches_the_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = linked_tenant(client)
    token = token_in(send(client, tenant, "Hi")["messages"][0]["body"])
    with caplog.at_level(logging.INFO):
        assert client.head(f"/u/{token}").status_code == 200  # a link preview
        assert client.get(f"/u/{token}").status_code == 200
        assert_page(confirm(client, token), 200, "You are unsubscribed")
    assert blocklist(client, tenant)[0]["source"] == "unsubscribe_link"
    ours = [r for r in caplog.records if r.name.startswith("smsledger")]  # not httpx's
    assert [getattr(r, "path", None) for r in ours].count("/u/<token>") == 3
    assert all(token not in f"{r.getMessage()} {vars(r)}" for r in ours)


@pytest.mark.parametrize(
    "failure",
    [
        psycopg.OperationalError("connection refused"),
        sqlite3.OperationalError("database is locked"),
        ConcurrentUpdateError("too many concurrent changes to the same account; try again"),
    ],
    ids=["postgres down", "sqlite locked", "turn timed out"],
)
def test_a_database_that_cannot_answer_is_a_try_again_page_and_nothing_changes(
    client: TestClient,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
) -> None:
    tenant = linked_tenant(client)
    token = token_in(send(client, tenant, "Hi")["messages"][0]["body"])

    def fail(token: str) -> None:
        raise failure

    monkeypatch.setattr(services.ledger, "unsubscribe_link", fail)
    monkeypatch.setattr(services.ledger, "unsubscribe", fail)
    for r in (client.get(f"/u/{token}"), confirm(client, token)):
        assert_page(r, 503, "Please try again in a moment")
        assert r.headers["retry-after"] == "2"
    monkeypatch.undo()
    assert blocklist(client, tenant) == []
    assert_page(client.get(f"/u/{token}"), 200, "Unsubscribe?")  # and afterwards it works
