"""A private PostgreSQL primary and a real streaming hot standby of it, on loopback.

For the replica tests (``tests/e2e/test_replica.py``) and the replica read benchmark:
``initdb`` into a temporary directory (the shared server on 5432 is never touched), a
port of 55451-55459 (55441-55449 belong to ``tests/e2e/test_database_restarts.py``),
``pg_basebackup -R`` of it into a second directory, started on the next free port as a
hot standby that streams the primary's WAL. Both are stopped and removed on the way out,
whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from smsledger.adapters.storage import Database

if TYPE_CHECKING:
    from collections.abc import Iterator

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PORTS = range(55451, 55460)


class NoClusterError(RuntimeError):
    """The PostgreSQL server binaries or a free port are missing."""


@dataclass
class Cluster:
    """One PostgreSQL server of ours: its data directory and port."""

    data: Path
    port: int
    run_as: list[str]

    def ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            [*self.run_as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args],
            check=check,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = self.data.parent / f"{self.data.name}.log"
        self.ctl("-w", "-l", str(log), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self.ctl("-w", "-m", mode, "stop")

    def database(self) -> Database:
        return Database(
            kind="postgres", host="127.0.0.1", port=self.port, user="root", dbname="ledger"
        )

    def execute(self, statement: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.database().conninfo(), autocommit=True) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []


@dataclass
class Pair:
    primary: Cluster
    standby: Cluster

    def replayed(self) -> bool:
        """Whether the standby has replayed everything the primary has flushed."""
        (lsn,) = self.primary.execute("SELECT pg_current_wal_flush_lsn()::text")[0]
        rows = self.standby.execute(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn")
        return bool(rows[0][0])


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def primary_and_standby() -> Iterator[Pair]:
    """A migrated-nothing primary with a database ``ledger``, and its hot standby."""
    if not (PG_BIN / "initdb").exists():
        msg = "PostgreSQL 15 server binaries are not installed"
        raise NoClusterError(msg)
    ports = [p for p in PORTS if _free(p)][:2]
    if len(ports) < 2:
        msg = "no two free ports in 55451-55459 for a private primary and standby"
        raise NoClusterError(msg)
    root = Path(tempfile.mkdtemp(prefix="smsledger-standby-"))
    # initdb refuses to run as root: the clusters then belong to the postgres user.
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if run_as:
        shutil.chown(root, "postgres")
    primary = Cluster(root / "primary", ports[0], run_as)
    standby = Cluster(root / "standby", ports[1], run_as)
    try:
        # initdb's pg_hba trusts replication from 127.0.0.1 too; wal_level is replica.
        subprocess.run(
            [
                *run_as,
                str(PG_BIN / "initdb"),
                *("-D", str(primary.data), "-U", "root", "--auth=trust", "--no-sync"),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        primary.start()
        with psycopg.connect(
            host="127.0.0.1", port=primary.port, user="root", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE ledger")
        subprocess.run(
            [
                *run_as,
                str(PG_BIN / "pg_basebackup"),
                "-R",
                "--checkpoint=fast",  # the default spread checkpoint took a minute and more
                "--no-sync",
                "-X",
                "stream",
                "-D",
                str(standby.data),
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                "root",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        standby.start()
        yield Pair(primary, standby)
    finally:
        for cluster in (standby, primary):
            with contextlib.suppress(Exception):
                cluster.ctl("-m", "immediate", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)
