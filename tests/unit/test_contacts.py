"""The contact book with no database: ids from numbers, group names, a contact's life,
and the CSV import and export (a messy file's exact counts; properties of the parser)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsledger.adapters.storage import memory_env
from smsledger.application.ledger import Ledger
from smsledger.domain.contact_csv import (
    MAX_IMPORT_LINES,
    escape_cell,
    export_lines,
    import_id_for,
    parse_contacts_csv,
    unescape_cell,
)
from smsledger.domain.contacts import (
    Contact,
    Group,
    check_group_name,
    contact_id_for,
    group_id_for,
    save_contact,
)
from smsledger.domain.errors import ContactNotFoundError, InvalidRequestError
from tests.support import FakeClock

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ACCOUNT = uuid4()

MESSY = (
    "\ufeffmsisdn;First_Name;last_name;groups\r\n"  # line 1: BOM, ';', any case
    "070-123 45 67;Ann;Lind;Friends\r\n"  # 2: national form (with ?country=SE)
    "+46 70 123 45 68;Bo;Ek;friends|Work\r\n"  # 3: spaced international
    "0046701234569;Cy;;\r\n"  # 4: 00 prefix
    "\r\n"  # 5: blank, skipped
    ";Dan;Nilsson;x\r\n"  # 6: empty number
    "07O-123 45 67;Eva;Berg;x\r\n"  # 7: a letter O
    "+4670123456789012345;Fia;Ek;x\r\n"  # 8: too long
    "+46701234570;Gun\r\n"  # 9: wrong column count
    '"46701234571";"Hugo ""H""";"Lind;Berg";\r\n'  # 10: quoted cells
    "46701234567;Ann;Lind;Friends\r\n"  # 11: line 2's number again
)


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    app = Ledger(memory_env(), clock=FakeClock())
    try:
        yield app
    finally:
        app.close()


def test_a_number_is_one_contact_id_in_any_form_and_per_account() -> None:
    a, b = uuid4(), uuid4()
    assert contact_id_for(a, "+46701234567") == contact_id_for(a, "+46701234567")
    assert contact_id_for(a, "+46701234567") != contact_id_for(b, "+46701234567")
    assert contact_id_for(a, "+46701234567") != contact_id_for(a, "+46701234568")


def test_group_names_are_one_group_in_any_case_and_spacing() -> None:
    assert group_id_for(ACCOUNT, "Friends") == group_id_for(ACCOUNT, "  friends ")
    assert group_id_for(ACCOUNT, "My  Friends") == group_id_for(ACCOUNT, "my friends")
    assert group_id_for(ACCOUNT, "Friends") != group_id_for(uuid4(), "Friends")
    assert check_group_name("  My \u00a0 Friends ") == "My Friends"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "a|b",
        "x" * 51,
        "bad\x00name",
        "line\nbreak",
        "6c1d2f63-8f0e-4a8c-9d3e-5b7a1e0c4f21",
        7,
    ],
)
def test_a_bad_group_name_is_refused(name: object) -> None:
    with pytest.raises(InvalidRequestError):
        check_group_name(name)


def test_a_save_creates_then_updates_then_finds_nothing_to_change() -> None:
    friends = Group.name_new(ACCOUNT, "Friends", "inbound_save", NOW)
    work = Group.name_new(ACCOUNT, "work", "manual", NOW)
    contact, outcome = save_contact(
        None,
        account_id=ACCOUNT,
        msisdn="+46701234567",
        first_name="Ann",
        last_name="Lind",
        groups=[friends],
        source="inbound_save",
        origin={"inbound_message_id": "m1"},
        timestamp=NOW,
    )
    assert outcome == "created"
    assert contact.id == contact_id_for(ACCOUNT, "+46701234567")
    # A save names groups to join; it never leaves one.
    again, outcome = save_contact(
        contact,
        account_id=ACCOUNT,
        msisdn="+46701234567",
        first_name="Ann",
        last_name="Lind",
        groups=[work],
        source="import",
        origin=None,
        timestamp=NOW,
    )
    assert (again is contact, outcome) == (True, "updated")
    assert contact.group_names == ["Friends", "work"]
    assert contact.source == "inbound_save"  # how it came to be stays
    _, outcome = save_contact(
        contact,
        account_id=ACCOUNT,
        msisdn="+46701234567",
        first_name=None,
        last_name="Lind",
        groups=[friends],
        source="manual",
        origin=None,
        timestamp=NOW,
    )
    assert outcome == "unchanged"
    assert [type(e).__name__ for e in contact.collect_events()] == ["Saved", "Changed"]


def test_a_deleted_contact_is_created_again_in_its_own_stream() -> None:
    contact, _ = save_contact(
        None,
        account_id=ACCOUNT,
        msisdn="+46701234567",
        first_name="Ann",
        last_name="Lind",
        groups=[Group.name_new(ACCOUNT, "Friends", "manual", NOW)],
        source="manual",
        origin=None,
        timestamp=NOW,
    )
    assert contact.delete(NOW) is True
    assert contact.delete(NOW) is False
    assert contact.groups == {}
    again, outcome = save_contact(
        contact,
        account_id=ACCOUNT,
        msisdn="+46701234567",
        first_name="Ann",
        last_name=None,
        groups=[],
        source="import",
        origin={"import_id": "i", "line": 2},
        timestamp=NOW,
    )
    assert (again.id, outcome, again.deleted, again.source) == (
        contact.id,
        "created",
        False,
        "import",
    )
    assert again.last_name == ""
    assert [type(e).__name__ for e in again.collect_events()] == ["Saved", "Deleted", "Recreated"]


def test_names_are_one_bounded_printable_line() -> None:
    contact = Contact(
        id=uuid4(),
        account_id=ACCOUNT,
        msisdn="+46701234567",
        first_name="",
        last_name="",
        groups={},
        source="manual",
        origin=None,
        timestamp=NOW,
    )
    for bad in ("x" * 101, "a\x00b", "a\nb", 5, True):
        with pytest.raises(InvalidRequestError):
            contact.change(
                first_name=bad,  # type: ignore[arg-type]
                last_name=None,
                groups=None,
                source="manual",
                origin=None,
                timestamp=NOW,
            )
    assert contact.first_name == ""


def test_a_messy_file_gives_exact_rows_and_rejected_lines() -> None:
    parsed = parse_contacts_csv(MESSY.encode(), region="SE")
    assert [(r.line, r.msisdn) for r in parsed.rows] == [
        (2, "+46701234567"),
        (3, "+46701234568"),
        (4, "+46701234569"),
        (10, "+46701234571"),
        (11, "+46701234567"),
    ]
    assert [r.line for r in parsed.rejected] == [6, 7, 8, 9]
    reasons = {r.line: r.reason for r in parsed.rejected}
    assert reasons[6] == "msisdn is empty"
    assert "not a valid MSISDN" in reasons[7]
    assert "more than 15 digits" in reasons[8]
    assert reasons[9] == "expected 4 cells, found 2"
    assert parsed.rows[1].groups == ["friends", "Work"]
    assert (parsed.rows[3].first_name, parsed.rows[3].last_name) == ('Hugo "H"', "Lind;Berg")


def test_without_a_country_a_national_number_is_rejected_as_the_send_path_does() -> None:
    parsed = parse_contacts_csv(MESSY.encode())
    assert [r.line for r in parsed.rejected] == [2, 6, 7, 8, 9]
    assert "no such country code" in parsed.rejected[0].reason


def test_a_comma_file_without_optional_columns_keeps_the_kept_names() -> None:
    parsed = parse_contacts_csv(b"MSISDN\n+46701234567\n")
    assert parsed.rows[0].first_name is None
    assert parsed.rows[0].groups == []


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "header"),
        (b"\n+46701234567\n", "header"),
        (b"first_name,last_name\nAnn,Lind\n", "msisdn column"),
        (b"msisdn,phone\n1,2\n", "unknown column"),
        (b"msisdn,msisdn\n1,2\n", "twice"),
        (b"msisdn\n\xff\xfe\n", "UTF-8"),
        (b"msisdn\n" + b"+46701234567\n" * (MAX_IMPORT_LINES + 1), "at most"),
    ],
)
def test_a_file_no_line_of_which_can_be_read_is_refused_whole(data: bytes, why: str) -> None:
    with pytest.raises(InvalidRequestError, match=why):
        parse_contacts_csv(data)


def test_the_import_saves_once_and_a_repeat_creates_nothing(ledger: Ledger) -> None:
    account = ledger.open_account("Acme").value.id
    data = MESSY.encode()
    parsed = parse_contacts_csv(data, region="SE")
    first = ledger.import_contacts(account, parsed, import_id_for(account, data)).value
    # Line 11 is line 2's contact again, as it already is.
    assert (first.created, first.updated, first.unchanged) == (4, 0, 1)
    assert [r.line for r in first.rejected] == [6, 7, 8, 9]
    again = ledger.import_contacts(account, parsed, import_id_for(account, data))
    assert (again.value.created, again.value.updated, again.value.unchanged) == (0, 0, 5)
    assert again.position is None  # not one event
    contact = ledger.get_contact(contact_id_for(account, "+46701234568"), account)
    assert contact.group_names == ["Friends", "Work"]  # the first spelling of friends


def test_another_accounts_contact_is_not_found(ledger: Ledger) -> None:
    mine = ledger.open_account("Mine").value.id
    theirs = ledger.open_account("Theirs").value.id
    saved = ledger.save_contact(
        theirs, "+46701234567", first_name="A", last_name="B", groups=[], source="manual"
    ).value
    with pytest.raises(ContactNotFoundError):
        ledger.get_contact(saved.contact.id, mine)
    with pytest.raises(ContactNotFoundError):
        ledger.delete_contact(mine, saved.contact.id)
    assert ledger.get_contact(saved.contact.id, theirs).first_name == "A"


def test_the_export_escapes_formulas_and_imports_back_the_same() -> None:
    contacts = [
        ("+46701234567", "=HYPERLINK(1)", "+Lind", ["@team", "-x", "ok"]),
        ("+46701234568", "'quoted", "Ek", []),
    ]
    text = "".join(export_lines(contacts))
    cells = list(csv.reader(io.StringIO(text)))
    assert cells[1][1] == "'=HYPERLINK(1)"  # a spreadsheet shows it as text
    assert not any(c.startswith(("=", "+", "-", "@")) for row in cells[1:] for c in row[1:])
    parsed = parse_contacts_csv(text.encode())
    assert [(r.msisdn, r.first_name, r.last_name, r.groups) for r in parsed.rows] == [
        ("+46701234567", "=HYPERLINK(1)", "+Lind", ["@team", "-x", "ok"]),
        ("+46701234568", "'quoted", "Ek", []),
    ]


@given(st.text())
def test_unescape_undoes_escape(value: str) -> None:
    assert unescape_cell(escape_cell(value)) == value


_CELL = st.one_of(
    st.sampled_from(["+46701234567", "070-123 45 67", "0046701234567", "abc", "", "x" * 50]),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(
    header=st.sampled_from(
        ["msisdn,first_name,last_name,groups", "msisdn;groups", "MSISDN", "\ufeffmsisdn,last_name"]
    ),
    lines=st.lists(st.lists(_CELL, max_size=5), max_size=30),
    delimiter=st.sampled_from([",", ";"]),
    region=st.sampled_from([None, "SE"]),
    junk=st.binary(max_size=20),
)
def test_the_parser_never_raises_for_a_line_and_counts_add_up(
    header: str, lines: list[list[str]], delimiter: str, region: str | None, junk: bytes
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    for cells in lines:
        writer.writerow(cells)
    body = buffer.getvalue() + junk.decode("utf-8", "ignore")
    data = (header + "\n" + body).encode()
    try:
        parsed = parse_contacts_csv(data, region=region)
    except InvalidRequestError:
        return  # a whole-file refusal (a junk header), never anything else
    # A line of one empty or all-space cell is a blank line, skipped. Every written line
    # is read as (at least) one when the file is quoted for the delimiter its header
    # implies; quoted for another one, a quote inside a cell may join lines, as in any
    # CSV reader.
    blank = sum(1 for cells in lines if len(cells) <= 1 and not "".join(cells).strip())
    implied = ";" if ";" in header else ","
    assert parsed.lines >= len(lines) - blank or junk or delimiter != implied
    seen = [r.line for r in parsed.rows] + [r.line for r in parsed.rejected]
    assert len(seen) == len(set(seen)) == parsed.lines
    assert all(line >= 2 for line in seen)
    assert all(r.msisdn.startswith("+") and r.msisdn[1:].isdigit() for r in parsed.rows)
    assert all(r.reason for r in parsed.rejected)


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.text(
            alphabet=st.sampled_from("msisdn,;\"\r\n\x00+4670123 ab|'=\ufeff"), max_size=200
        ).map(str.encode),
    )
)
def test_any_bytes_are_contacts_rejections_or_one_refusal(data: bytes) -> None:
    try:
        parsed = parse_contacts_csv(data, region="SE")
    except InvalidRequestError:
        return  # the file as a whole: the one error a file may raise
    lines = [r.line for r in parsed.rows] + [r.line for r in parsed.rejected]
    assert len(lines) == len(set(lines)) == parsed.lines
