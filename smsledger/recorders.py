"""The library's recorders, plus one bulk read: many aggregates' events in one query.

Report ingest and the sweeper load hundreds of messages at a time; one round trip
instead of one per message is most of their speed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

if TYPE_CHECKING:
    from collections.abc import Sequence


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    def select_events_many(self, originator_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        """Every event of each given aggregate, in version order."""
        out: dict[UUID, list[StoredEvent]] = defaultdict(list)
        ids = [i.hex for i in originator_ids]
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                c.execute(
                    f"SELECT originator_id, originator_version, topic, state "
                    f"FROM {self.events_table_name} WHERE originator_id IN "
                    f"({','.join('?' * len(chunk))}) ORDER BY originator_id, originator_version",
                    chunk,
                )
                for row in c.fetchall():
                    oid = UUID(row["originator_id"])
                    out[oid].append(
                        StoredEvent(oid, row["originator_version"], row["topic"], row["state"])
                    )
        return out


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    def select_events_many(self, originator_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        """Every event of each given aggregate, in version order."""
        out: dict[UUID, list[StoredEvent]] = defaultdict(list)
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {}.{} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (list(originator_ids),))
            rows: list[dict[str, Any]] = curs.fetchall()
        for row in rows:
            out[row["originator_id"]].append(
                StoredEvent(
                    row["originator_id"],
                    row["originator_version"],
                    row["topic"],
                    bytes(row["state"]),
                )
            )
        return out
