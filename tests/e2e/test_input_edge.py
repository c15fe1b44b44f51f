"""The edge of the API as an attacker or a careless client meets it, on both databases.

Every request here is one of issue 11's findings: each is refused with the right
problem (never a 500), changes nothing, and leaves the read models of every other
account advancing.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from smsledger.domain.segments import shown_body
from smsledger.domain.text import illegal_character
from tests.e2e.conftest import OPERATOR, bearer, catch_up, open_tenant, problem_of
from tests.support import dump_views

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from smsledger.bootstrap import Services
    from tests.e2e.conftest import Tenant

NUMBER = "+46731234567"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def head(services: Services) -> int:
    return int(services.ledger.recorder.max_notification_id() or 0)


def send(client: TestClient, tenant: Tenant, **body: Any) -> Any:
    payload = {"sender": "Acme", "recipients": [NUMBER], "body": "Hello", **body}
    return client.post("/v1/messages", json=payload, headers=tenant.as_("sender"))


def assert_views_clean(services: Services) -> None:
    """No read-model row holds a control character, a lone surrogate or a noncharacter;
    but a message's body (``view_messages``' last column), which may hold the line
    breaks and form feed an SMS may, and nothing else (``shown_body``)."""
    for table, rows in dump_views(services.views).items():
        for row in rows:
            for n, value in enumerate(row):
                if not isinstance(value, str):
                    continue
                text = value
                if table == "view_messages" and n == len(row) - 1:
                    assert shown_body(value) == value, (table, row)
                    text = value.replace("\n", "").replace("\r", "").replace("\f", "")
                assert illegal_character(text) is None, (table, row)


def assert_others_still_advance(client: TestClient, services: Services) -> None:
    """Another account's write reaches the read models: nothing poisoned them."""
    other = open_tenant(client, name="Bystander", top_up=10_000)
    sent = send(client, other)
    assert sent.status_code == 202, sent.text
    catch_up(services)
    message_id = sent.json()["messages"][0]["id"]
    read = client.get(
        f"/v1/messages/{message_id}",
        headers={**other.as_("sender"), "X-Ledger-Min-Position": sent.headers["X-Ledger-Position"]},
    )
    assert read.status_code == 200, read.text
    assert_views_clean(services)


# --- 1. text fields refuse NUL and other control characters ----------------------------


@pytest.mark.parametrize("bad", ["Acme\u0000AB", "Acme\u001bAB", "Acme\u0085AB", "Acme\u2028AB"])
def test_a_control_character_in_any_text_field_is_422_and_stores_nothing(
    client: TestClient, services: Services, bad: str
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    before = head(services)
    requests = [
        ("POST", "/v1/accounts", {"name": bad, "payment_model": "balance"}, OPERATOR),
        (
            "POST",
            "/v1/accounts",
            {"name": "A", "payment_model": "balance", "timezone": bad},
            OPERATOR,
        ),
        ("POST", f"/v1/accounts/{tenant.id}/top-ups", {"amount": 5, "reference": bad}, OPERATOR),
        ("POST", "/v1/messages", {"sender": bad, "recipients": [NUMBER], "body": "Hi"}, None),
        (
            "POST",
            "/v1/messages",
            {"sender": "Acme", "recipients": [NUMBER, bad], "body": "Hi"},
            None,
        ),
        (
            "POST",
            "/v1/messages",
            {"sender": "Acme", "recipients": [NUMBER], "body": "Hi", "reference": bad},
            None,
        ),
        ("POST", f"/v1/accounts/{tenant.id}/blocklist", {"msisdn": bad}, OPERATOR),
    ]
    for method, url, body, headers in requests:
        r = client.request(method, url, json=body, headers=headers or tenant.as_("sender"))
        assert r.status_code == 422, (url, body, r.text)
        assert problem_of(r)["errors"], r.text
    assert head(services) == before  # nothing was written
    assert_others_still_advance(client, services)


def test_a_control_character_in_the_body_stays_408_per_message(
    client: TestClient, services: Services
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    r = send(client, tenant, body="Hi\u0000there")
    assert r.status_code == 202
    assert r.json()["messages"][0]["status"]["code"] == 408
    assert r.json()["total_price"] == 0
    assert_others_still_advance(client, services)


def test_a_lone_surrogate_in_a_json_body_is_422(client: TestClient, services: Services) -> None:
    tenant = open_tenant(client)
    before = head(services)
    for raw in (
        b'{"name": "Acme\\ud800", "payment_model": "balance"}',
        b'{"name": "Acme\\udfff AB", "payment_model": "balance"}',
    ):
        r = client.post(
            "/v1/accounts", content=raw, headers={**OPERATOR, "Content-Type": "application/json"}
        )
        assert r.status_code == 422, r.text
        problem_of(r)
    r = client.post(
        "/v1/messages",
        content=b'{"sender": "Acme", "recipients": ["+46731234567"], "body": "x\\ud83d"}',
        headers={**tenant.as_("sender"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert head(services) == before


def test_right_to_left_marks_and_emoji_are_text(client: TestClient) -> None:
    r = client.post(
        "/v1/accounts",
        json={"name": "\u05d0\u05d1\u200f Café 😀", "payment_model": "balance"},
        headers=OPERATOR,
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "\u05d0\u05d1\u200f Café 😀"


def test_recipient_filter_with_a_control_character_is_422_not_500(client: TestClient) -> None:
    tenant = open_tenant(client)
    for query in ("recipient=%00", "recipient=12%0034", "recipient=%1b", "recipient=%C2%85"):
        r = client.get(f"/v1/messages?{query}", headers=tenant.as_("sender"))
        assert r.status_code == 422, (query, r.text)
        problem_of(r)
    ok = client.get("/v1/messages?recipient=12", headers=tenant.as_("sender"))
    assert ok.status_code == 200


def test_a_blocklist_number_with_a_control_character_in_the_path_is_422(
    client: TestClient,
) -> None:
    tenant = open_tenant(client)
    r = client.delete(f"/v1/accounts/{tenant.id}/blocklist/%2B4673%00", headers=OPERATOR)
    assert r.status_code == 422
    problem_of(r)


# --- 1. strict types: no bool, string or float for an integer, times are ISO strings -----


@pytest.mark.parametrize(
    "raw",
    [
        b'{"amount": true, "reference": "r"}',
        b'{"amount": "100", "reference": "r"}',
        b'{"amount": 100.0, "reference": "r"}',
        b'{"amount": 1e3, "reference": "r"}',
        b'{"amount": 9223372036854775808, "reference": "r"}',
        b'{"amount": 18446744073709551616, "reference": "r"}',
        b'{"amount": NaN, "reference": "r"}',
    ],
)
def test_a_top_up_amount_that_is_no_json_integer_is_422_and_credits_nothing(
    client: TestClient, raw: bytes
) -> None:
    tenant = open_tenant(client)
    r = client.post(
        f"/v1/accounts/{tenant.id}/top-ups",
        content=raw,
        headers={**OPERATOR, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    problem_of(r)
    assert client.get(f"/v1/accounts/{tenant.id}", headers=OPERATOR).json()["balance"] == 0


@pytest.mark.parametrize(
    "extra",
    [
        {"validity_period": "600"},
        {"validity_period": True},
        {"validity_period": 600.0},
        {"send_at": 1700000000},
        {"send_at": "1700000000"},
        {"send_at": "2026-11-03"},
        {"send_at": "2026-11-03T10:00:00"},
        {"send_at": "0001-01-01T00:00:00+14:00"},
        {"send_at": "9999-12-31T23:59:59-14:00"},
    ],
)
def test_a_send_with_a_lax_number_or_time_is_422_and_charges_nothing(
    client: TestClient, services: Services, extra: dict[str, Any]
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    before = head(services)
    r = send(client, tenant, **extra)
    assert r.status_code == 422, (extra, r.text)
    problem_of(r)
    assert head(services) == before
    assert client.get(f"/v1/accounts/{tenant.id}", headers=OPERATOR).json()["balance"] == 10_000


def test_a_send_time_with_an_offset_is_taken(client: TestClient) -> None:
    tenant = open_tenant(client, top_up=10_000)
    for send_at in ("2026-11-03T10:00:00+01:00", "2026-11-03T09:00:00Z", "2026-11-03 09:00Z"):
        r = send(client, tenant, send_at=send_at)
        assert r.status_code == 202, (send_at, r.text)


@pytest.mark.parametrize(
    "query",
    [
        "created_after=1700000000",
        "created_after=2026-11-02",
        "created_after=2026-11-02T09:00:00",
        "created_before=0001-01-01T00:00:00%2B14:00",
        "created_before=9999-12-31T23:59:59-14:00",
        "created_after=1969-12-31T23:59:59Z",
    ],
)
def test_a_time_filter_that_is_no_supported_time_is_422(client: TestClient, query: str) -> None:
    tenant = open_tenant(client)
    r = client.get(f"/v1/messages?{query}", headers=tenant.as_("sender"))
    assert r.status_code == 422, r.text
    problem_of(r)


def test_history_as_of_out_of_range_is_422(client: TestClient) -> None:
    tenant = open_tenant(client, top_up=10_000)
    message_id = send(client, tenant).json()["messages"][0]["id"]
    for as_of in ("0001-01-01T00:00:00%2B14:00", "9999-12-31T23:59:59-14:00", "1700000000"):
        r = client.get(
            f"/v1/messages/{message_id}/history?as_of={as_of}", headers=tenant.as_("support")
        )
        assert r.status_code == 422, r.text
        problem_of(r)


# --- 1. delivery reports: an out-of-range time is that report's invalid outcome ----------


def test_a_delivery_report_time_out_of_range_is_invalid_not_500(
    client: TestClient, services: Services
) -> None:
    tenant = open_tenant(client, top_up=10_000)
    message_id = send(client, tenant).json()["messages"][0]["id"]
    times = [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "1969-12-31T23:59:59+00:00",
        "3000-01-01T00:00:00+00:00",
        1700000000,
        "2026-11-02T09:00:05",
    ]
    reports = [{"message_id": message_id, "status_code": 201, "at": at} for at in times]
    r = client.post("/v1/delivery-reports", json={"reports": reports}, headers=OPERATOR)
    assert r.status_code == 200, r.text
    assert [x["outcome"] for x in r.json()["results"]] == ["invalid"] * len(times)
    good = {"message_id": message_id, "status_code": 201, "at": "2026-11-02T09:00:05Z"}
    r = client.post("/v1/delivery-reports", json={"reports": [good]}, headers=OPERATOR)
    assert r.json()["results"][0]["outcome"] == "applied"
    assert_others_still_advance(client, services)


# --- 1. periods: YYYY-MM in ASCII digits, 1970-2999 --------------------------------------


@pytest.mark.parametrize(
    "period", ["0000-01", "9999-12", "１２３４-01", "2026-１1", "1969-12", "3000-01"]
)
def test_a_period_outside_the_supported_years_or_not_ascii_is_422_and_writes_nothing(
    client: TestClient, services: Services, period: str
) -> None:
    tenant = open_tenant(client, payment_model="post_invoice")
    before = head(services)
    base = f"/v1/accounts/{tenant.id}"
    answers = [
        client.post(f"{base}/invoices/{period}/issue", headers=OPERATOR),
        client.get(f"{base}/invoices/{period}", headers=OPERATOR),
        client.get(f"{base}/ledger", params={"period": period}, headers=OPERATOR),
        client.get("/v1/reconciliation", params={"period": period}, headers=OPERATOR),
    ]
    for r in answers:
        assert r.status_code == 422, (r.url, r.text)
        problem_of(r)
    assert head(services) == before


def test_the_first_and_last_supported_periods_answer(client: TestClient) -> None:
    tenant = open_tenant(client, payment_model="post_invoice")
    for period in ("1970-01", "2999-12"):
        r = client.get(f"/v1/accounts/{tenant.id}/invoices/{period}", headers=OPERATOR)
        assert r.status_code == 200, r.text
    issued = client.post(f"/v1/accounts/{tenant.id}/invoices/1970-01/issue", headers=OPERATOR)
    assert issued.status_code == 200, issued.text
    early = client.post(f"/v1/accounts/{tenant.id}/invoices/2999-12/issue", headers=OPERATOR)
    assert early.status_code == 409


# --- 1. cursors: malformed, out of range or overflowing are 422 on both databases --------


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(parts)).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("2026-11-02T09:00:00+00:00", 2**63),
        _cursor("2026-11-02T09:00:00+00:00", 2**64 - 1),
        _cursor("2026-11-02T09:00:00+00:00", -1),
        _cursor("0001-01-01T00:00:00+14:00", 1),
        _cursor("9999-12-31T23:59:59-14:00", 1),
        _cursor("2026-11-02T09:00:00", 1),
        _cursor("not a time", 1),
        _cursor(1, 2),
        "%00",
        "abc%00def",
        "!!!!",
        "e30",  # {}
    ],
)
def test_a_forged_message_cursor_is_422(client: TestClient, cursor: str) -> None:
    tenant = open_tenant(client)
    r = client.get(f"/v1/messages?cursor={cursor}", headers=tenant.as_("sender"))
    assert r.status_code == 422, (cursor, r.text)
    assert problem_of(r)["errors"]


@pytest.mark.parametrize(
    "cursor", [_cursor(2**63), _cursor(2**64 - 1), _cursor(-1), _cursor("1"), "%00", "a=b"]
)
def test_a_forged_ledger_cursor_is_422(client: TestClient, cursor: str) -> None:
    tenant = open_tenant(client)
    r = client.get(f"/v1/accounts/{tenant.id}/ledger?cursor={cursor}", headers=OPERATOR)
    assert r.status_code == 422, (cursor, r.text)
    problem_of(r)


def test_a_cursor_we_gave_out_still_pages(client: TestClient, services: Services) -> None:
    tenant = open_tenant(client, top_up=100_000)
    send(client, tenant, recipients=[NUMBER, "+46731234568", "+46731234569"])
    catch_up(services)
    first = client.get("/v1/messages?limit=2", headers=tenant.as_("sender")).json()
    second = client.get(
        f"/v1/messages?limit=2&cursor={first['next_cursor']}", headers=tenant.as_("sender")
    )
    assert second.status_code == 200
    assert len(first["items"]) + len(second.json()["items"]) == 3


# --- 2. the right codes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "\xff\xfe", "payment_model": "balance"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"name": "A", "payment_model": "balance"',
        b'{"name": "A", "payment_model": "balance", "x": NaN}',
    ],
    ids=["invalid-utf8", "5000-deep", "truncated", "nan"],
)
def test_a_body_that_is_not_json_is_422_problem(client: TestClient, raw: bytes) -> None:
    r = client.post(
        "/v1/accounts", content=raw, headers={**OPERATOR, "Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    body = problem_of(r)
    assert body["errors"][0]["type"] == "json_invalid"


def test_malformed_json_without_a_token_is_401(client: TestClient) -> None:
    for url in ("/v1/accounts", "/v1/messages", "/v1/delivery-reports"):
        for headers in ({}, bearer("nope"), bearer("sk_sender_forged")):
            r = client.post(
                url, content=b"{not json", headers={**headers, "Content-Type": "application/json"}
            )
            assert r.status_code == 401, (url, r.text)
            assert r.headers["WWW-Authenticate"] == "Bearer"
            problem_of(r)


def test_malformed_json_from_a_role_that_may_not_is_403(client: TestClient) -> None:
    tenant = open_tenant(client)
    r = client.post(
        "/v1/accounts",
        content=b"{not json",
        headers={**tenant.as_("admin"), "Content-Type": "application/json"},
    )
    assert r.status_code == 403
    problem_of(r)
    allowed = client.post(
        "/v1/messages",
        content=b"{not json",
        headers={**tenant.as_("sender"), "Content-Type": "application/json"},
    )
    assert allowed.status_code == 422


def test_every_422_carries_its_errors(client: TestClient) -> None:
    tenant = open_tenant(client)
    # One from the schema, one from the domain (a cursor), one from the body's parse.
    for r in (
        client.post("/v1/accounts", json={"name": 5}, headers=OPERATOR),
        client.get("/v1/messages?cursor=e30", headers=tenant.as_("sender")),
        client.post(
            "/v1/accounts", content=b"{", headers={**OPERATOR, "Content-Type": "application/json"}
        ),
    ):
        assert r.status_code == 422
        errors = problem_of(r)["errors"]
        assert errors
        for error in errors:
            assert set(error) == {"loc", "msg", "type"}


# --- 4. one timestamp format everywhere --------------------------------------------------

_RFC3339_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
_TIMEISH = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _times(value: Any) -> list[str]:
    """Every string in an answer that looks like a time, but for a report's ``raw``
    payload: that is the carrier's own text, kept as it came."""
    if isinstance(value, dict):
        return [t for k, v in value.items() if k != "raw" for t in _times(v)]
    if isinstance(value, list):
        return [t for v in value for t in _times(v)]
    return [value] if isinstance(value, str) and _TIMEISH.match(value) else []


def test_every_time_the_api_answers_is_rfc3339_utc_with_z(
    client: TestClient, services: Services
) -> None:
    tenant = open_tenant(client, top_up=100_000)
    client.post(
        f"/v1/accounts/{tenant.id}/blocklist", json={"msisdn": "+46701234567"}, headers=OPERATOR
    )
    sent = send(
        client, tenant, recipients=[NUMBER, "+46731234568"], send_at="2026-11-02T11:00:00+01:00"
    )
    first, second = (m["id"] for m in sent.json()["messages"])
    report = {"message_id": first, "status_code": 113, "at": "2026-11-02T10:00:05+01:00"}
    client.post("/v1/delivery-reports", json={"reports": [report]}, headers=OPERATOR)
    canceled = client.post(f"/v1/messages/{second}/cancel", headers=tenant.as_("sender"))
    catch_up(services)
    answers = {
        "read (hot path)": client.get(f"/v1/messages/{first}", headers=tenant.as_("sender")),
        "read (standard)": client.get(
            f"/v1/messages/{first}", headers={**tenant.as_("sender"), "X-Ledger-Min-Position": "1"}
        ),
        "list": client.get("/v1/messages", headers=tenant.as_("sender")),
        "cancel": canceled,
        "history": client.get(f"/v1/messages/{first}/history", headers=tenant.as_("support")),
        "ledger": client.get(f"/v1/accounts/{tenant.id}/ledger", headers=OPERATOR),
        "blocklist": client.get(f"/v1/accounts/{tenant.id}/blocklist", headers=OPERATOR),
    }
    for route, r in answers.items():
        assert r.status_code == 200, (route, r.text)
        times = _times(r.json())
        assert times, route
        for t in times:
            assert _RFC3339_Z.fullmatch(t), (route, t)
    # The same instant reads the same on the hot path and the standard one.
    hot, standard = answers["read (hot path)"].json(), answers["read (standard)"].json()
    assert (
        hot["created_at"]
        == standard["created_at"]
        == answers["list"].json()["items"][0]["created_at"]
    )


@pytest.mark.parametrize(
    "query", ["limit=1.0", "limit=5_0", "limit=%205", "status=2_01", "limit=١٠"]
)
def test_a_query_integer_is_ascii_digits(client: TestClient, query: str) -> None:
    tenant = open_tenant(client)
    r = client.get(f"/v1/messages?{query}", headers=tenant.as_("sender"))
    assert r.status_code == 422, (query, r.text)
    problem_of(r)
    for bad in ("1_0", "1.0", " 1"):
        r = client.get(
            "/v1/messages", headers={**tenant.as_("sender"), "X-Ledger-Min-Position": bad}
        )
        assert r.status_code == 422, bad
