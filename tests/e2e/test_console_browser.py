"""The console in a real headless Chromium (Debian's ``chromium``, driven by Playwright;
no browser is ever downloaded) against a real ``smsledger serve``, on both databases.

One served process and one browser per database for the whole scenario (module-scoped,
logged in once; each test starts from a page of its own, so none needs another to run
first): log in, find a message and step its "as of"
control, open an invoice and drill down to an event, download the reconciliation CSV
and check its sums, try another account's id, submit a form without its CSRF token.
The SQLite run takes screenshots of the main pages: into a scratch folder on an ordinary
run, into docs/console/ (the README's) with ``make screenshots``
(``SMSLEDGER_SCREENSHOTS=docs/console``), so a test run leaves the checkout unchanged.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from smsledger.adapters.migrate import migrate
from smsledger.adapters.storage import Database
from tests.e2e.serving import Served, clean_env, serve
from tests.support import drop_postgres, new_postgres_database, url_of

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, Page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ.get("SMSLEDGER_SCREENSHOTS") or tempfile.mkdtemp(prefix="console-shots-"))
OPERATOR_TOKEN = "op-browser-token-0123456789abcdef"
OP = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}

pytestmark = [
    pytest.mark.xdist_group("console-browser"),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="no chromium: `apt-get install -y chromium` (make test does it as root)",
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")


@dataclass
class Scene:
    """What the scenario set up over the API, and the browser it drives."""

    kind: str
    url: str
    account_id: str
    admin_key: str
    message_id: str
    other_message_id: str
    period: str
    invoice_total: int
    page: Page
    seen: dict[str, Any] = field(default_factory=dict)

    def shot(self, name: str, *, full_page: bool = True) -> None:
        if self.kind == "sqlite":  # one set of pictures, from the embedded default
            SHOTS.mkdir(parents=True, exist_ok=True)
            path = SHOTS / f"{name}.png"
            self.page.screenshot(path=str(path), full_page=full_page)
            assert path.read_bytes().startswith(b"\x89PNG"), path


def _api(served: Served, method: str, path: str, key: str | None = None, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else dict(OP)
    headers.update(kw.pop("headers", {}))
    r = httpx.request(method, served.url + path, headers=headers, timeout=30, **kw)
    assert r.status_code < 300, r.text
    return r


def _open(served: Served, name: str) -> tuple[str, str, str]:
    body = _api(
        served,
        "POST",
        "/v1/accounts",
        json={"name": name, "payment_model": "balance", "currency": "SEK"},
    ).json()
    account_id, admin = body["id"], body["admin_key"]
    _api(
        served,
        "POST",
        f"/v1/accounts/{account_id}/top-ups",
        json={"amount": 500_000, "reference": f"shop-{name}"},
    )
    sender = _api(
        served, "POST", f"/v1/accounts/{account_id}/keys", admin, json={"role": "sender"}
    ).json()["key"]
    return account_id, admin, sender


def _send(served: Served, sender: str, recipients: list[str], reference: str) -> Any:
    return _api(
        served,
        "POST",
        "/v1/messages",
        sender,
        json={
            "sender": "Acme",
            "recipients": recipients,
            "body": "Your table",
            "reference": reference,
        },
    )


def _setup(served: Served) -> dict[str, Any]:
    account_id, admin, sender = _open(served, "Acme AB")
    first = _send(served, sender, ["+46731234567", "+46731234568", "+46731234569"], "dinner-1")
    message_id = first.json()["messages"][0]["id"]
    reports = [
        {
            "message_id": message_id,
            "status_code": 201,
            "at": "2026-11-02T09:01:00Z",
            "raw": {"stat": "DELIVRD"},
        },
        {
            "message_id": message_id,
            "status_code": 502,
            "at": "2026-11-02T09:00:30Z",
            "raw": {"stat": "UNDELIV"},
        },
    ]
    _api(served, "POST", "/v1/delivery-reports", json={"reports": reports})
    # A canceled message is refunded; a second top-up: every kind of movement on the chart.
    _api(served, "POST", f"/v1/messages/{first.json()['messages'][2]['id']}/cancel", sender)
    _api(
        served,
        "POST",
        f"/v1/accounts/{account_id}/top-ups",
        json={"amount": 20_000, "reference": "shop-Acme AB-2"},
    )
    _api(
        served,
        "PUT",
        f"/v1/accounts/{account_id}/payment-model",
        admin,
        json={"payment_model": "post_invoice"},
    )
    last = _send(served, sender, ["+46731234567", "+4915112345678", "+4915112345679"], "dinner-2")
    other_id, _, other_sender = _open(served, "Other AB")
    other = _send(served, other_sender, ["+46701111111"], "other-1").json()["messages"][0]["id"]
    position = last.headers["X-Ledger-Position"]
    invoices = _api(
        served,
        "GET",
        f"/v1/accounts/{account_id}/invoices",
        admin,
        headers={"X-Ledger-Min-Position": position},
    ).json()["items"]
    return {
        "account_id": account_id,
        "admin_key": admin,
        "message_id": message_id,
        "other_message_id": other,
        "period": invoices[0]["period"],
        "invoice_total": invoices[0]["total"],
        "other_account_id": other_id,
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def scene(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, browser: Browser
) -> Iterator[Scene]:
    work = tmp_path_factory.mktemp(f"console-{request.param}")
    if request.param == "sqlite":
        db = Database(kind="sqlite", path=str(work / "ledger.db"))
    else:
        db = new_postgres_database()
    migrate(db)
    env = clean_env(
        SMSLEDGER_DATABASE_URL=url_of(db),
        SMSLEDGER_OPERATOR_TOKEN=OPERATOR_TOKEN,
        SMSLEDGER_GATEWAY="none",
        SMSLEDGER_LOG_LEVEL="WARNING",
    )
    try:
        with serve(work, env) as served:
            facts = _setup(served)
            context = browser.new_context(
                base_url=served.url, viewport={"width": 1280, "height": 800}, accept_downloads=True
            )
            page = context.new_page()
            _log_in(page, facts["admin_key"])  # each test below starts logged in
            try:
                yield Scene(
                    request.param,
                    served.url,
                    facts["account_id"],
                    facts["admin_key"],
                    facts["message_id"],
                    facts["other_message_id"],
                    facts["period"],
                    facts["invoice_total"],
                    page,
                    {"other_account_id": facts["other_account_id"]},
                )
            finally:
                context.close()
    finally:
        if request.param == "postgres":
            drop_postgres(db)


def _log_in(page: Page, key: str) -> None:
    page.goto("/console/messages")
    assert page.url.endswith("/console/login?next=%2Fconsole%2Fmessages")  # sent to log in
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/console/messages")


def test_1_log_in_with_a_key(scene: Scene, browser: Browser) -> None:
    context = browser.new_context(base_url=scene.url, viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto("/console/login")
        scene.page, shown = page, scene.page
        scene.shot("login", full_page=False)
        scene.page = shown
        _log_in(page, scene.admin_key)
        assert page.get_by_role("heading", name="Find a message").is_visible()
        cookie = next(c for c in context.cookies() if c["name"] == "smsledger_console")
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["value"].startswith("ss_")
        assert scene.admin_key not in cookie["value"]
    finally:
        context.close()


def test_2_find_a_message_and_step_the_as_of_control(scene: Scene) -> None:
    page = scene.page
    page.goto("/console/messages")
    page.get_by_label("Message id, batch id, batch reference or recipient").fill(scene.message_id)
    page.keyboard.press("Enter")  # keyboard alone
    page.wait_for_url(f"**/console/messages/{scene.message_id}")
    events = page.locator("#events tbody tr")
    kinds = page.locator("#events td.event").all_inner_texts()
    assert kinds[0] == "Accepted"
    assert kinds[1] == "Funded"
    assert any(k.startswith("ReportSuperseded") for k in kinds)
    assert page.locator(".tag.superseded").count() == 1
    assert "DELIVRD" in page.locator("#events").inner_text()
    assert "201 DeliveredToHandset" in page.inner_text("main")
    scene.shot("timeline")
    # Step back to the funding: the reports come after, greyed; the status then is 103.
    events.nth(1).get_by_role("link", name="as of this").click()
    page.wait_for_url("**as_of=**")
    assert "103 Funded" in page.locator("#status-then").inner_text()
    assert page.locator("#events tr.later").count() == len(kinds) - 2
    # And forward, by the form: as of now, nothing is later.
    page.get_by_label("As of", exact=False).fill("2999-01-01T00:00:00Z")
    page.get_by_role("button", name="Show as of").click()
    page.wait_for_url("**as_of=2999**")
    assert "201 DeliveredToHandset" in page.locator("#status-then").inner_text()
    assert page.locator("#events tr.later").count() == 0
    # On a phone, the same page still reads (the table scrolls inside its box).
    page.set_viewport_size({"width": 390, "height": 844})
    scene.shot("timeline-phone", full_page=False)
    page.set_viewport_size({"width": 1280, "height": 800})


def test_3_open_an_invoice_and_drill_down_to_an_event(scene: Scene) -> None:
    page = scene.page
    page.goto("/console/messages")
    page.get_by_role("link", name="Money").click()
    page.wait_for_url(f"**/console/accounts/{scene.account_id}")
    for kind in ("top_up", "charge", "refund"):
        assert page.locator(f"svg.chart circle.kind-{kind}").count() >= 1, kind
    balance = page.locator("#balance").inner_text()
    assert balance.endswith("kr")
    assert "\u00a0" in balance  # the Swedish thousands separator
    scene.shot("account")
    page.get_by_role("link", name="Invoices").click()
    page.get_by_role("link", name=scene.period).first.click()
    page.wait_for_url(f"**/invoices/{scene.period}")
    total = page.locator("#invoice-total").inner_text()
    assert total.replace("\u00a0", " ").endswith("kr")
    scene.shot("invoice")
    page.get_by_text("its messages").first.click()
    page.wait_for_url("**/messages?line=**")
    rows = page.locator("#line-messages tbody tr")
    assert rows.count() >= 1
    rows.first.get_by_role("link").first.click()
    page.wait_for_url("**/console/messages/**")
    kinds = page.locator("#events td.event").all_inner_texts()
    assert kinds[:2] == ["Accepted", "Funded"]
    assert "charged to the invoice" in page.inner_text("main")


def test_4_download_the_reconciliation_csv_and_check_its_sums(scene: Scene) -> None:
    page = scene.page
    page.goto("/console/messages")
    page.get_by_role("link", name="Reconciliation").click()
    page.get_by_label("Period (YYYY-MM)").fill(scene.period)
    page.get_by_role("button", name="Show").click()
    assert page.locator("#verdict").inner_text() == "Everything adds up."
    scene.shot("reconciliation")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    path = download.value.path()
    assert download.value.suggested_filename == f"reconciliation-{scene.period}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text())))
    figures = {r["name"]: int(r["value"]) for r in rows if r["row"] == "figure"}
    assert figures["top_ups"] == 520_000
    assert figures["refunded_to_balance"] == 45
    assert figures["messages_charged"] == 6
    assert figures["balance_movement"] == (
        figures["top_ups"] - figures["charged_to_balance"] + figures["refunded_to_balance"]
    )
    assert figures["invoice_total"] == scene.invoice_total
    assert (
        figures["charged_to_invoice"] - figures["refunded_on_invoice"] + figures["fees"]
        == (figures["invoice_total"])
    )
    assert not [r for r in rows if r["row"] == "discrepancy"]


def test_5_another_accounts_ids_are_404(scene: Scene) -> None:
    page = scene.page
    for url in (
        f"/console/messages/{scene.other_message_id}",
        f"/console/accounts/{scene.seen['other_account_id']}",
        f"/console/accounts/{scene.seen['other_account_id']}/invoices/{scene.period}",
    ):
        response = page.goto(url)
        assert response is not None
        assert response.status == 404, url
        assert "Other AB" not in page.content()
    scene.shot("not-found", full_page=False)


def test_6_a_form_without_its_csrf_token_is_rejected(scene: Scene) -> None:
    page = scene.page
    page.goto(f"/console/accounts/{scene.account_id}/blocklist")
    page.get_by_label("Number").fill("+46739999999")
    page.locator("form input[name=csrf]").evaluate_all("els => els.forEach(e => e.remove())")
    with page.expect_response("**/blocklist") as answer:
        page.get_by_role("button", name="Block").click()
    assert answer.value.status == 403
    assert "CSRF" in page.inner_text("main")
    listed = httpx.get(
        f"{scene.url}/v1/accounts/{scene.account_id}/blocklist",
        headers={"Authorization": f"Bearer {scene.admin_key}"},
    ).json()["items"]
    assert listed == []  # nothing changed
    # With the token (a fresh page), the same form works.
    page.goto(f"/console/accounts/{scene.account_id}/blocklist")
    page.get_by_label("Number").fill("+46739999999")
    page.get_by_role("button", name="Block").click()
    page.wait_for_url("**/blocklist")
    assert "+46739999999" in page.locator("#blocked").inner_text()
    scene.shot("blocklist", full_page=False)


def test_7_the_navigation_opens_inbound_sms_and_webhook_deliveries(scene: Scene) -> None:
    page = scene.page
    page.goto(f"/console/accounts/{scene.account_id}/inbound")
    assert page.locator("h1").inner_text() == "Inbound SMS"
    assert page.get_by_role("link", name="Inbound SMS").get_attribute("aria-current") == "page"
    assert "No SMS received yet." in page.locator("#inbound").inner_text()
    # Keyboard only: the navigation's next link is the webhook page.
    page.get_by_role("link", name="Inbound SMS").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/webhook/deliveries")
    assert page.locator("h1").inner_text() == "Webhook deliveries"
    assert "This account has no webhook." in page.inner_text("main")
