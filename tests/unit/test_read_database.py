"""``SMSLEDGER_READ_DATABASE_URL`` is checked at start like the database: one line, exit 2."""

from __future__ import annotations

import pytest

from smsledger.adapters.storage import Database
from smsledger.bootstrap import StartupError, open_read_database
from smsledger.settings import Settings
from tests.e2e.serving import free_port

PRIMARY = Database(kind="postgres", host="127.0.0.1", port=5432, user="root", dbname="test")


def test_unset_reads_from_the_database_itself() -> None:
    assert open_read_database(Settings(), PRIMARY) is None


@pytest.mark.parametrize(
    ("url", "primary", "says"),
    [
        ("mysql://x/y", PRIMARY, "unsupported database URL"),
        ("sqlite:///./replica.db", PRIMARY, "needs PostgreSQL"),
        ("postgresql://root@127.0.0.1/test", Database(kind="sqlite", path="x.db"), "needs"),
        ("postgresql://root@127.0.0.1/test?schema=Bad-Name", PRIMARY, "invalid schema"),
    ],
)
def test_a_read_database_that_cannot_be_a_replica_is_refused(
    url: str, primary: Database, says: str
) -> None:
    with pytest.raises(StartupError, match=says) as e:
        open_read_database(Settings(read_database_url=url), primary)
    assert str(e.value).startswith("SMSLEDGER_READ_DATABASE_URL")


def test_an_unreachable_read_database_is_one_line() -> None:
    url = f"postgresql://root@127.0.0.1:{free_port()}/test"
    with pytest.raises(StartupError, match="cannot connect to PostgreSQL") as e:
        open_read_database(Settings(read_database_url=url), PRIMARY)
    assert "\n" not in str(e.value)
