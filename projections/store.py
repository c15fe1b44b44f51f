"""The one abstract view interface: what differs between SQLite and PostgreSQL.

The projections and queries write their SQL once, with ``store.ph`` as the placeholder;
everything that is not plain shared SQL (how a UUID or a time is stored, how many rows
go in at once, how a list of ids is matched) goes through this interface, implemented
once per database in ``sqlite.py`` and ``postgres.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime
    from uuid import UUID


class ViewStore(ABC):
    dialect: ClassVar[str]
    ph: ClassVar[str]
    """The DB-API placeholder of this database's driver."""
    native: ClassVar[bool] = False
    """Whether ``uuid`` and ``time`` give their argument back (the driver stores UUIDs
    and datetimes as they are), so a hot loop may skip calling them."""

    @abstractmethod
    def uuid(self, value: UUID) -> Any:
        """A UUID as this database stores it."""

    @abstractmethod
    def to_uuid(self, value: Any) -> UUID:
        """A stored UUID back as a ``UUID``."""

    @abstractmethod
    def time(self, value: datetime) -> Any:
        """An aware datetime as this database stores it."""

    @abstractmethod
    def to_time(self, value: Any) -> datetime:
        """A stored time back as an aware UTC datetime."""

    @abstractmethod
    def insert_many(
        self, cur: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert new rows in as few round trips as the database allows."""

    @abstractmethod
    def update_many(self, cur: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one parameterised statement for many rows."""

    @abstractmethod
    def update_rows(
        self,
        cur: Any,
        table: str,
        key: tuple[str, str],
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """Set ``columns`` (name, SQL type) of many rows found by ``key`` (name, SQL type);
        each row is its column values, then its key."""

    @abstractmethod
    def any_of(self, column: str, values: Iterable[Any]) -> tuple[str, list[Any]]:
        """A condition ``column`` is one of ``values``, and its parameters."""

    # --- shared helpers ---------------------------------------------------------------

    def marks(self, n: int) -> str:
        """``n`` placeholders, comma-separated, for a ``VALUES (...)`` list."""
        return ", ".join([self.ph] * n)

    def select_in(
        self, cur: Any, query: str, column: str, values: Sequence[Any], *params: Any
    ) -> list[Any]:
        """Rows of ``query`` (ending in ``WHERE ... AND``-able text) for a list of keys.

        ``query`` holds ``{cond}`` where the membership condition goes; long lists are
        split so no statement exceeds a driver's parameter limit.
        """
        out: list[Any] = []
        for start in range(0, len(values), 900):
            cond, args = self.any_of(column, values[start : start + 900])
            cur.execute(query.format(cond=cond), [*params, *args])
            out.extend(cur.fetchall())
        return out
