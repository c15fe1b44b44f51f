"""The ``smsledger`` command as an operator meets it: the real console script run as a
subprocess, on SQLite and PostgreSQL where storage is involved.

Safe operations: a sweep ahead of the clock refuses; a database URL that cannot be used
is one line and exit 2, quickly, and creates nothing; bad arguments are usage errors
(exit 2); an unknown message or account is one line and exit 1; a rebuild's progress
reaches 100 %.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import pytest

from smsledger.adapters.storage import Database
from smsledger.application.ledger import Ledger
from smsledger.projections import all_projections
from smsledger.projections.delivery_queue import DeliveryQueue
from tests.e2e.serving import SMSLEDGER, clean_env, free_port
from tests.support import PG_ADMIN, FakeClock, url_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

READ_ONLY = [
    ["history", str(uuid4())],
    ["audit", "--period", "2026-11"],
    ["project", "--once"],
    ["dispatch", "--until-idle"],
    ["sweep"],
]
"""The commands that read a ledger that must already exist, with harmless arguments."""


def run(
    args: list[str], url: str, cwd: Path, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SMSLEDGER, *args],
        cwd=cwd,
        env=clean_env(SMSLEDGER_DATABASE_URL=url, SMSLEDGER_GATEWAY="none", **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line(stderr: str) -> str:
    """The one line an operator is told; never a traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def head(ledger: Ledger) -> int:
    return int(ledger.recorder.max_notification_id() or 0)


def funded_message(ledger: Ledger) -> UUID:
    """A funded message whose validity (60 s from the test clock) is long over."""
    account = ledger.open_account("Acme").value
    ledger.top_up(account.id, 10_000, "t")
    receipt = ledger.send_batch(
        account.id, sender="Acme", recipients=["+46731234567"], body="x", validity_period=60
    )
    return UUID(receipt.lines[0]["id"])


# --- sweep ahead of the clock -------------------------------------------------------------


def test_a_sweep_ahead_of_the_clock_refuses_without_force_and_writes_nothing(
    ledger: Ledger, database: Database, tmp_path: Path
) -> None:
    mid = funded_message(ledger)
    url = url_of(database)
    before = head(ledger)
    ahead = (datetime.now(UTC) + timedelta(days=4)).isoformat()

    refused = run(["sweep", "--now", ahead], url, tmp_path)
    assert refused.returncode == 2
    line = one_line(refused.stderr)
    assert "ahead of the clock" in line
    assert "--force" in line
    assert head(ledger) == before
    assert ledger.get_message(mid).status == 103

    # Within the tolerance (a clock a little off) it sweeps, as without --now.
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    near = run(["sweep", "--now", soon], url, tmp_path)
    assert near.returncode == 0, near.stderr
    assert ledger.get_message(mid).status == 202
    assert head(ledger) > before


def test_a_forced_sweep_ahead_of_the_clock_proceeds(
    ledger: Ledger, database: Database, tmp_path: Path
) -> None:
    mid = funded_message(ledger)
    ahead = (datetime.now(UTC) + timedelta(days=4)).isoformat()
    forced = run(["sweep", "--now", ahead, "--force"], url_of(database), tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "expired 1" in forced.stdout
    assert ledger.get_message(mid).status == 202


# --- database URLs checked before use -----------------------------------------------------


@pytest.mark.parametrize("args", [["migrate"], ["serve", "--port", "0"], *READ_ONLY])
def test_a_sqlite_path_into_a_missing_directory_is_one_line_and_creates_nothing(
    args: list[str], tmp_path: Path
) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    done = run(args, f"sqlite:///{missing}/ledger.db", tmp_path, SMSLEDGER_OPERATOR_TOKEN="x" * 20)
    assert done.returncode == 2
    assert one_line(done.stderr) == (
        f"smsledger {args[0]}: no directory {missing} for the SQLite database {missing}/ledger.db"
    )
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("args", READ_ONLY)
def test_a_read_command_on_a_missing_sqlite_file_says_no_database_and_creates_nothing(
    args: list[str], tmp_path: Path
) -> None:
    done = run(args, "sqlite:///./ledger.db", tmp_path)
    assert done.returncode == 2
    assert one_line(done.stderr) == (
        f"smsledger {args[0]}: no database at ./ledger.db (run smsledger migrate)"
    )
    assert list(tmp_path.iterdir()) == []


def test_migrate_creates_the_sqlite_file_in_an_existing_directory(tmp_path: Path) -> None:
    done = run(["migrate"], "sqlite:///./ledger.db", tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ledger.db").is_file()
    # Now the read commands find it.
    assert run(["audit", "--period", "2026-11"], "sqlite:///./ledger.db", tmp_path).returncode == 0


def test_a_file_that_is_not_a_sqlite_database_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a database\n")
    done = run(["audit", "--period", "2026-11"], "sqlite:///./notes.txt", tmp_path)
    assert done.returncode == 2
    assert one_line(done.stderr) == "smsledger audit: ./notes.txt is not a SQLite database"
    assert (tmp_path / "notes.txt").read_text() == "not a database\n"


def _postgres(dbname: str = "test", port: int | None = None, host: str | None = None) -> str:
    admin = Database.from_url(PG_ADMIN)
    return f"postgresql://{admin.user}@{host or admin.host}:{port or admin.port}/{dbname}"


POSTGRES_CASES: dict[str, tuple[Callable[[], str], str]] = {
    "missing database": (lambda: _postgres("smsledger_no_such_db"), "does not exist"),
    "refused port": (lambda: _postgres(port=free_port()), "Connection refused"),
    "unknown host": (lambda: _postgres(host="no-such-host.invalid"), "no-such-host.invalid"),
}
"""Each way a PostgreSQL URL can be wrong that trust auth lets a test produce, and a
piece of the reason the line must give."""


@pytest.mark.parametrize("case", POSTGRES_CASES)
@pytest.mark.parametrize(
    "args", [["migrate"], ["serve", "--port", "0"], ["history", str(uuid4())], ["sweep"]]
)
def test_a_postgres_url_that_cannot_be_used_is_one_line_within_seconds(
    case: str, args: list[str], tmp_path: Path
) -> None:
    url_factory, reason = POSTGRES_CASES[case]
    started = time.monotonic()
    done = run(args, url_factory(), tmp_path, timeout=30, SMSLEDGER_OPERATOR_TOKEN="x" * 20)
    assert time.monotonic() - started < 10
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert line.startswith(f"smsledger {args[0]}: cannot connect to PostgreSQL at "), line
    assert reason in line


PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "S3cret-enough"


@pytest.fixture(scope="module")
def password_cluster() -> Iterator[str]:
    """A PostgreSQL cluster of its own that checks passwords (the shared one trusts
    everyone): initdb as the postgres user, on a free port; user ``root``, ``PASSWORD``.
    Its directory is under /tmp itself: pytest's are closed to other users."""
    if os.geteuid() != 0 or not (PG_BIN / "initdb").exists():
        pytest.skip("needs root and PostgreSQL 15's initdb to make a cluster with passwords")
    base = Path(tempfile.mkdtemp(prefix="smsledger-pgpass-"))
    (base / "pw").write_text(PASSWORD + "\n")
    for path in (base, base / "pw"):
        shutil.chown(path, "postgres")
    port, data = free_port(), base / "data"
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-w"]

    def as_postgres(*command: str) -> None:
        shell = shlex.join(command)
        subprocess.run(["su", "postgres", "-c", shell], check=True, capture_output=True, timeout=60)

    try:
        as_postgres(
            *(str(PG_BIN / "initdb"), "-D", str(data), "-U", "root"),
            *(f"--pwfile={base / 'pw'}", "-A", "scram-sha-256"),
        )
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
        as_postgres(*pg_ctl, "-o", options, "-l", str(base / "log"), "start")
        try:
            yield f"127.0.0.1:{port}"
        finally:
            as_postgres(*pg_ctl, "-m", "immediate", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize(
    "args", [["migrate"], ["serve", "--port", "0"], ["audit", "--period", "2026-11"]]
)
def test_a_wrong_or_missing_password_is_one_line(
    args: list[str], password_cluster: str, tmp_path: Path
) -> None:
    where = f"root@{password_cluster}/postgres"
    for auth, reason in (
        ("root:wrong", 'password authentication failed for user "root"'),
        ("root", "no password supplied"),
    ):
        url = f"postgresql://{auth}@{password_cluster}/postgres"
        done = run(args, url, tmp_path, timeout=30, SMSLEDGER_OPERATOR_TOKEN="x" * 20)
        assert done.returncode == 2
        line = one_line(done.stderr)
        assert line.startswith(f"smsledger {args[0]}: cannot connect to PostgreSQL at {where}: ")
        assert reason in line
        assert "wrong" not in line  # never the password
    # The right one gets past the check, to the next question.
    right = f"postgresql://root:{PASSWORD}@{password_cluster}/postgres"
    done = run(["audit", "--period", "2026-11"], right, tmp_path)
    assert done.returncode == 2
    assert "is not migrated" in one_line(done.stderr)


def test_a_read_command_on_an_unmigrated_postgres_schema_says_run_migrate(tmp_path: Path) -> None:
    # A schema nobody migrated (and that this command must not create).
    url = _postgres() + f"?schema=t_unmigrated_{uuid4().hex[:10]}"
    done = run(["history", str(uuid4())], url, tmp_path)
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "is not migrated" in line
    assert "run smsledger migrate" in line


def test_a_bad_setting_is_one_line(tmp_path: Path) -> None:
    done = run(["sweep"], "sqlite:///./ledger.db", tmp_path, SMSLEDGER_SWEEP_INTERVAL_SECONDS="x")
    assert done.returncode == 2
    assert one_line(done.stderr).startswith("smsledger sweep: SMSLEDGER_SWEEP_INTERVAL_SECONDS:")


# --- ids, times and periods parsed; unknown ids -------------------------------------------


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["history", "nope"], "argument message_id: message id must be a UUID"),
        (["history", "１" * 32], "argument message_id: message id must be a UUID"),
        (["history", "+12"], "is not a valid MSISDN"),
        (["history", str(uuid4()), "--as-of", "yesterday"], "not an ISO 8601 time"),
        (["history", str(uuid4()), "--as-of", "2026-11-02T10:00"], "needs an offset"),
        (["history", str(uuid4()), "--as-of", "0001-01-01T00:00:00+14:00"], "out of range"),
        (["sweep", "--now", "9999-12-31T23:59:59-14:00"], "out of range"),
        (["sweep", "--now", "2026-11-02"], "needs an offset"),
        (["audit", "--period", "0000-01"], "period must be in the years 1970-2999"),
        (["audit", "--period", "9999-12"], "period must be in the years 1970-2999"),
        (["audit", "--period", "１２３４-01"], "period must be YYYY-MM in ASCII digits"),
        (["audit", "--period", "2026-13"], "period must be YYYY-MM in ASCII digits"),
        (["audit", "--period", "2026-11", "--account", "42"], "account id must be a UUID"),
        (["dispatch", "--batch-size", "0"], "must be a whole number from 1 to 10000"),
    ],
)
def test_bad_arguments_are_usage_errors_before_any_database(
    args: list[str], wanted: str, tmp_path: Path
) -> None:
    # The database URL is not even looked at: the arguments are wrong first.
    done = run(args, "sqlite:////no/such/dir/ledger.db", tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith(f"smsledger {args[0]}: error: "), done.stderr
    assert wanted in error, done.stderr


def test_an_unknown_message_or_account_is_one_line_and_exit_1(
    ledger: Ledger, database: Database, tmp_path: Path
) -> None:
    ledger.open_account("Acme")
    url = url_of(database)
    message, account = uuid4(), uuid4()
    done = run(["history", str(message)], url, tmp_path)
    assert (done.returncode, one_line(done.stderr)) == (
        1,
        f"smsledger history: no message {message}",
    )
    done = run(["audit", "--period", "2026-11", "--account", str(account)], url, tmp_path)
    assert (done.returncode, one_line(done.stderr)) == (1, f"smsledger audit: no account {account}")


def test_history_of_a_number_says_when_and_why_each_account_blocked_it(
    ledger: Ledger, database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    # One account blocks the number by hand and lifts it; another's recipient texts STOP.
    manual = ledger.open_account("Manual AB").value.id
    ledger.block_number(manual, "46731234567")
    ledger.unblock_number(manual, "+46731234567")
    stopped = ledger.open_account("Stop AB", payment_model="post_invoice").value.id
    number = ledger.order_add_on(stopped, "virtual_number", None).value[0].number
    ledger.set_stop_service(stopped, sms_stop=True, unsubscribe_link=False)
    sms = {
        "to": number,
        "from": "+46731234567",
        "body": "STOP",
        "gateway_ref": "cli-1",
        "at": clock().isoformat(),
    }
    (result,) = ledger.receive_inbound([sms]).value
    url = url_of(database)
    done = run(["history", "0046731234567"], url, tmp_path)
    assert done.returncode == 0, done.stderr
    history = json.loads(done.stdout)
    assert history["msisdn"] == "+46731234567"
    got = {
        a["account_id"]: (a["blocked"], [(e["change"], e["source"]) for e in a["events"]])
        for a in history["accounts"]
    }
    assert got == {
        str(manual): (False, [("blocked", "manual"), ("unblocked", None)]),
        str(stopped): (True, [("blocked", "stop")]),
    }
    (stop_entry,) = [a for a in history["accounts"] if a["account_id"] == str(stopped)]
    assert stop_entry["events"][0]["inbound_id"] == str(result["id"])
    assert stop_entry["events"][0]["inbound"]["body"] == "STOP"
    # A number no list ever held: exit 1, one line.
    done = run(["history", "+46731234599"], url, tmp_path)
    assert (done.returncode, one_line(done.stderr)) == (
        1,
        "smsledger history: +46731234599 was never on a block list",
    )


def test_the_help_documents_the_exit_codes(tmp_path: Path) -> None:
    done = run(["--help"], "sqlite:///./ledger.db", tmp_path)
    assert done.returncode == 0
    assert "exit codes:" in done.stdout
    for line in ("0  done", "1  an unknown message or account", "2  a usage or setup error"):
        assert line in done.stdout


# --- project --rebuild --------------------------------------------------------------------


def test_a_rebuild_shows_its_progress_to_100_percent(
    ledger: Ledger, database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    funded_message(ledger)
    events = head(ledger)
    done = run(["project", "--rebuild", "message_status", "--once"], url_of(database), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "rebuilt message_status" in done.stdout
    bar = [part for part in done.stderr.replace("\r", "\n").splitlines() if part.strip()][-1]
    assert "100%" in bar
    assert f"{events}/{events}" in bar


def test_an_unknown_projection_is_one_line_naming_the_projections(
    ledger: Ledger, database: Database, tmp_path: Path
) -> None:
    done = run(["project", "--rebuild", "messages", "--once"], url_of(database), tmp_path)
    assert done.returncode == 2
    dialect = "postgres" if database.is_postgres else "sqlite"
    names = ", ".join([*(p.name for p in all_projections(dialect)), DeliveryQueue.name])
    assert names.startswith("message_status, account_ledger, invoices")
    assert one_line(done.stderr) == (f"smsledger project: no projection 'messages'; have: {names}")
