"""Property: no text a tenant can send stops anyone else, on both databases.

Hypothesis puts arbitrary Unicode (NUL and other controls, lone surrogates, right-to-left
marks and overrides, noncharacters, emoji, combining marks) into every text field of
every write route, sent as a client would (JSON escaped, or raw UTF-8 with the
surrogates as the invalid bytes they become), and into path segments. After each
example: no answer was a 5xx, every error was a problem document, the read models
still caught up, ANOTHER account's write reached them, and no view row holds a
character the domain refuses.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import OPERATOR, catch_up, open_tenant
from tests.e2e.test_input_edge import assert_views_clean

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from smsledger.bootstrap import Services
    from tests.e2e.conftest import Tenant

NASTY = [
    "\x00",
    "\x01",
    "\x1b",
    "\x7f",
    "\x85",
    "\t",
    "\n",
    "\ud800",
    "\udfff",
    "\ud83d",
    "\u200f",
    "\u202e",
    "\u2066",
    "\u2028",
    "\ufeff",
    "\ufffe",
    "\uffff",
    "\U0010ffff",
    "\u0301",
    "😀",
    "👩\u200d💻",
    "%00",
    "\\u0000",
    "'",
    '"',
    "/",
]
NUMBER = "+46731234567"

text = st.lists(
    st.one_of(
        st.sampled_from(NASTY),
        st.characters(exclude_categories=()),
        st.sampled_from(["Acme", "46731234567", "+4673", "2026-11-02T09:00:00Z", "SEK", "12"]),
    ),
    max_size=8,
).map("".join)
maybe_text = st.one_of(text, st.just(NUMBER), st.just("Acme"))


def _json_bytes(body: Any, raw_utf8: bool) -> bytes:
    """``body`` as a client sends it: ASCII with escapes, or raw UTF-8 (a lone surrogate
    then becomes the invalid bytes it encodes to)."""
    if raw_utf8:
        return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(body).encode()


def _segment(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


@st.composite
def write_requests(draw: st.DrawFn, tenant_id: str, message_id: str) -> tuple[str, str, Any, str]:
    """One write to one route with text in every text field: method, URL, body, role."""
    route = draw(st.integers(0, 8))
    account = f"/v1/accounts/{tenant_id}"
    body: dict[str, Any]
    if route == 0:
        body = {
            "name": draw(maybe_text),
            "payment_model": draw(st.sampled_from(["balance", "post_invoice"]) | text),
            "currency": draw(st.just("SEK") | text),
            "timezone": draw(st.just("Europe/Stockholm") | text),
        }
        return "POST", "/v1/accounts", body, "operator"
    if route == 1:
        return "POST", f"{account}/top-ups", {"amount": 100, "reference": draw(text)}, "operator"
    if route == 2:
        body = {
            "sender": draw(maybe_text),
            "recipients": draw(st.lists(maybe_text, min_size=1, max_size=3)),
            "body": draw(maybe_text),
        }
        if draw(st.booleans()):
            body["reference"] = draw(text)
        if draw(st.booleans()):
            body["send_at"] = draw(text)
        return "POST", "/v1/messages", body, "sender"
    if route == 3:
        return "POST", f"{account}/blocklist", {"msisdn": draw(maybe_text)}, "operator"
    if route == 4:
        return "DELETE", f"{account}/blocklist/{_segment(draw(text))}", None, "operator"
    if route == 5:
        report: dict[str, Any] = {
            "message_id": draw(st.just(message_id) | text),
            "status_code": draw(st.sampled_from([201, 113, 599]) | text),
            "at": draw(st.just("2026-11-02T09:00:05Z") | text),
        }
        if draw(st.booleans()):
            report["raw"] = {draw(text): draw(text)}
        return "POST", "/v1/delivery-reports", {"reports": [report]}, "operator"
    if route == 6:
        return "POST", f"{account}/keys", {"role": draw(text)}, "admin"
    if route == 7:
        return "PUT", f"{account}/payment-model", {"payment_model": draw(text)}, "admin"
    return "POST", f"{account}/invoices/{_segment(draw(text))}/issue", None, "operator"


def _headers(tenant: Tenant, role: str) -> dict[str, str]:
    return dict(OPERATOR) if role == "operator" else tenant.as_(role)


def test_no_text_in_any_write_stops_the_read_models_of_another_account(
    client: TestClient, services: Services
) -> None:
    tenant = open_tenant(client, top_up=1_000_000)
    bystander = open_tenant(client, name="Bystander", top_up=1_000_000)
    first = client.post(
        "/v1/messages",
        json={"sender": "Acme", "recipients": [NUMBER], "body": "hi"},
        headers=tenant.as_("sender"),
    )
    message_id = first.json()["messages"][0]["id"]

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(
        requests=st.lists(write_requests(tenant.id, message_id), min_size=1, max_size=3),
        raw_utf8=st.booleans(),
    )
    def example(requests: list[tuple[str, str, Any, str]], raw_utf8: bool) -> None:
        for method, url, body, role in requests:
            headers = _headers(tenant, role)
            content = None
            if body is not None:
                content = _json_bytes(body, raw_utf8)
                headers["Content-Type"] = "application/json"
            r = client.request(method, url, content=content, headers=headers)
            assert r.status_code < 500, (method, url, body, r.status_code, r.text)
            if r.status_code >= 400:
                assert r.headers["content-type"].startswith("application/problem+json"), r.text
        # The read models follow the log to its head, whatever was written ...
        catch_up(services)
        # ... and another account's write still reaches them.
        sent = client.post(
            "/v1/messages",
            json={"sender": "Other", "recipients": [NUMBER], "body": "still here"},
            headers=bystander.as_("sender"),
        )
        assert sent.status_code == 202, sent.text
        catch_up(services)
        read = client.get(
            f"/v1/messages/{sent.json()['messages'][0]['id']}",
            headers={
                **bystander.as_("sender"),
                "X-Ledger-Min-Position": sent.headers["X-Ledger-Position"],
            },
        )
        assert read.status_code == 200, read.text
        assert_views_clean(services)

    example()
