"""mypy --strict over the real source files, under the import names the wheel gives them.

The distribution maps the top-level ``domain/``, ``projections/``, ``api/`` and
``migrations/`` into the one ``smsledger`` namespace (``[tool.setuptools.package-dir]``
in pyproject.toml). mypy finds modules by directory, and does not follow setuptools'
editable finder, so on its own it would see no ``smsledger.domain``. This gives mypy
each file of that mapping with its mapped module name (``domain/account.py`` is
``smsledger.domain.account``), plus ``tests/``, ``bench/`` and ``tools/`` under their
own names: every error is reported at the file's real path. Options come from the
``[tool.mypy]`` table as for any mypy run; arguments are passed on to mypy.

    .venv/bin/python tools/typecheck.py
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

from mypy import build
from mypy.errors import CompileError
from mypy.main import process_options
from mypy.modulefinder import BuildSource

ROOT = Path(__file__).resolve().parent.parent
UNMAPPED = ("tests", "bench", "tools")  # checked under their own names, never installed


def package_dirs() -> dict[str, Path]:
    """Import name → directory, from pyproject.toml's ``package-dir`` table."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return {name: ROOT / folder for name, folder in mapping.items()}


def module_name(package: str, folder: Path, path: Path) -> str:
    parts = list(path.relative_to(folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def sources() -> list[BuildSource]:
    found: dict[Path, str] = {}
    roots = {**package_dirs(), **{name: ROOT / name for name in UNMAPPED}}
    # Nested mappings (none today) would be walked by their parent too: the longest
    # import name wins, so a file gets the name of the package it is mapped into.
    for package, folder in sorted(roots.items(), key=lambda item: len(item[0])):
        for path in sorted(folder.rglob("*.py")):
            if any(part.startswith(".") for part in path.relative_to(ROOT).parts):
                continue
            found[path] = module_name(package, folder, path)
    return [BuildSource(str(path.relative_to(ROOT)), name) for path, name in found.items()]


def main(argv: list[str]) -> int:
    os.chdir(ROOT)  # paths are reported relative to the repository, as plain mypy does
    # A target is required by the option parser; the real list of sources is ours.
    _, options = process_options(
        [*argv, "--config-file", str(ROOT / "pyproject.toml"), str(ROOT / "tools")]
    )
    targets = sources()
    try:
        result = build.build(targets, options)
    except CompileError as e:
        print("\n".join(e.messages), file=sys.stderr)
        return 2
    for line in result.errors:
        print(line)
    files = len({s.path for s in targets})
    errors = [line for line in result.errors if ": error:" in line]
    if errors:
        n_files = len({line.split(":", 1)[0] for line in errors})
        print(f"Found {len(errors)} errors in {n_files} files (checked {files} source files)")
        return 1
    print(f"Success: no issues found in {files} source files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
