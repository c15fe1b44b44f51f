"""The distribution's layout: one import name, every package and data file in it."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
MAPPING: dict[str, str] = SETUPTOOLS["package-dir"]


def tree_packages() -> dict[str, Path]:
    """Every folder of the mapped rooms that holds Python or data files, by import name."""
    found: dict[str, Path] = {}
    for name, folder in MAPPING.items():
        base = ROOT / folder
        for path in [base, *(p for p in base.rglob("*") if p.is_dir())]:
            if path.name == "__pycache__" or not any(f.is_file() for f in path.iterdir()):
                continue
            parts = path.relative_to(base).parts
            found[".".join([name, *parts])] = path
    return found


def test_the_distribution_claims_one_import_name() -> None:
    assert {name.split(".")[0] for name in SETUPTOOLS["packages"]} == {"smsledger"}
    assert "bench" not in MAPPING
    assert "tests" not in MAPPING


def test_every_folder_of_the_mapped_rooms_is_a_listed_package() -> None:
    assert sorted(tree_packages()) == sorted(SETUPTOOLS["packages"])


def test_every_data_file_is_package_data() -> None:
    data = SETUPTOOLS["package-data"]
    for name, folder in tree_packages().items():
        for path in folder.iterdir():
            if path.is_file() and path.suffix not in (".py", ".pyc"):
                globs = data.get(name, [])
                assert any(fnmatch(path.name, g) for g in globs), f"{path} is not package data"
