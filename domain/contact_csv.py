"""Contact books as CSV: reading an import, writing an export that reads back the same.

The file: UTF-8 with or without a byte-order mark; a header row naming the columns
(``msisdn`` required; ``first_name``, ``last_name``, ``groups`` optional, any order,
any case); cells separated by ``,`` or ``;``, whichever ``csv.Sniffer`` finds in the
header row (``,`` when it cannot tell); the groups of one cell separated by ``|``.
Numbers in any form the send path takes (``+46 70 123 45 67``, ``0046701234567``,
``46701234567``), and, with a ``region``, in that country's national form
(``070-123 45 67``).

A line that cannot be a contact (no number, an invalid one, a name too long, the wrong
number of cells) is rejected with its line number (the header is line 1; a quoted
cell spanning lines counts each) and why; the others are imported. Only a file no line
of which can be read (not UTF-8, no header, no ``msisdn`` column, too many lines) is
refused as a whole. Blank lines are skipped.

Formula injection: a spreadsheet runs a cell starting with ``=``, ``+``, ``-``, ``@``
(or a tab or carriage return) as a formula. The export writes such a name or group
with a leading ``'`` (OWASP's advice), which a spreadsheet shows as text, and the
import drops exactly that one ``'`` again, so an export imports back unchanged. The
``msisdn`` column is always ``+`` and digits: no formula can hide in it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from smsledger.domain.addressing import parse_msisdn
from smsledger.domain.contacts import GROUP_SEPARATOR, check_group_names, check_person_name
from smsledger.domain.errors import InvalidRequestError, MessageRejectedError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

COLUMNS = ("msisdn", "first_name", "last_name", "groups")
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_LINES = 10_000
"""Data lines (the header and blank lines aside) one import may hold."""
MAX_CELL_LENGTH = 1_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ESCAPE = "'"
_SHOWN = 40
_IMPORTS = uuid.UUID("b7e2d4a9-3f61-4c8e-92d5-0a1f6c3e8b47")  # namespace of import ids


@dataclass(frozen=True, slots=True)
class ImportRow:
    """A line that is a contact: its number in E.164, and the cells it had."""

    line: int
    msisdn: str
    first_name: str | None  # None: the file has no such column (keep what is kept)
    last_name: str | None
    groups: list[str]


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did: contacts created, changed, found as they were, and the lines
    rejected (in line order)."""

    created: int
    updated: int
    unchanged: int
    rejected: list[Rejection]


@dataclass(slots=True)
class ParsedImport:
    rows: list[ImportRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def lines(self) -> int:
        """Data lines read: every one is a row or a rejection."""
        return len(self.rows) + len(self.rejected)


def import_id_for(account_id: uuid.UUID, data: bytes) -> uuid.UUID:
    """The id of one file imported into one account: the same file, the same id (a
    retried import's contacts name the import they came from, once)."""
    return uuid.uuid5(_IMPORTS, f"{account_id}/{hashlib.sha256(data).hexdigest()}")


def _shown(value: str) -> str:
    return repr(value) if len(value) <= _SHOWN else repr(value[:_SHOWN] + "…")


def escape_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: ``=x`` → ``'=x``; a leading ``'`` doubled,
    so that ``unescape_cell`` gives back exactly ``value``."""
    if value.startswith((*_FORMULA_START, _ESCAPE)):
        return _ESCAPE + value
    return value


def unescape_cell(value: str) -> str:
    """``escape_cell`` undone: ``'=x`` → ``=x``, ``''x`` → ``'x``; else as is."""
    if value.startswith(_ESCAPE) and value[1:2] in (*_FORMULA_START, _ESCAPE) and value[1:2]:
        return value[1:]
    return value


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        msg = f"the file is not UTF-8 text (byte {e.start} cannot be read)"
        raise InvalidRequestError(msg) from None


def _delimiter(header: str) -> str:
    try:
        return csv.Sniffer().sniff(header, delimiters=",;").delimiter
    except csv.Error:
        return ","


def _columns(cells: list[str]) -> dict[str, int]:
    names = [c.strip().lower() for c in cells]
    found: dict[str, int] = {}
    for index, name in enumerate(names):
        if name not in COLUMNS:
            msg = (
                f"the header names an unknown column {_shown(name)}; columns: {', '.join(COLUMNS)}"
            )
            raise InvalidRequestError(msg)
        if name in found:
            msg = f"the header names column {name!r} twice"
            raise InvalidRequestError(msg)
        found[name] = index
    if "msisdn" not in found:
        msg = f"the header row must name an msisdn column; columns: {', '.join(COLUMNS)}"
        raise InvalidRequestError(msg)
    return found


def parse_contacts_csv(data: bytes, *, region: str | None = None) -> ParsedImport:
    """The contacts of an import file, and the lines rejected with their reasons.

    Never raises for a line; ``InvalidRequestError`` for a file that has no readable
    header, is not UTF-8, or holds more than ``MAX_IMPORT_LINES`` data lines.
    """
    text = _decode(data)
    first_line = text.split("\n", 1)[0].rstrip("\r")
    if not first_line.strip():
        msg = "the file must start with a header row naming its columns (msisdn first)"
        raise InvalidRequestError(msg)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    try:
        header = next(reader)
    except (csv.Error, StopIteration):
        msg = "the header row cannot be read as CSV"
        raise InvalidRequestError(msg) from None
    columns = _columns(header)
    out = ParsedImport()
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            out.rejected.append(Rejection(start, f"not a CSV line: {e}"))
            if reader.line_num < start:  # no progress: nothing more can be read
                break
            continue
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue  # a blank line
        if out.lines >= MAX_IMPORT_LINES:
            msg = f"an import holds at most {MAX_IMPORT_LINES} lines of contacts"
            raise InvalidRequestError(msg)
        row = _row(start, cells, columns, region)
        if isinstance(row, Rejection):
            out.rejected.append(row)
        else:
            out.rows.append(row)
    return out


def _row(
    line: int, cells: list[str], columns: dict[str, int], region: str | None
) -> ImportRow | Rejection:
    if len(cells) != len(columns):
        return Rejection(line, f"expected {len(columns)} cells, found {len(cells)}")
    if any(len(c) > MAX_CELL_LENGTH for c in cells):
        return Rejection(line, f"a cell is longer than {MAX_CELL_LENGTH} characters")
    raw = cells[columns["msisdn"]].strip()
    if not raw:
        return Rejection(line, "msisdn is empty")
    try:
        msisdn = parse_msisdn(raw, national_region=region).e164
        names = {
            name: (
                None
                if name not in columns
                else check_person_name(unescape_cell(cells[columns[name]].strip()), name)
            )
            for name in ("first_name", "last_name")
        }
        groups: list[str] = []
        if "groups" in columns:
            cell = cells[columns["groups"]]
            parts = [unescape_cell(g.strip()) for g in cell.split(GROUP_SEPARATOR)]
            groups = check_group_names([g for g in parts if g])
    except MessageRejectedError as e:
        return Rejection(line, f"msisdn: {e.detail}")
    except InvalidRequestError as e:
        return Rejection(line, str(e))
    return ImportRow(line, msisdn, names["first_name"], names["last_name"], groups)


def export_lines(
    contacts: Iterable[tuple[str, str, str, list[str]]],
) -> Iterator[str]:
    """The export, line by line: the header, then one line per contact (``msisdn``,
    ``first_name``, ``last_name``, ``groups``), comma-separated, formula-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: list[str]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield line(list(COLUMNS))
    for msisdn, first, last, groups in contacts:
        yield line(
            [
                msisdn,
                escape_cell(first),
                escape_cell(last),
                GROUP_SEPARATOR.join(escape_cell(g) for g in groups),
            ]
        )
