"""The console over HTTP on both databases: logging in (a user, a key), the session
cookie, CSRF, roles, another account's ids, the message timeline with "as of", and the
money pages with their CSV downloads."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from smsledger.api.console import support
from smsledger.api.main import create_app
from smsledger.bootstrap import Services, build
from smsledger.domain.times import utc_text
from smsledger.settings import Settings
from tests.e2e.conftest import OPERATOR, OPERATOR_TOKEN, bearer, catch_up, open_tenant
from tests.webhook_receiver import receiving

if TYPE_CHECKING:
    from smsledger.adapters.storage import Database
    from tests.e2e.conftest import Tenant
    from tests.support import FakeClock

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = "Correct horse 9 battery"


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html
    return found.group(1)


def log_in(client: TestClient, **fields: str) -> None:
    """Through the login form, as a browser does: GET it, POST it with its token."""
    client.cookies.clear()
    form = client.get("/console/login")
    assert form.status_code == 200
    r = client.post(
        "/console/login",
        data={"csrf": csrf_of(form.text), "next": "/console", **fields},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    cookie = r.headers["set-cookie"]
    assert "smsledger_console=ss_" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    assert "Path=/console" in cookie


def send(client: TestClient, tenant: Tenant, recipients: list[str], reference: str) -> list[str]:
    r = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": recipients, "body": "Hi", "reference": reference},
        headers=tenant.as_("sender"),
    )
    assert r.status_code == 202, r.text
    return [m["id"] for m in r.json()["messages"]]


def test_a_key_logs_in_and_the_cookie_holds_only_a_session(
    client: TestClient, services: Services
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    log_in(client, key=tenant.keys["support"])
    token = client.cookies.get("smsledger_console")
    assert token is not None
    assert token.startswith("ss_")
    assert tenant.keys["support"] not in token
    r = client.get("/console", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/console/messages")
    page = client.get("/console/messages")
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    # Support sees messages, not money.
    assert client.get(f"/console/accounts/{tenant.id}").status_code == 403
    # Revoking the key ends its console session at once.
    r = client.delete(
        f"/v1/accounts/{tenant.id}/keys/{tenant.key_ids['support']}", headers=tenant.as_("admin")
    )
    assert r.status_code == 204
    r = client.get("/console/messages", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console/login")


def test_a_user_logs_in_with_a_password_and_logs_out(
    client: TestClient, services: Services, clock: FakeClock
) -> None:
    tenant = open_tenant(client)
    r = client.post(
        f"/v1/accounts/{tenant.id}/users",
        json={"email": "fin@example.com", "name": "Fin", "role": "finance"},
        headers=tenant.as_("admin"),
    )
    assert r.status_code == 201
    link = services.sessions.issue_link(
        services.ledger.find_user("fin@example.com").id,  # type: ignore[union-attr]
        "invite",
        clock(),
        timedelta(hours=1),
    )
    services.people.set_password(link, PASSWORD)
    # A wrong password is the login page again, 401, and no cookie.
    form = client.get("/console/login")
    r = client.post(
        "/console/login",
        data={"csrf": csrf_of(form.text), "email": "fin@example.com", "password": "nope"},
        follow_redirects=False,
    )
    assert r.status_code == 401
    assert "wrong email or password" in r.text
    assert "smsledger_console=" not in r.headers.get("set-cookie", "")
    log_in(client, email="fin@example.com", password=PASSWORD)
    home = client.get("/console")
    assert home.status_code == 200
    assert "Balance now" in home.text
    assert client.get("/console/messages").status_code == 403  # finance: no timelines
    # Logging out needs the form's token; then the session is over.
    assert client.post("/console/logout", data={}).status_code == 403
    assert client.get("/console").status_code == 200
    r = client.post("/console/logout", data={"csrf": csrf_of(home.text)}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/console/login")
    r = client.get("/console", follow_redirects=False)
    assert r.status_code == 303


def test_forms_without_their_csrf_token_are_rejected(client: TestClient) -> None:
    tenant = open_tenant(client)
    # The login form needs the token bound to the browser's pre-login cookie.
    client.cookies.clear()
    r = client.post("/console/login", data={"key": tenant.keys["admin"]}, follow_redirects=False)
    assert r.status_code == 403
    client.get("/console/login")
    r = client.post(
        "/console/login",
        data={"key": tenant.keys["admin"], "csrf": "0" * 64},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert "smsledger_console=" not in r.headers.get("set-cookie", "")
    # A token of another session does not open this one's forms.
    log_in(client, key=tenant.keys["admin"])
    mine = csrf_of(client.get(f"/console/accounts/{tenant.id}").text)
    log_in(client, key=tenant.keys["admin"])
    assert client.post("/console/logout", data={"csrf": mine}).status_code == 403


def test_another_accounts_ids_are_404_as_unknown_ones(client: TestClient) -> None:
    ours = open_tenant(client, "Ours", top_up=10_000)
    theirs = open_tenant(client, "Theirs", top_up=10_000)
    (their_message,) = send(client, theirs, ["+46731234567"], "theirs-1")
    log_in(client, key=ours.keys["admin"])
    for url in (
        f"/console/messages/{their_message}",
        f"/console/accounts/{theirs.id}",
        f"/console/accounts/{theirs.id}/ledger.csv",
        f"/console/accounts/{theirs.id}/invoices",
        f"/console/accounts/{theirs.id}/invoices/2026-11",
        f"/console/accounts/{theirs.id}/invoices/2026-11.csv",
        f"/console/accounts/{theirs.id}/reconciliation",
        f"/console/accounts/{theirs.id}/reconciliation.csv",
        f"/console/accounts/{theirs.id}/webhook/deliveries",
        f"/console/accounts/{theirs.id}/inbound",
        "/console/messages/00000000-0000-4000-8000-000000000000",
    ):
        r = client.get(url)
        assert r.status_code == 404, url
        assert "Theirs" not in r.text
    # Their batch reference finds nothing of ours.
    assert client.get("/console/messages", params={"q": "theirs-1"}).status_code == 404
    # A script that asks for JSON gets the API's problem document for the same 404.
    r = client.get(f"/console/messages/{their_message}", headers={"Accept": "application/json"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 404
    # Bad input is a 422 page, never a 500.
    for url in (
        f"/console/accounts/{ours.id}?period=2026-13",
        f"/console/messages/{their_message}?as_of=yesterday",
        "/console/messages/not-a-uuid",
        f"/console/accounts/{ours.id}/invoices/2026-11/messages?line=nope",
        "/console/messages?q=%00",
    ):
        assert client.get(url).status_code == 422, url


def test_the_timeline_shows_every_event_and_the_message_as_of_a_moment(
    client: TestClient, services: Services, clock: FakeClock
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    (message,) = send(client, tenant, ["+46731234567"], "timeline-1")
    funded_at = clock()
    clock.advance(minutes=1)
    reports = [
        {"message_id": message, "status_code": 201, "at": "2026-11-02T09:01:00Z"},
        {"message_id": message, "status_code": 502, "at": "2026-11-02T09:00:30Z"},  # late
    ]
    r = client.post("/v1/delivery-reports", json={"reports": reports}, headers=OPERATOR)
    assert [x["outcome"] for x in r.json()["results"]] == ["applied", "superseded"]
    catch_up(services)
    log_in(client, key=tenant.keys["support"])
    # Found by id, by recipient and by the batch's reference.
    r = client.get("/console/messages", params={"q": message}, follow_redirects=False)
    assert r.headers["location"] == f"/console/messages/{message}"
    r = client.get("/console/messages", params={"q": "46731234567"}, follow_redirects=False)
    assert r.headers["location"] == "/console/recipients/+46731234567"
    recipient = client.get(r.headers["location"])
    assert message in recipient.text
    assert "is not on the block list" in recipient.text
    # Blocked and unblocked by the admin: the page says when, and that it was by hand.
    blocklist = f"/v1/accounts/{tenant.id}/blocklist"
    client.post(blocklist, json={"msisdn": "+46731234567"}, headers=tenant.as_("admin"))
    catch_up(services)
    blocked = client.get("/console/recipients/+46731234567").text
    assert "<strong>Blocked</strong> since" in blocked
    client.delete(f"{blocklist}/+46731234567", headers=tenant.as_("admin"))
    catch_up(services)
    history = client.get("/console/recipients/+46731234567").text
    assert "is not on the block list" in history
    changes = re.findall(r"<td>(blocked|unblocked)</td><td>(\w*)</td>", history)
    assert changes == [("blocked", "manual"), ("unblocked", "")]
    r = client.get("/console/messages", params={"q": "timeline-1"}, follow_redirects=False)
    batch = client.get(r.headers["location"])
    assert batch.status_code == 200
    assert message in batch.text
    # Every event, in order, the superseded report marked with its raw payload.
    page = client.get(f"/console/messages/{message}")
    assert page.status_code == 200
    kinds = re.findall(r"<td class=\"event\">(\w+)", page.text)
    assert kinds[:2] == ["Accepted", "Funded"]
    assert "ReportSuperseded" in kinds
    assert page.text.count('class="tag superseded"') == 1
    assert "201 DeliveredToHandset" in page.text
    assert "2026-11-02T09:00:30Z" in page.text  # the late report's carrier time
    # As of the funding, the message was Funded and the reports were still to come.
    then = client.get(f"/console/messages/{message}", params={"as_of": funded_at.isoformat()})
    assert then.status_code == 200
    status_then = re.search(r'id="status-then">(.*?)</p>', then.text, re.S)
    assert status_then is not None
    assert "103 Funded" in status_then.group(1)
    assert then.text.count('class="muted later') == 2
    before = client.get(
        f"/console/messages/{message}", params={"as_of": "2026-11-01T00:00:00Z"}
    ).text
    assert "not yet accepted" in before


def test_money_pages_show_the_locale_and_the_csvs_add_up(
    client: TestClient, services: Services, clock: FakeClock
) -> None:
    tenant = open_tenant(client, top_up=421_350)
    client.post(
        f"/v1/accounts/{tenant.id}/top-ups",
        json={"amount": 100, "reference": "=HYPERLINK(1)"},
        headers=OPERATOR,
    )
    send(client, tenant, ["+46731234567", "+46731234568"], "money-1")
    client.put(
        f"/v1/accounts/{tenant.id}/payment-model",
        json={"payment_model": "post_invoice"},
        headers=tenant.as_("admin"),
    )
    invoiced = send(client, tenant, ["+46731234567", "+4915112345678"], "money-2")
    catch_up(services)
    log_in(client, key=tenant.keys["finance"])
    page = client.get(f"/console/accounts/{tenant.id}")
    assert page.status_code == 200
    balance = services.ledger.get_account(UUID(tenant.id)).balance
    whole, cents = divmod(balance, 100)
    assert f"{whole // 1000}\xa0{whole % 1000:03d},{cents:02d}\xa0kr" in page.text
    assert "<svg" in page.text
    assert 'class="kind-top_up"' in page.text
    assert 'class="kind-charge"' in page.text
    # The ledger CSV: every movement, a reference that looks like a formula defused.
    ledger = list(
        csv.DictReader(io.StringIO(client.get(f"/console/accounts/{tenant.id}/ledger.csv").text))
    )
    assert [e["kind"] for e in ledger] == ["top_up", "top_up", "charge", "charge"]
    assert ledger[1]["reference"] == "'=HYPERLINK(1)"
    assert int(ledger[-1]["balance_after"]) == balance
    assert sum(int(e["amount"]) for e in ledger) == balance
    # The invoice: its lines drill down to their messages, each to its timeline.
    period = clock().strftime("%Y-%m")
    invoice = client.get(f"/console/accounts/{tenant.id}/invoices/{period}")
    assert invoice.status_code == 200
    links = re.findall(r'href="([^"]+/messages\?line=[^"]+)"', invoice.text)
    assert len(links) == 2  # Sweden and Germany
    found: set[str] = set()
    for link in links:
        line = client.get(link.replace("&amp;", "&"))
        assert line.status_code == 200
        found |= {m for m in invoiced if f'href="/console/messages/{m}"' in line.text}
    assert found == set(invoiced)
    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/console/accounts/{tenant.id}/invoices/{period}.csv").text)
        )
    )
    assert rows[-1]["kind"] == "total"
    assert sum(int(r["amount"]) for r in rows[:-1]) == int(rows[-1]["amount"]) > 0
    # The reconciliation: its figures add up and nothing is flagged.
    recon = client.get(f"/console/accounts/{tenant.id}/reconciliation", params={"period": period})
    assert "Everything adds up." in recon.text
    figures = {
        r["name"]: int(r["value"])
        for r in csv.DictReader(
            io.StringIO(
                client.get(
                    f"/console/accounts/{tenant.id}/reconciliation.csv", params={"period": period}
                ).text
            )
        )
        if r["row"] == "figure"
    }
    assert figures["balance_movement"] == (
        figures["top_ups"] - figures["charged_to_balance"] + figures["refunded_to_balance"]
    )
    assert figures["balance_movement"] == balance
    assert figures["invoice_total"] == int(rows[-1]["amount"])


def test_the_admin_acts_through_forms_with_the_apis_rules(client: TestClient) -> None:
    tenant = open_tenant(client)
    other = open_tenant(client, "Other")
    base = f"/console/accounts/{tenant.id}"
    log_in(client, key=tenant.keys["finance"])
    for part in ("users", "keys", "blocklist", "add-ons"):
        assert client.get(f"{base}/{part}").status_code == 403
    log_in(client, key=tenant.keys["admin"])
    token = csrf_of(client.get(f"{base}/users").text)
    # Invite a user; a malformed address is a 422 and nobody is invited.
    bad = client.post(
        f"{base}/users", data={"csrf": token, "email": "nope", "name": "X", "role": "support"}
    )
    assert bad.status_code == 422
    r = client.post(
        f"{base}/users",
        data={"csrf": token, "email": "sam@example.com", "name": "Sam", "role": "support"},
    )
    assert r.status_code == 200
    assert "sam@example.com" in r.text
    api_users = client.get(f"/v1/accounts/{tenant.id}/users", headers=tenant.as_("admin")).json()
    assert [u["email"] for u in api_users["items"]] == ["sam@example.com"]
    (sam,) = api_users["items"]
    # Without the token nothing is disabled; with it, Sam is.
    assert client.post(f"{base}/users/{sam['id']}/disable", data={}).status_code == 403
    r = client.post(f"{base}/users/{sam['id']}/disable", data={"csrf": token})
    assert r.status_code == 200
    assert (
        client.get(
            f"/v1/accounts/{tenant.id}/users/{sam['id']}", headers=tenant.as_("admin")
        ).json()["state"]
        == "disabled"
    )
    # A new key: its secret once, and it works; revoked, it does not.
    r = client.post(f"{base}/keys", data={"csrf": token, "role": "sender"})
    assert r.status_code == 201
    secret = re.search(r'id="new-key">([^<]+)<', r.text)
    assert secret is not None
    new_key = secret.group(1)
    assert client.get("/v1/messages", headers=bearer(new_key)).status_code == 200
    assert new_key not in client.get(f"{base}/keys").text
    listed_keys = client.get(f"/v1/accounts/{tenant.id}/keys", headers=tenant.as_("admin"))
    (key_id,) = [
        k["id"]
        for k in listed_keys.json()["items"]
        if k["role"] == "sender" and k["id"] != tenant.key_ids["sender"]
    ]
    assert client.post(f"{base}/keys/{key_id}/revoke", data={"csrf": token}).status_code == 200
    assert client.get("/v1/messages", headers=bearer(new_key)).status_code == 401
    # Another account's key and user are unknown here.
    their_key = other.key_ids["sender"]
    assert client.post(f"{base}/keys/{their_key}/revoke", data={"csrf": token}).status_code == 404
    assert client.get("/v1/messages", headers=other.as_("sender")).status_code == 200
    assert client.get(f"/console/accounts/{other.id}/users").status_code == 404
    # The block list: add a number, see it, remove it.
    r = client.post(f"{base}/blocklist", data={"csrf": token, "msisdn": "0046731234567"})
    assert r.status_code == 200
    assert "+46731234567" in r.text
    assert (
        client.post(f"{base}/blocklist", data={"csrf": token, "msisdn": "a\x00b"}).status_code
        == 422
    )
    r = client.post(f"{base}/blocklist/+46731234567/remove", data={"csrf": token})
    assert r.status_code == 200
    assert "No number is blocked." in r.text
    # Add-ons: order one, a second of the kind the same day is the same one; notice.
    r = client.post(
        f"{base}/add-ons", data={"csrf": token, "kind": "unsubscribe_link", "number": ""}
    )
    assert r.status_code == 200
    assert "unsubscribe link" in r.text
    client.post(f"{base}/add-ons", data={"csrf": token, "kind": "unsubscribe_link", "number": ""})
    listed = client.get(f"/v1/accounts/{tenant.id}/add-ons", headers=tenant.as_("admin")).json()[
        "items"
    ]
    assert len(listed) == 1
    r = client.post(f"{base}/add-ons/{listed[0]['id']}/notice", data={"csrf": token})
    assert r.status_code == 200
    after = client.get(f"/v1/accounts/{tenant.id}/add-ons", headers=tenant.as_("admin")).json()[
        "items"
    ]
    assert after[0]["notice_given_on"] is not None


def test_the_cookie_is_secure_when_served_over_https(services: Services) -> None:
    with TestClient(create_app(services), base_url="https://testserver") as https:
        tenant = open_tenant(https)
        form = https.get("/console/login")
        assert "Secure" in form.headers["set-cookie"]  # the pre-login cookie too
        r = https.post(
            "/console/login",
            data={"csrf": csrf_of(form.text), "key": tenant.keys["admin"]},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert "Secure" in r.headers["set-cookie"]
        assert https.get(f"/console/accounts/{tenant.id}").status_code == 200


def test_the_stop_service_switches_through_the_form_with_the_apis_rule(
    client: TestClient,
) -> None:
    tenant = open_tenant(client)
    base = f"/console/accounts/{tenant.id}"
    stop = f"/v1/accounts/{tenant.id}/stop-service"
    log_in(client, key=tenant.keys["admin"])
    token = csrf_of(client.get(f"{base}/add-ons").text)
    # Without its add-on, switching the link on is the API's 409, and nothing changes.
    r = client.post(f"{base}/stop-service", data={"csrf": token, "unsubscribe_link": "on"})
    assert r.status_code == 409
    assert client.get(stop, headers=tenant.as_("admin")).json()["unsubscribe_link"] is False
    client.post(f"{base}/add-ons", data={"csrf": token, "kind": "unsubscribe_link"})
    r = client.post(f"{base}/stop-service", data={"csrf": token, "unsubscribe_link": "on"})
    assert r.status_code == 200
    assert 'id="unsubscribe_link" name="unsubscribe_link" checked' in r.text
    assert client.get(stop, headers=tenant.as_("admin")).json() == {
        "sms_stop": False,
        "unsubscribe_link": True,
    }
    assert client.post(f"{base}/stop-service", data={"csrf": token, "x": "1"}).status_code == 422


def test_contacts_read_by_support_written_by_a_sender_through_the_form(
    client: TestClient,
) -> None:
    tenant = open_tenant(client)
    other = open_tenant(client, "Other")
    base = f"/console/accounts/{tenant.id}/contacts"
    theirs = client.post(
        f"/v1/accounts/{other.id}/contacts",
        json={"msisdn": "+46701111111"},
        headers=other.as_("admin"),
    ).json()["id"]
    log_in(client, key=tenant.keys["sender"])
    r = client.get("/console", follow_redirects=False)
    assert r.headers["location"] == base  # a sender's work in the console: contacts
    token = csrf_of(client.get(base).text)
    r = client.post(
        base,
        data={"csrf": token, "msisdn": "46731234567", "first_name": "Ada", "groups": "vip, staff"},
    )
    assert r.status_code == 200
    listed = client.get(f"/v1/accounts/{tenant.id}/contacts", headers=tenant.as_("admin")).json()
    (ada,) = listed["items"]
    assert (ada["msisdn"], ada["first_name"], sorted(ada["groups"])) == (
        "+46731234567",
        "Ada",
        ["staff", "vip"],
    )
    assert "Ada" in r.text
    # Another account's contact is unknown here; without the token nothing is deleted.
    assert client.post(f"{base}/{theirs}/delete", data={"csrf": token}).status_code == 404
    assert client.post(f"{base}/{ada['id']}/delete", data={}).status_code == 403
    # Support reads the list but has no form, and may not write.
    log_in(client, key=tenant.keys["support"])
    page = client.get(base)
    assert page.status_code == 200
    assert "+46731234567" in page.text
    assert "Save contact" not in page.text
    support_token = csrf_of(page.text)  # the logout form's
    r = client.post(base, data={"csrf": support_token, "msisdn": "+46731234568"})
    assert r.status_code == 403
    # The sender deletes it.
    log_in(client, key=tenant.keys["sender"])
    token = csrf_of(client.get(base).text)
    assert client.post(f"{base}/{ada['id']}/delete", data={"csrf": token}).status_code == 200
    after = client.get(f"/v1/accounts/{tenant.id}/contacts", headers=tenant.as_("admin")).json()
    assert after["items"] == []
    log_in(client, key=tenant.keys["finance"])
    assert client.get(base).status_code == 403


def test_an_invoice_refund_line_drills_down_to_the_refunded_message(
    client: TestClient, services: Services, clock: FakeClock
) -> None:
    tenant = open_tenant(client, payment_model="post_invoice")
    kept, canceled = send(client, tenant, ["+46731234567", "+46731234568"], "refund-1")
    r = client.post(f"/v1/messages/{canceled}/cancel", headers=tenant.as_("sender"))
    assert r.status_code == 200, r.text
    catch_up(services)
    log_in(client, key=tenant.keys["finance"])
    period = clock().strftime("%Y-%m")
    invoice = client.get(f"/console/accounts/{tenant.id}/invoices/{period}").text
    links = dict(
        re.findall(
            r"<td>(sms|refund)</td>.*?href=\"([^\"]+/messages\?line=[^\"]+)\"", invoice, re.S
        )
    )
    assert set(links) == {"sms", "refund"}
    charged = client.get(links["sms"].replace("&amp;", "&")).text
    refunded = client.get(links["refund"].replace("&amp;", "&")).text
    assert kept in charged
    assert canceled in charged  # charged, then refunded: on both lines
    assert canceled in refunded
    assert kept not in refunded


# --- webhook deliveries and inbound SMS ---------------------------------------------------


@pytest.fixture
def hooked(database: Database, clock: FakeClock) -> Iterator[tuple[Services, TestClient]]:
    """The service with the simulator and callbacks allowed to a loopback receiver."""
    settings = Settings(
        operator_token=OPERATOR_TOKEN,
        gateway="simulator",
        workers="none",
        webhook_allow_loopback=True,
        webhook_timeout_seconds=2,
        simulator_mix="delivered=1",
        simulator_faults="unknown_code=0",
    )
    built = build(settings, database=database, clock=clock)
    try:
        with TestClient(create_app(built)) as c:
            yield built, c
    finally:
        built.close()


def _deliver(services: Services, clock: FakeClock, rounds: int) -> None:
    assert services.webhooks is not None
    for _ in range(rounds):
        catch_up(services)
        services.dispatcher.run_until_idle()
        catch_up(services)
        services.webhooks.run_until_idle()
        clock.advance(seconds=30)


def _api_deliveries(client: TestClient, tenant: Tenant) -> list[dict[str, Any]]:
    r = client.get(
        f"/v1/accounts/{tenant.id}/webhook/deliveries?limit=1000", headers=tenant.as_("admin")
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_webhook_deliveries_show_every_attempt_and_the_admin_re_sends_one(
    hooked: tuple[Services, TestClient], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, client = hooked
    ours = open_tenant(client, "Ours", top_up=10_000)
    theirs = open_tenant(client, "Theirs")
    base = f"/console/accounts/{ours.id}/webhook/deliveries"
    with receiving() as receiver:
        r = client.put(
            f"/v1/accounts/{ours.id}/webhook",
            json={"url": receiver.url, "events": ["message.status"]},
            headers=ours.as_("admin"),
        )
        assert r.status_code == 200, r.text
        secret = r.json()["secret"]
        receiver.secrets.append(secret)
        send(client, ours, ["+46731234567"], "hook-1")
        receiver.mode = "fail"
        _deliver(services, clock, rounds=3)
        receiver.mode = "gone"
        _deliver(services, clock, rounds=3)
    items = _api_deliveries(client, ours)
    assert len(items) >= 3
    attempted = [d for d in items if d["attempts"]]
    assert attempted
    state = client.get(f"/v1/accounts/{ours.id}/webhook", headers=ours.as_("admin")).json()
    assert state["state"] == "disabled"

    # Support reads the page: newest first, as the API lists them, each attempt shown.
    log_in(client, key=ours.keys["support"])
    html = client.get(base).text
    assert [html.index(f"<code>{d['id']}</code>") for d in items] == sorted(
        html.index(f"<code>{d['id']}</code>") for d in items
    )
    assert f'id="endpoint-state" class="error">{state["state"]}</strong>' in html
    assert state["state_reason"] in html
    codes = {a["status_code"] for d in attempted for a in d["attempts"]}
    assert codes >= {500, 410}
    for code in codes:
        assert f"HTTP {code}" in html
    retry = next(a["next_retry_at"] for d in attempted for a in d["attempts"] if a["next_retry_at"])
    assert f"retry {utc_text(datetime.fromisoformat(retry))}" in html
    latency = attempted[0]["attempts"][0]["latency_ms"]
    assert f"{latency} ms" in html
    assert secret not in html
    assert "whsec_" not in html
    assert "Re-send" not in html  # support reads; re-sending is the admin's
    assert f'href="{base}"' in html  # the navigation links the page

    # Paging by cursor walks the same list as the API, one page at a time.
    monkeypatch.setattr(support, "PAGE", 2)
    seen: list[str] = []
    url: str | None = base
    while url:
        page = client.get(url).text
        seen += re.findall(r"<code>(msg_[0-9a-f]{32})</code>", page)
        found = re.search(r'href="([^"]+)" rel="next"', page)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == [d["id"] for d in items]
    monkeypatch.undo()

    gone = next(d for d in items if d["state"] == "gone")
    resend_url = f"{base}/{gone['id']}/resend"
    token = csrf_of(html)  # support's logout form
    assert client.post(resend_url, data={"csrf": token}).status_code == 403  # wrong role
    log_in(client, key=ours.keys["admin"])
    html = client.get(base).text
    assert f'action="{resend_url}"' in html
    token = csrf_of(html)
    # Without the token: 403, and nothing is queued again.
    assert client.post(resend_url, data={}).status_code == 403
    assert next(d for d in _api_deliveries(client, ours) if d["id"] == gone["id"]) == gone
    r = client.post(resend_url, data={"csrf": token}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, base)
    again = next(d for d in _api_deliveries(client, ours) if d["id"] == gone["id"])
    assert again["state"] == "pending"
    after = client.get(f"/v1/accounts/{ours.id}/webhook", headers=ours.as_("admin")).json()
    assert after["state"] == "active"  # the admin asked: the endpoint resumes, as by the API

    # Another account's id is unknown, for the page and the button; other roles may not.
    assert client.get(f"/console/accounts/{theirs.id}/webhook/deliveries").status_code == 404
    theirs_resend = f"/console/accounts/{theirs.id}/webhook/deliveries/{gone['id']}/resend"
    assert client.post(theirs_resend, data={"csrf": token}).status_code == 404
    assert client.post(f"{base}/msg_nope/resend", data={"csrf": token}).status_code == 422
    assert client.get(base, params={"cursor": "bm90LW91cnM"}).status_code == 422
    log_in(client, key=theirs.keys["admin"])
    token = csrf_of(client.get(f"/console/accounts/{theirs.id}/webhook/deliveries").text)
    assert client.post(theirs_resend, data={"csrf": token}).status_code == 404
    r = client.get(f"/console/accounts/{theirs.id}/webhook/deliveries")
    assert "This account has no webhook." in r.text
    assert gone["id"] not in r.text
    for role in ("finance", "sender"):
        log_in(client, key=ours.keys[role])
        assert client.get(base).status_code == 403


def test_inbound_sms_newest_first_linking_each_sender_to_their_history(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = open_tenant(client, "Ours")
    theirs = open_tenant(client, "Theirs")
    numbers = {}
    for tenant in (ours, theirs):
        r = client.post(
            f"/v1/accounts/{tenant.id}/add-ons",
            json={"kind": "virtual_number"},
            headers=tenant.as_("admin"),
        )
        assert r.status_code == 201, r.text
        numbers[tenant.id] = r.json()["number"]
    r = client.put(
        f"/v1/accounts/{ours.id}/stop-service",
        json={"sms_stop": True, "unsubscribe_link": False},
        headers=ours.as_("admin"),
    )
    assert r.status_code == 200, r.text
    to = numbers[ours.id]
    texts = [
        ("+46731234567", "hello there"),
        ("+46731234568", "Save Ada Lovelace vip"),
        ("+46731234569", "STOP"),
        ("+46731234567", "<b>not markup</b>"),
    ]
    batch = [
        {
            "to": to,
            "from": f,
            "body": b,
            "at": f"2026-11-02T10:0{i}:00+01:00",
            "gateway_ref": f"g{i}",
        }
        for i, (f, b) in enumerate(texts)
    ]
    batch.append(
        {
            "to": numbers[theirs.id],
            "from": "+46731234560",
            "body": "theirs",
            "at": "2026-11-02T10:00:00+01:00",
            "gateway_ref": "gx",
        }
    )
    r = client.post("/v1/inbound-messages", json={"messages": batch}, headers=OPERATOR)
    assert [x["outcome"] for x in r.json()["results"]] == ["stored"] * 5, r.text
    catch_up(services)
    listed = client.get(
        f"/v1/accounts/{ours.id}/inbound-messages", headers=ours.as_("admin")
    ).json()["items"]
    assert [i["body"] for i in listed] == [b for _, b in reversed(texts)]
    assert {i["action"] for i in listed} == {None, "opt_out", "contact_saved"}
    base = f"/console/accounts/{ours.id}/inbound"
    log_in(client, key=ours.keys["support"])
    html = client.get(base).text
    rows = re.findall(
        r"<tr>\s*<td>(.*?)</td>\s*<td><a href=\"([^\"]+)\">(.*?)</a></td>\s*"
        r"<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>",
        html,
        re.S,
    )
    assert [(href, f, t, body, action) for _, href, f, t, body, action in rows] == [
        (
            f"/console/recipients/{i['from']}",
            i["from"],
            i["to"],
            escape(i["body"]),
            i["action"] or "none",
        )
        for i in listed
    ]
    assert "theirs" not in html
    assert f'href="{base}" aria-current="page"' in html
    # The sender who sent STOP: their page shows the block and the SMS that asked.
    stopped = next(i for i in listed if i["action"] == "opt_out")
    recipient = client.get(f"/console/recipients/{stopped['from']}").text
    assert "<strong>Blocked</strong>" in recipient
    assert "SMS “STOP” received" in recipient
    # Pages by cursor: every SMS once, in the same order.
    monkeypatch.setattr(support, "PAGE", 3)
    first = client.get(base).text
    found = re.search(r'href="([^"]+)" rel="next"', first)
    assert found is not None
    second = client.get(found.group(1).replace("&amp;", "&")).text
    assert 'rel="next"' not in second
    assert escape(listed[-1]["body"]) in second
    assert escape(listed[-1]["body"]) not in first
    monkeypatch.undo()
    # Another account's id is unknown; finance and sender may not see it.
    assert client.get(f"/console/accounts/{theirs.id}/inbound").status_code == 404
    assert client.get(base, params={"cursor": "nonsense!"}).status_code == 422
    log_in(client, key=ours.keys["admin"])
    assert client.get(base).status_code == 200
    for role in ("finance", "sender"):
        log_in(client, key=ours.keys[role])
        assert client.get(base).status_code == 403
