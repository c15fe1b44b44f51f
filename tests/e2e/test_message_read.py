"""GET /v1/messages/{id}, the hottest read, answers as every other route does.

Its plain requests skip FastAPI's parameter solving and read the key and the message
in one query (``api/routes/messages.py``); these scenarios pin that the fast path and
the standard one give the same answers, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.e2e.conftest import OPERATOR, Tenant, bearer, catch_up, open_tenant, problem_of
from tests.e2e.test_reads import send

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from smsledger.bootstrap import Services


def one_message(client: TestClient, services: Services, name: str = "Acme") -> tuple[Tenant, str]:
    """A tenant with one message sent and projected; the message's URL."""
    tenant = open_tenant(client, name=name, top_up=10_000)
    message_id = send(client, tenant, ["+46731234567"])["messages"][0]["id"]
    catch_up(services)
    return tenant, f"/v1/messages/{message_id}"


def test_readers_get_the_message_however_the_request_is_spelled(
    client: TestClient, services: Services
) -> None:
    tenant, url = one_message(client, services)
    message_id = url.rsplit("/", 1)[-1]
    for headers in (tenant.as_("sender"), tenant.as_("support"), tenant.as_("admin"), OPERATOR):
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == message_id
    # A lower-case scheme and an upper-case id are the same request.
    lower = {"Authorization": "bearer " + tenant.keys["sender"]}
    r = client.get(f"/v1/messages/{message_id.upper()}", headers=lower)
    assert (r.status_code, r.json()["id"]) == (200, message_id)


def test_wrong_role_bad_token_and_bad_id_answer_as_declared(
    client: TestClient, services: Services
) -> None:
    tenant, url = one_message(client, services)
    assert problem_of(client.get(url, headers=tenant.as_("finance")))["status"] == 403
    for headers in (
        {},
        bearer("sk_sender_not-a-key"),
        bearer("nonsense"),
        {"Authorization": "Basic x"},
    ):
        r = client.get(url, headers=headers)
        assert problem_of(r)["status"] == 401, headers
    r = client.get("/v1/messages/not-a-uuid", headers=tenant.as_("sender"))
    assert problem_of(r)["status"] == 422


def test_another_accounts_message_is_answered_as_an_unknown_one(
    client: TestClient, services: Services
) -> None:
    mine = open_tenant(client, name="Mine", top_up=10_000)
    _, url = one_message(client, services, name="Theirs")
    message_id = url.rsplit("/", 1)[-1]
    foreign = client.get(url, headers=mine.as_("support"))
    unknown = client.get(
        "/v1/messages/00000000-0000-4000-8000-000000000000", headers=mine.as_("support")
    )
    assert foreign.status_code == unknown.status_code == 404
    assert problem_of(foreign)["detail"].replace(message_id, "X") == problem_of(unknown)[
        "detail"
    ].replace("00000000-0000-4000-8000-000000000000", "X")


def test_a_revoked_key_cannot_read_a_message_at_once(
    client: TestClient, services: Services
) -> None:
    tenant, url = one_message(client, services)
    assert client.get(url, headers=tenant.as_("support")).status_code == 200
    r = client.delete(
        f"/v1/accounts/{tenant.id}/keys/{tenant.key_ids['support']}", headers=tenant.as_("admin")
    )
    assert r.status_code == 204
    assert problem_of(client.get(url, headers=tenant.as_("support")))["status"] == 401
