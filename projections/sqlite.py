"""The view store on SQLite: UUIDs as canonical text, times as fixed-width UTC text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from smsledger.projections.store import ViewStore

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

# Fixed width, so text order is time order.
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


class SQLiteViewStore(ViewStore):
    dialect: ClassVar[str] = "sqlite"
    ph: ClassVar[str] = "?"

    def uuid(self, value: UUID) -> Any:
        return str(value)

    def to_uuid(self, value: Any) -> UUID:
        return UUID(value)

    def time(self, value: datetime) -> Any:
        return value.astimezone(UTC).strftime(_TIME_FORMAT)

    def to_time(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def insert_many(
        self, cur: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if rows:
            marks = ", ".join("?" * len(columns))
            cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def update_many(self, cur: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            cur.executemany(statement, rows)

    def update_rows(
        self,
        cur: Any,
        table: str,
        key: tuple[str, str],
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        if rows:
            sets = ", ".join(f"{name} = ?" for name, _ in columns)
            cur.executemany(f"UPDATE {table} SET {sets} WHERE {key[0]} = ?", rows)

    def any_of(self, column: str, values: Iterable[Any]) -> tuple[str, list[Any]]:
        args = list(values)
        if not args:
            return "0 = 1", []
        return f"{column} IN ({', '.join('?' * len(args))})", args
