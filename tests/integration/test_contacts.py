"""The contact book on both databases: a repeat Save is one contact, changes move the
member counts, a messy import's exact counts, a repeat import, and export round trips."""

from __future__ import annotations

import threading
from uuid import UUID

from smsledger.adapters.storage import Database
from smsledger.application.ledger import Ledger
from smsledger.domain.contact_csv import export_lines, import_id_for, parse_contacts_csv
from smsledger.domain.contacts import contact_id_for, group_id_for
from smsledger.projections.db import ViewDatabase
from tests.support import FakeClock, ReadSide
from tests.unit.test_contacts import MESSY


def counts(read: ReadSide, account: UUID) -> dict[str, int]:
    read.runner.catch_up()
    items, _ = read.groups(account)
    return {g["name"]: g["members"] for g in items}


def test_save_twice_by_sms_gives_one_contact(ledger: Ledger, views: ViewDatabase) -> None:
    read = ReadSide(ledger, views)
    account = ledger.open_account("Acme").value.id
    # The recipient texts "Save Ann Lind friends", then "Save Ann Lind Friends".
    first = ledger.save_contact(
        account,
        "46701234567",
        first_name="Ann",
        last_name="Lind",
        groups=["friends"],
        source="inbound_save",
        origin={"inbound_message_id": "sms-1"},
    )
    second = ledger.save_contact(
        account,
        "+46 70 123 45 67",
        first_name="Ann",
        last_name="Lind",
        groups=["Friends"],
        source="inbound_save",
        origin={"inbound_message_id": "sms-2"},
    )
    assert (first.value.outcome, second.value.outcome) == ("created", "unchanged")
    assert second.position is None
    read.runner.catch_up()
    items, _ = read.contacts(account)
    assert [(c["msisdn"], c["groups"], c["source"]) for c in items] == [
        ("+46701234567", ["friends"], "inbound_save")
    ]
    assert counts(read, account) == {"friends": 1}
    # Why does the contact exist? Its first event says: the SMS it came from.
    assert ledger.get_contact(first.value.contact.id, account).source == "inbound_save"
    stored = ledger.recorder.select_events(first.value.contact.id)
    assert b"sms-1" in stored[0].state


def test_two_writers_saving_one_new_number_make_one_contact(
    database: Database, clock: FakeClock, views: ViewDatabase
) -> None:
    # Two processes (two ledgers: no shared turn) save the same new number at once.
    apps = [Ledger(database.eventsourcing_env(), clock=clock) for _ in range(2)]
    try:
        account = apps[0].open_account("Acme").value.id
        outcomes: list[str] = []
        barrier = threading.Barrier(2)

        def save(app: Ledger, name: str) -> None:
            barrier.wait()
            written = app.save_contact(
                account,
                "+46701234567",
                first_name=name,
                last_name="",
                groups=["vip"],
                source="manual",
            )
            outcomes.append(written.value.outcome)

        threads = [
            threading.Thread(target=save, args=(a, n)) for a, n in zip(apps, "AB", strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["created", "updated"]
        read = ReadSide(apps[0], views)
        read.runner.catch_up()
        items, _ = read.contacts(account)
        assert len(items) == 1
        assert counts(read, account) == {"vip": 1}
    finally:
        for app in apps:
            app.close()


def test_member_counts_follow_adds_removals_and_deletes(
    ledger: Ledger, views: ViewDatabase
) -> None:
    read = ReadSide(ledger, views)
    account = ledger.open_account("Acme").value.id
    ann = ledger.save_contact(
        account,
        "+46701234567",
        first_name="Ann",
        last_name="Lind",
        groups=["A", "B"],
        source="manual",
    ).value.contact
    bo = ledger.save_contact(
        account, "+46701234568", first_name="Bo", last_name="Ek", groups=["a"], source="manual"
    ).value.contact
    assert counts(read, account) == {"A": 2, "B": 1}
    # Ann leaves B and joins C (a new group); Bo is deleted.
    ledger.change_contact(account, ann.id, groups=["A", "C"])
    ledger.delete_contact(account, bo.id)
    assert counts(read, account) == {"A": 1, "B": 0, "C": 1}
    items, _ = read.contacts(account, group_id_for(account, "a"))
    assert [c["msisdn"] for c in items] == ["+46701234567"]
    assert read.group_members([group_id_for(account, "c")], 10) == ["+46701234567"]
    # Bo texts Save again: the same contact, created anew, back in its group.
    again = ledger.save_contact(
        account,
        "46701234568",
        first_name="Bo",
        last_name="Ek",
        groups=["B"],
        source="inbound_save",
    ).value
    assert (again.contact.id, again.outcome) == (bo.id, "created")
    assert counts(read, account) == {"A": 1, "B": 1, "C": 1}
    items, _ = read.contacts(account)
    assert [(c["first_name"], c["groups"], c["source"]) for c in items] == [
        ("Ann", ["A", "C"], "manual"),
        ("Bo", ["B"], "inbound_save"),
    ]


def test_a_messy_import_twice_and_an_export_that_imports_back(
    ledger: Ledger, views: ViewDatabase
) -> None:
    read = ReadSide(ledger, views)
    account = ledger.open_account("Acme").value.id
    data = MESSY.encode()
    parsed = parse_contacts_csv(data, region="SE")
    first = ledger.import_contacts(account, parsed, import_id_for(account, data)).value
    assert (first.created, first.updated, first.unchanged) == (4, 0, 1)
    assert [(r.line, r.reason) for r in first.rejected][:1] == [(6, "msisdn is empty")]
    assert [r.line for r in first.rejected] == [6, 7, 8, 9]
    second = ledger.import_contacts(account, parsed, import_id_for(account, data))
    assert (second.value.created, second.value.updated, second.position) == (0, 0, None)
    # A file that changes one name and adds one contact: one update, one new.
    changed = b"msisdn,first_name\n+46701234567,Anna\n+46701234569,Cy\n+46701234599,New\n"
    third = ledger.import_contacts(
        account, parse_contacts_csv(changed), import_id_for(account, changed)
    ).value
    assert (third.created, third.updated, third.unchanged, third.rejected) == (1, 1, 1, [])
    assert counts(read, account) == {"Friends": 2, "Work": 1}

    # Export, then import into another account: the same book.
    items, _ = read.contacts(account, limit=1000)
    exported = "".join(
        export_lines((c["msisdn"], c["first_name"], c["last_name"], c["groups"]) for c in items)
    ).encode()
    other = ledger.open_account("Other").value.id
    back = ledger.import_contacts(
        other, parse_contacts_csv(exported), import_id_for(other, exported)
    ).value
    assert (back.created, back.rejected) == (len(items), [])
    read.runner.catch_up()
    theirs, _ = read.contacts(other, limit=1000)
    strip = [(c["msisdn"], c["first_name"], c["last_name"], c["groups"]) for c in items]
    assert [(c["msisdn"], c["first_name"], c["last_name"], c["groups"]) for c in theirs] == strip
    assert ledger.get_contact(contact_id_for(other, "+46701234567"), other).first_name == "Anna"


def test_save_texted_twice_to_the_virtual_number_is_one_contact(
    ledger: Ledger, views: ViewDatabase, clock: FakeClock
) -> None:
    read = ReadSide(ledger, views)
    account = ledger.open_account("Acme").value.id
    add_on, _ = ledger.order_add_on(account, "virtual_number", None).value
    assert add_on.number is not None

    def sms(body: str, ref: str, sender: str = "+46731234567") -> dict[str, str]:
        at = clock().isoformat()
        return {
            "to": add_on.number or "",
            "from": sender,
            "body": body,
            "at": at,
            "gateway_ref": ref,
        }

    # Ann texts "Save Ann Lind friends", then again with other words' case, in one
    # batch with the first SMS repeated (the gateway retried it).
    results = ledger.receive_inbound(
        [
            sms("Save Ann Lind friends", "gw-1"),
            sms("save ANN Lind Friends", "gw-2"),
            sms("Save Ann Lind friends", "gw-1"),
        ]
    ).value
    assert [(r["outcome"], r["action"]) for r in results] == [
        ("stored", "contact_saved"),
        ("stored", "contact_saved"),
        ("duplicate", "contact_saved"),
    ]
    # A Save no contact can be made of (a group name with '|') is kept, does nothing.
    (odd,) = ledger.receive_inbound([sms("Save Bo Ek a|b", "gw-3", "+46731234568")]).value
    assert (odd["outcome"], odd["action"]) == ("stored", None)
    read.runner.catch_up()
    items, _ = read.contacts(account)
    assert [(c["msisdn"], c["first_name"], c["groups"], c["source"]) for c in items] == [
        ("+46731234567", "ANN", ["friends"], "inbound_save")
    ]
    assert counts(read, account) == {"friends": 1}
    # Why it exists: the first SMS; then the second changed its first name.
    history = read.contact_history(items[0]["id"], account)
    origins = [e["data"]["origin"]["inbound_message_id"] for e in history["events"]]
    assert origins == [str(results[0]["id"]), str(results[1]["id"])]
