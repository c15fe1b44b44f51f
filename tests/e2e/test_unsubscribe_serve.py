"""The unsubscribe link through a real ``smsledger serve`` with ``SMSLEDGER_PUBLIC_URL``
set, on SQLite and PostgreSQL: send, read the link from GET /v1/messages/{id}, open it,
press the button, and the number is blocked."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest

from smsledger.adapters.migrate import migrate
from tests.e2e.serving import clean_env, serve
from tests.support import drop_postgres, new_postgres_database, url_of

if TYPE_CHECKING:
    from pathlib import Path

PUBLIC_URL = "https://sms.example.test/out"
TOKEN = "an-operator-token-for-this-test"
NUMBER = "+46731234567"


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_send_then_follow_the_link_from_the_message(tmp_path: Path, kind: str) -> None:
    env = clean_env(
        SMSLEDGER_PUBLIC_URL=PUBLIC_URL + "/",  # a trailing slash is dropped
        SMSLEDGER_OPERATOR_TOKEN=TOKEN,
        SMSLEDGER_GATEWAY="none",
        SMSLEDGER_DATABASE_URL=f"sqlite:///{tmp_path / 'ledger.db'}",
    )
    db = None
    if kind == "postgres":
        db = new_postgres_database()
        migrate(db)
        env["SMSLEDGER_DATABASE_URL"] = url_of(db)
    try:
        with serve(tmp_path, env) as served, httpx.Client(base_url=served.url) as http:
            op = {"Authorization": f"Bearer {TOKEN}"}
            account = http.post(
                "/v1/accounts",
                json={"name": "Acme AB", "payment_model": "post_invoice"},
                headers=op,
            ).json()
            admin = {"Authorization": f"Bearer {account['admin_key']}"}
            r = http.put(
                f"/v1/accounts/{account['id']}/stop-service",
                json={"sms_stop": False, "unsubscribe_link": True},
                headers=admin,
            )
            assert r.status_code == 200, r.text
            r = http.post(
                "/v1/messages",
                json={"sender": "Acme", "recipients": [NUMBER], "body": "Your table is ready!"},
                headers=admin,
            )
            assert r.status_code == 202, r.text
            message_id = r.json()["messages"][0]["id"]
            position = r.headers["x-ledger-position"]

            # The link, as the recipient gets it, from GET /v1/messages/{id}.
            message = http.get(
                f"/v1/messages/{message_id}",
                headers={**admin, "X-Ledger-Min-Position": position},
            ).json()
            assert message["body"] == r.json()["messages"][0]["body"]
            found = re.fullmatch(
                r"Your table is ready!\n" + re.escape(PUBLIC_URL) + r"/u/([A-Za-z0-9_-]{16})",
                message["body"],
            )
            assert found is not None, message["body"]
            path = "/u/" + found.group(1)

            page = http.get(path)
            assert page.status_code == 200
            assert "Acme AB" in page.text
            assert "+4673•••••67" in page.text
            assert NUMBER not in page.text
            # The browser posts the form from the public address: its Origin is ours.
            done = http.post(
                path,
                data={"token": found.group(1)},
                headers={"Origin": "https://sms.example.test"},
            )
            assert (done.status_code, "You are unsubscribed" in done.text) == (200, True)
            again = http.post(path, data={"token": found.group(1)})
            assert (again.status_code, "Already unsubscribed" in again.text) == (200, True)

            items = http.get(f"/v1/accounts/{account['id']}/blocklist", headers=admin).json()
            assert [(i["msisdn"], i["source"]) for i in items["items"]] == [
                (NUMBER, "unsubscribe_link")
            ]
            missing = http.get("/u/nope")
            assert missing.status_code == 404
            assert missing.headers["content-type"].startswith("text/html")
    finally:
        if db is not None:
            drop_postgres(db)
