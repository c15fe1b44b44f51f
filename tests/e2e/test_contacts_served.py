"""A contact book through a real ``smsledger serve``: import a CSV file, send to a group,
export; on the embedded default (SQLite) and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from smsledger.adapters.migrate import migrate
from tests.e2e.serving import clean_env, serve
from tests.support import drop_postgres, new_postgres_database, url_of

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow  # a real process per database, as the other served tests

OPERATOR = "a-long-enough-operator-token-for-tests"
BOOK = (
    "\ufeffmsisdn;first_name;last_name;groups\n"
    "070-123 45 67;Ann;Lind;Friends\n"
    "+46 70 123 45 68;Bo;Ek;friends|Work\n"
    "0046701234569;Cy;;friends\n"
    "not a number;Dan;;friends\n"
).encode()


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    base = {"SMSLEDGER_OPERATOR_TOKEN": OPERATOR, "SMSLEDGER_GATEWAY": "none"}
    if request.param == "sqlite":
        yield clean_env(**base, SMSLEDGER_DATABASE_URL=f"sqlite:///{tmp_path / 'ledger.db'}")
        return
    db = new_postgres_database()
    migrate(db)
    try:
        yield clean_env(**base, SMSLEDGER_DATABASE_URL=url_of(db))
    finally:
        drop_postgres(db)


def test_import_a_book_and_send_to_a_group(tmp_path: Path, env: dict[str, str]) -> None:
    with serve(tmp_path, env) as served, httpx.Client(base_url=served.url, timeout=30) as http:
        op = {"Authorization": f"Bearer {OPERATOR}"}
        account = http.post(
            "/v1/accounts", json={"name": "Acme", "payment_model": "balance"}, headers=op
        ).json()
        admin = {"Authorization": f"Bearer {account['admin_key']}"}
        base = f"/v1/accounts/{account['id']}"
        top_up = http.post(f"{base}/top-ups", json={"amount": 1000, "reference": "t"}, headers=op)
        assert top_up.status_code == 201, top_up.text
        # The admin imports the old product's book: three contacts, one bad line.
        r = http.post(
            f"{base}/contacts/import?country=SE",
            content=BOOK,
            headers={**admin, "Content-Type": "text/csv; charset=utf-8"},
        )
        assert r.status_code == 200, r.text
        assert r.json() == {
            "created": 3,
            "updated": 0,
            "unchanged": 0,
            "rejected": [{"line": 5, "reason": r.json()["rejected"][0]["reason"]}],
        }
        wait = {"X-Ledger-Min-Position": r.headers["X-Ledger-Position"]}
        groups = http.get(f"{base}/groups", headers={**admin, **wait}).json()["items"]
        assert [(g["name"], g["members"]) for g in groups] == [("Friends", 3), ("Work", 1)]
        # Bo is blocked; a send to Friends reaches Ann and Cy, Bo is 405, unpaid.
        r = http.post(f"{base}/blocklist", json={"msisdn": "+46701234568"}, headers=admin)
        assert r.status_code == 201, r.text
        r = http.post(
            "/v1/messages",
            json={"sender": "Acme", "groups": ["FRIENDS"], "body": "Hej!", "reference": "g1"},
            headers={**admin, **wait},
        )
        assert r.status_code == 202, r.text
        receipt = r.json()
        assert [(m["recipient"], m["status"]["code"]) for m in receipt["messages"]] == [
            ("+46701234567", 103),
            ("+46701234568", 405),
            ("+46701234569", 103),
        ]
        assert receipt["total_price"] == 90
        # The same reference again: the same receipt, nothing charged twice.
        again = http.post(
            "/v1/messages",
            json={"sender": "Acme", "groups": ["FRIENDS"], "body": "Hej!", "reference": "g1"},
            headers=admin,
        )
        assert again.json() == receipt
        assert http.get(base, headers=admin).json()["balance"] == 1000 - 90
        # The export reads back as the same book.
        export = http.get(f"{base}/contacts/export", headers={**admin, **wait})
        assert export.status_code == 200
        lines = export.content.decode("utf-8-sig").splitlines()
        assert lines == [
            "msisdn,first_name,last_name,groups",
            "+46701234567,Ann,Lind,Friends",
            "+46701234568,Bo,Ek,Friends|Work",
            "+46701234569,Cy,,Friends",
        ]
