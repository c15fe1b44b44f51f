"""Migrations are package data: found from any directory, and none found is an error."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from smsledger.adapters import migrate as migrations
from smsledger.adapters.storage import Database

if TYPE_CHECKING:
    from pathlib import Path


def test_migrations_are_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for kind in ("sqlite", "postgres"):
        found = migrations.migration_files(kind)
        assert found[0].stem == "0001_event_store"
        assert "CREATE TABLE" in found[0].text


def test_a_package_without_migration_files_is_an_error_never_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sqlite").mkdir()
    monkeypatch.setattr(migrations, "files", lambda _package: tmp_path)
    with pytest.raises(migrations.MigrationsMissingError, match="installation is incomplete"):
        migrations.migrate(Database(kind="sqlite", path=str(tmp_path / "x.db")))
