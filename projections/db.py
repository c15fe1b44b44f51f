"""What the read models need of a database: transactions and reads on the event store's
own database, so a view's rows and its tracking position commit in one transaction.

This is a port: the connections themselves are adapters
(``smsledger.adapters.views.open_views``). Views write SQL in their own dialect;
``ViewDatabase.dialect`` says which.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Iterator

Dialect = Literal["sqlite", "postgres"]


class ViewDatabase(ABC):
    dialect: Dialect

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction: committed on exit, rolled back on error."""

    @abstractmethod
    @contextmanager
    def reading(self) -> Iterator[Any]:
        """A cursor for reads (autocommit, sees everything committed)."""

    @abstractmethod
    def close(self) -> None:
        """Release every connection."""

    @abstractmethod
    def is_transient(self, error: BaseException) -> bool:
        """Whether ``error`` is the database being unavailable for now (a lost
        connection, a pool timeout, a locked file) rather than anything about the data:
        the runner retries those, and never records them as a poison event."""
