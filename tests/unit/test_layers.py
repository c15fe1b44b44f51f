"""The layers contract has teeth: on the installed layout it passes, and one import
pointing outward (or a circle) breaks it. ``make test`` runs the contract itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import copy_checkout

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]

ROOT = Path(__file__).resolve().parents[2]
PIP_INSTALL = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
PIP_INSTALL.append("--no-build-isolation")
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy of the checkout, never in it: setuptools builds in the source
    # tree's build/, and two builds there at once (another test run, an editor's make)
    # fail with "File exists: build/bdist.../smsledger-0.1.0.dist-info".
    target = tmp_path_factory.mktemp("layout")
    source = copy_checkout(ROOT, tmp_path_factory.mktemp("layout-src"))
    subprocess.run(
        [*PIP_INSTALL, "--target", str(target), str(source)],
        check=True,
        timeout=300,
    )
    return target


def lint(layout: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=layout,
        env={**os.environ, "PYTHONPATH": str(layout)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_installed_layout_keeps_every_contract(layout: Path) -> None:
    done = lint(layout)
    assert done.returncode == 0, done.stdout
    assert "3 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("domain/outward.py", "import smsledger.api.main\n", "Layers"),
        ("domain/web.py", "import fastapi\n", "know no web"),
        ("projections/queries_twin.py", "import smsledger.workers.sweeper\n", "Layers"),
    ],
)
def test_an_arrow_pointing_outward_breaks_the_contract(
    layout: Path, module: str, source: str, broken: str
) -> None:
    bad = layout / "smsledger" / module
    bad.write_text(source)
    try:
        done = lint(layout)
    finally:
        bad.unlink()
    assert done.returncode != 0
    # The named contract is broken (others may be too: an outward import also circles).
    assert any(broken in line and line.endswith("BROKEN") for line in done.stdout.splitlines()), (
        done.stdout
    )
