"""The contact book over HTTP, on both databases: saving and changing contacts, member
counts, the CSV import and export, groups as recipients, the roles, and tenant isolation
on every route."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from smsledger.api.main import create_app
from smsledger.bootstrap import build
from smsledger.domain.contact_csv import MAX_IMPORT_BYTES, MAX_IMPORT_LINES
from smsledger.settings import Settings
from tests.e2e.conftest import OPERATOR_TOKEN, Tenant, catch_up, open_tenant, problem_of
from tests.unit.test_contacts import MESSY

if TYPE_CHECKING:
    from smsledger.adapters.storage import Database
    from smsledger.bootstrap import Services
    from tests.support import FakeClock

CSV = {"Content-Type": "text/csv"}
ANN, BO, CY = "+46701234567", "+46701234568", "+46701234569"


def contacts_url(tenant: Tenant) -> str:
    return f"/v1/accounts/{tenant.id}/contacts"


def save(client: TestClient, tenant: Tenant, msisdn: str, **fields: Any) -> Any:
    r = client.post(
        contacts_url(tenant), json={"msisdn": msisdn, **fields}, headers=tenant.as_("sender")
    )
    assert r.status_code in (200, 201), r.text
    return r


def groups_of(client: TestClient, services: Services, tenant: Tenant) -> dict[str, int]:
    catch_up(services)
    r = client.get(f"/v1/accounts/{tenant.id}/groups", headers=tenant.as_("support"))
    assert r.status_code == 200, r.text
    return {g["name"]: g["members"] for g in r.json()["items"]}


def import_csv(
    client: TestClient, tenant: Tenant, data: bytes, query: str = "", role: str = "admin"
) -> Any:
    headers = {**CSV, **tenant.as_(role)}
    return client.post(f"{contacts_url(tenant)}/import{query}", content=data, headers=headers)


def test_a_contact_is_saved_changed_and_deleted(
    client: TestClient, services: Services, clock: FakeClock
) -> None:
    tenant = open_tenant(client)
    url = contacts_url(tenant)
    # A sender saves Ann in Friends; the same number again (another form) is Ann, 200.
    r = save(
        client, tenant, "46701234567", first_name=" Ann ", last_name="Lind", groups=["Friends"]
    )
    assert r.status_code == 201
    ann = r.json()
    assert ann == {
        "id": ann["id"],
        "msisdn": ANN,
        "first_name": "Ann",
        "last_name": "Lind",
        "groups": ["Friends"],
        "source": "manual",
        "created_at": "2026-11-02T09:00:00Z",
        "updated_at": "2026-11-02T09:00:00Z",
    }
    assert int(r.headers["X-Ledger-Position"]) > 0
    clock.advance(minutes=1)
    again = save(client, tenant, "+46 70-123 45 67", groups=["friends", "Work"])
    assert (again.status_code, again.json()["id"]) == (200, ann["id"])
    assert again.json()["groups"] == ["Friends", "Work"]
    assert again.json()["first_name"] == ""  # the body's names replace the kept ones
    save(client, tenant, BO, first_name="Bo", groups=["work"])
    assert groups_of(client, services, tenant) == {"Friends": 1, "Work": 2}
    # Support reads; a change sets the groups exactly.
    assert client.get(f"{url}/{ann['id']}", headers=tenant.as_("support")).json()["groups"] == [
        "Friends",
        "Work",
    ]
    r = client.patch(
        f"{url}/{ann['id']}",
        json={"first_name": "Anna", "groups": ["VIP"]},
        headers=tenant.as_("admin"),
    )
    assert r.status_code == 200, r.text
    assert (r.json()["first_name"], r.json()["groups"]) == ("Anna", ["VIP"])
    assert groups_of(client, services, tenant) == {"Friends": 0, "VIP": 1, "Work": 1}
    # The number is the contact's identity: a PATCH cannot change it.
    r = client.patch(f"{url}/{ann['id']}", json={"msisdn": CY}, headers=tenant.as_("admin"))
    assert r.status_code == 422
    # Delete: 204, then unknown; the list and counts follow.
    r = client.delete(f"{url}/{ann['id']}", headers=tenant.as_("sender"))
    assert r.status_code == 204
    assert client.get(f"{url}/{ann['id']}", headers=tenant.as_("admin")).status_code == 404
    assert client.delete(f"{url}/{ann['id']}", headers=tenant.as_("admin")).status_code == 404
    assert groups_of(client, services, tenant) == {"Friends": 0, "VIP": 0, "Work": 1}
    items = client.get(url, headers=tenant.as_("admin")).json()["items"]
    assert [c["msisdn"] for c in items] == [BO]
    # Saved again, Ann is a contact again, created anew, with the same id.
    r = save(client, tenant, ANN, first_name="Ann")
    assert (r.status_code, r.json()["id"], r.json()["groups"]) == (201, ann["id"], [])


def test_roles_and_bad_input(client: TestClient) -> None:
    tenant = open_tenant(client)
    url = contacts_url(tenant)
    assert client.post(url, json={"msisdn": ANN}, headers=tenant.as_("support")).status_code == 403
    assert client.get(url, headers=tenant.as_("finance")).status_code == 403
    assert client.get(f"{url}/export", headers=tenant.as_("sender")).status_code == 403
    assert import_csv(client, tenant, b"msisdn\n", role="sender").status_code == 403
    for body in (
        {"msisdn": "not a number"},
        {"msisdn": ANN, "first_name": "x" * 101},
        {"msisdn": ANN, "first_name": "a\x00b"},
        {"msisdn": ANN, "first_name": 5},
        {"msisdn": ANN, "groups": ["a|b"]},
        {"msisdn": ANN, "groups": "friends"},
        {"msisdn": ANN, "groups": [True]},
        {"msisdn": ANN, "groups": ["g"] * 51},
        {"msisdn": ANN, "colour": "red"},
    ):
        r = client.post(url, json=body, headers=tenant.as_("admin"))
        assert r.status_code == 422, (body, r.text)
        problem_of(r)
    assert client.get(url, headers=tenant.as_("admin")).json()["items"] == []
    assert client.get(f"{url}?cursor=nonsense", headers=tenant.as_("admin")).status_code == 422
    r = client.get(f"{url}?group=nobody", headers=tenant.as_("admin"))
    assert r.status_code == 422
    assert "nobody" in problem_of(r)["detail"]


def test_another_accounts_contacts_are_unknown_on_every_route(
    client: TestClient, services: Services
) -> None:
    mine, theirs = open_tenant(client, "Mine", top_up=10_000), open_tenant(client, "Theirs")
    their_contact = save(client, theirs, ANN, groups=["Secret"]).json()
    catch_up(services)
    their_group = client.get(
        f"/v1/accounts/{theirs.id}/groups", headers=theirs.as_("admin")
    ).json()["items"][0]
    # My keys on their contact's id, under my account: unknown.
    url = f"{contacts_url(mine)}/{their_contact['id']}"
    assert client.get(url, headers=mine.as_("admin")).status_code == 404
    assert client.patch(url, json={"first_name": "X"}, headers=mine.as_("admin")).status_code == 404
    assert client.delete(url, headers=mine.as_("admin")).status_code == 404
    assert client.get(f"{url}/history", headers=mine.as_("support")).status_code == 404
    # My keys on their account's paths: unknown, never forbidden.
    theirs_url = contacts_url(theirs)
    for method, path in [
        ("GET", theirs_url),
        ("POST", theirs_url),
        ("GET", f"{theirs_url}/{their_contact['id']}"),
        ("GET", f"{theirs_url}/{their_contact['id']}/history"),
        ("PATCH", f"{theirs_url}/{their_contact['id']}"),
        ("DELETE", f"{theirs_url}/{their_contact['id']}"),
        ("GET", f"{theirs_url}/export"),
        ("POST", f"{theirs_url}/import"),
        ("GET", f"/v1/accounts/{theirs.id}/groups"),
    ]:
        body = {"msisdn": BO} if method == "POST" else {"first_name": "X"}
        kwargs: dict[str, Any] = {"json": body} if method in ("POST", "PATCH") else {}
        if path.endswith("/import"):
            kwargs = {"content": b"msisdn\n+46701234568\n", "headers": {**CSV, **mine.as_("admin")}}
        else:
            kwargs["headers"] = mine.as_("admin")
        r = client.request(method, path, **kwargs)
        assert r.status_code == 404, (method, path, r.text)
    # Their group, by name or by id, is no group of mine to send to.
    for ref in (their_group["name"], their_group["id"]):
        r = client.post(
            "/v1/messages",
            json={"sender": "Acme", "groups": [ref], "body": "hi"},
            headers=mine.as_("sender"),
        )
        assert r.status_code == 422, r.text
        assert ref in problem_of(r)["detail"]
    # Nothing of theirs changed.
    r = client.get(f"{theirs_url}/{their_contact['id']}", headers=theirs.as_("admin"))
    assert r.json() == their_contact
    assert client.get(theirs_url, headers=theirs.as_("admin")).json()["items"] == [their_contact]


def test_a_messy_csv_imports_with_exact_counts_and_a_repeat_creates_nothing(
    client: TestClient, services: Services
) -> None:
    tenant = open_tenant(client)
    r = import_csv(client, tenant, MESSY.encode(), "?country=SE")
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["created"], result["updated"], result["unchanged"]) == (4, 0, 1)
    assert [x["line"] for x in result["rejected"]] == [6, 7, 8, 9]
    assert result["rejected"][0] == {"line": 6, "reason": "msisdn is empty"}
    assert result["rejected"][3] == {"line": 9, "reason": "expected 4 cells, found 2"}
    position = int(r.headers["X-Ledger-Position"])
    again = import_csv(client, tenant, MESSY.encode(), "?country=SE").json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 5)
    assert again["rejected"] == result["rejected"]
    assert services.ledger.recorder.max_notification_id() == position  # nothing written
    # Without the country, the national number is a rejected line like the others.
    other = open_tenant(client, "Other")
    plain = import_csv(client, other, MESSY.encode()).json()
    assert [x["line"] for x in plain["rejected"]] == [2, 6, 7, 8, 9]
    # The contacts, each from its line of the import.
    catch_up(services)
    items = client.get(contacts_url(tenant), headers=tenant.as_("admin")).json()["items"]
    assert [(c["msisdn"], c["source"]) for c in items] == [
        (ANN, "import"),
        (BO, "import"),
        (CY, "import"),
        ("+46701234571", "import"),
    ]
    assert items[3]["first_name"] == 'Hugo "H"'
    assert groups_of(client, services, tenant) == {"Friends": 2, "Work": 1}


def test_a_file_that_cannot_be_read_is_refused_and_changes_nothing(client: TestClient) -> None:
    tenant = open_tenant(client)
    cases = [
        (b"first_name\nAnn\n", 422),
        (b"msisdn\n\xff\n", 422),
        (b"msisdn\n" + b"+46701234567\n" * (MAX_IMPORT_LINES + 1), 422),
        (b"msisdn\n" + b"+46701234567\n" * (MAX_IMPORT_BYTES // 13 + 1), 413),
    ]
    for data, code in cases:
        r = import_csv(client, tenant, data)
        assert r.status_code == code, r.text
        problem_of(r)
    assert import_csv(client, tenant, MESSY.encode(), "?country=se").status_code == 422
    assert import_csv(client, tenant, MESSY.encode(), "?country=XX").status_code == 422
    url = f"{contacts_url(tenant)}/import"
    r = client.post(url, json={"msisdn": ANN}, headers=tenant.as_("admin"))
    assert r.status_code == 422  # JSON: not a file
    problem_of(r)
    text = {"Content-Type": "text/plain", **tenant.as_("admin")}
    r = client.post(url, content=b"msisdn\n+46701234567\n", headers=text)
    assert r.status_code == 415
    assert "text/csv" in problem_of(r)["detail"]
    assert client.get(contacts_url(tenant), headers=tenant.as_("admin")).json()["items"] == []


def test_the_export_imports_back_as_the_same_book(client: TestClient, services: Services) -> None:
    tenant = open_tenant(client)
    save(client, tenant, ANN, first_name="=1+2", last_name="Åström", groups=["@team", "Friends"])
    save(client, tenant, BO, first_name="Bo", last_name="-", groups=[])
    catch_up(services)
    r = client.get(f"{contacts_url(tenant)}/export", headers=tenant.as_("admin"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    text = r.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["msisdn", "first_name", "last_name", "groups"],
        [ANN, "'=1+2", "Åström", "'@team|Friends"],
        [BO, "Bo", "'-", ""],
    ]
    other = open_tenant(client, "Other")
    back = import_csv(client, other, r.content).json()
    assert (back["created"], back["rejected"]) == (2, [])
    catch_up(services)

    def book(t: Tenant) -> list[tuple[str, str, str, list[str]]]:
        items = client.get(contacts_url(t), headers=t.as_("admin")).json()["items"]
        return [(c["msisdn"], c["first_name"], c["last_name"], c["groups"]) for c in items]

    assert book(other) == book(tenant)
    assert book(other)[0] == (ANN, "=1+2", "Åström", ["@team", "Friends"])


def test_a_group_is_a_list_of_recipients_each_once(client: TestClient, services: Services) -> None:
    tenant = open_tenant(client, top_up=10_000)
    for number in (ANN, BO, CY):
        save(client, tenant, number, groups=["Friends"])
    save(client, tenant, "+46701234570", groups=["work"])
    # Bo opted out: on the block list.
    r = client.post(
        f"/v1/accounts/{tenant.id}/blocklist", json={"msisdn": BO}, headers=tenant.as_("admin")
    )
    assert r.status_code == 201
    catch_up(services)
    group_id = client.get(f"/v1/accounts/{tenant.id}/groups", headers=tenant.as_("admin")).json()[
        "items"
    ][0]["id"]
    r = client.post(
        "/v1/messages",
        json={
            "sender": "Acme",
            "recipients": ["46701234567"],  # Ann, also in Friends
            "groups": ["friends", group_id, "WORK"],  # Friends twice (name and id)
            "body": "hi",
        },
        headers=tenant.as_("sender"),
    )
    assert r.status_code == 202, r.text
    receipt = r.json()
    lines = [(m["recipient"], m["status"]["code"], m["price"]) for m in receipt["messages"]]
    assert lines == [
        (ANN, 103, 45),
        (BO, 405, 0),
        (CY, 103, 45),
        ("+46701234570", 103, 45),
    ]
    assert receipt["total_price"] == 135
    account = client.get(f"/v1/accounts/{tenant.id}", headers=tenant.as_("admin")).json()
    assert account["balance"] == 10_000 - 135  # each funded recipient charged once
    # An unknown group is 422 naming it, and nothing is sent or charged.
    r = client.post(
        "/v1/messages",
        json={"sender": "Acme", "groups": ["Friends", "Nobody"], "body": "hi"},
        headers=tenant.as_("sender"),
    )
    assert r.status_code == 422
    assert "'Nobody'" in problem_of(r)["detail"]
    account = client.get(f"/v1/accounts/{tenant.id}", headers=tenant.as_("admin")).json()
    assert account["balance"] == 10_000 - 135
    # Neither recipients nor groups: 422.
    r = client.post(
        "/v1/messages", json={"sender": "Acme", "body": "hi"}, headers=tenant.as_("sender")
    )
    assert r.status_code == 422


@pytest.fixture
def capped(database: Database, clock: FakeClock) -> Iterator[tuple[TestClient, Services]]:
    settings = Settings(
        operator_token=OPERATOR_TOKEN, gateway="none", workers="none", max_recipients=3
    )
    built = build(settings, database=database, clock=clock)
    try:
        with TestClient(create_app(built)) as c:
            yield c, built
    finally:
        built.close()


def test_the_recipient_cap_counts_the_expanded_list(capped: tuple[TestClient, Services]) -> None:
    client, services = capped
    tenant = open_tenant(client, top_up=10_000)
    for number in (ANN, BO, CY):
        save(client, tenant, number, groups=["Friends"])
    catch_up(services)
    send = {"sender": "Acme", "groups": ["Friends"], "body": "hi"}
    r = client.post("/v1/messages", json=send, headers=tenant.as_("sender"))
    assert r.status_code == 202, r.text
    r = client.post(
        "/v1/messages",
        json={**send, "recipients": ["+46701234570"]},
        headers=tenant.as_("sender"),
    )
    assert r.status_code == 422
    assert "at most 3" in problem_of(r)["detail"]
    # A recipient who is also a member counts once.
    r = client.post(
        "/v1/messages", json={**send, "recipients": [ANN]}, headers=tenant.as_("sender")
    )
    assert r.status_code == 202, r.text
    assert len(r.json()["messages"]) == 3


def test_a_retried_group_send_answers_its_first_receipt_whatever_the_group_holds_now(
    capped: tuple[TestClient, Services],
) -> None:
    """The same reference again is the first receipt, charged once, even when the groups
    it named would now be refused: emptied (422 "no members"), or grown past the cap."""
    client, services = capped
    tenant = open_tenant(client, top_up=10_000)
    for number in (ANN, BO):
        save(client, tenant, number, groups=["Friends"])
    catch_up(services)
    send = {"sender": "Acme", "groups": ["Friends"], "body": "hi", "reference": "camp-1"}
    first = client.post("/v1/messages", json=send, headers=tenant.as_("sender"))
    assert first.status_code == 202, first.text
    assert len(first.json()["messages"]) == 2
    balance = client.get(f"/v1/accounts/{tenant.id}", headers=tenant.as_("admin")).json()
    # Grown past the cap of 3: a fresh send with the group is 422 ...
    for number in (CY, "+46701234570"):
        save(client, tenant, number, groups=["Friends"])
    catch_up(services)
    fresh = client.post(
        "/v1/messages", json={**send, "reference": "camp-2"}, headers=tenant.as_("sender")
    )
    assert fresh.status_code == 422, fresh.text
    # ... its retry is the first receipt.
    again = client.post("/v1/messages", json=send, headers=tenant.as_("sender"))
    assert again.status_code == 202, again.text
    assert again.json() == first.json()
    # Emptied: every member deleted.
    members = client.get(contacts_url(tenant), headers=tenant.as_("admin")).json()["items"]
    for contact in members:
        r = client.delete(f"{contacts_url(tenant)}/{contact['id']}", headers=tenant.as_("admin"))
        assert r.status_code in (200, 204), r.text
    catch_up(services)
    emptied = client.post(
        "/v1/messages", json={**send, "reference": "camp-3"}, headers=tenant.as_("sender")
    )
    assert emptied.status_code == 422, emptied.text
    again = client.post("/v1/messages", json=send, headers=tenant.as_("sender"))
    assert again.status_code == 202, again.text
    assert again.json() == first.json()
    after = client.get(f"/v1/accounts/{tenant.id}", headers=tenant.as_("admin")).json()
    assert after["balance"] == balance["balance"]  # charged once, by the first send


def test_support_replays_why_a_contact_exists(client: TestClient, services: Services) -> None:
    tenant = open_tenant(client)
    # The number texted Save (the inbound path saves it so), came again in an import,
    # and was deleted by a sender.
    sms_id = "0b6f5c1e-0000-4000-8000-000000000001"
    contact = services.ledger.save_contact(
        UUID(tenant.id),
        ANN,
        first_name="Ann",
        last_name="Lind",
        groups=["friends"],
        source="inbound_save",
        origin={"inbound_message_id": sms_id},
    ).value.contact
    imported = import_csv(client, tenant, b"msisdn,first_name\n+46701234567,Anna\n").json()
    assert imported["updated"] == 1
    url = f"{contacts_url(tenant)}/{contact.id}"
    assert client.delete(url, headers=tenant.as_("sender")).status_code == 204
    r = client.get(f"{url}/history", headers=tenant.as_("support"))
    assert r.status_code == 200, r.text
    history = r.json()
    assert (history["contact_id"], history["deleted"]) == (str(contact.id), True)
    events = [(e["version"], e["type"], e["data"].get("source")) for e in history["events"]]
    assert events == [(1, "Saved", "inbound_save"), (2, "Changed", "import"), (3, "Deleted", None)]
    assert history["events"][0]["data"]["origin"] == {"inbound_message_id": sms_id}
    origin = history["events"][1]["data"]["origin"]
    assert origin["line"] == 2
    assert history["events"][1]["data"]["first_name"] == "Anna"
    assert client.get(f"{url}/history", headers=tenant.as_("sender")).status_code == 403


def test_a_save_texted_to_the_virtual_number_lands_in_the_book_and_is_sent_to(
    client: TestClient, services: Services
) -> None:
    from tests.e2e.test_inbound import FAN, gateway_key, sms, with_number

    tenant = open_tenant(client, top_up=10_000)
    number = with_number(client, tenant)
    gw = gateway_key(client)
    # The fan texts Save twice (the second in other case); the gateway retries the first.
    batch = [
        sms(number, "Save Ann Lind friends", "gw-1"),
        sms(number, "SAVE Ann Lind Friends", "gw-2"),
        sms(number, "Save Ann Lind friends", "gw-1"),
    ]
    r = client.post("/v1/inbound-messages", json={"messages": batch}, headers=gw)
    assert r.status_code == 200, r.text
    assert [(x["outcome"], x["action"]) for x in r.json()["results"]] == [
        ("stored", "contact_saved"),
        ("stored", "contact_saved"),
        ("duplicate", "contact_saved"),
    ]
    catch_up(services)  # no workers here: the test moves the read models
    items = client.get(contacts_url(tenant), headers=tenant.as_("support"))
    assert items.status_code == 200, items.text
    assert [(c["msisdn"], c["groups"], c["source"]) for c in items.json()["items"]] == [
        (FAN, ["friends"], "inbound_save")
    ]
    # The group is a list to send to: the fan once, charged once.
    r = client.post(
        "/v1/messages",
        json={"sender": "Acme", "groups": ["FRIENDS"], "body": "Hi!"},
        headers=tenant.as_("sender"),
    )
    assert r.status_code == 202, r.text
    assert [m["recipient"] for m in r.json()["messages"]] == [FAN]
    assert r.json()["total_price"] == r.json()["messages"][0]["price"] > 0
