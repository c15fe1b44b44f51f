"""The benchmark suite's quick mode runs end to end, so the benchmarks never rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bench")]


def test_quick_benchmarks_write_a_report_with_every_workload(tmp_path: Path) -> None:
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "report.json").read_text())
    workloads = {r["workload"] for r in results}
    assert {"batch_send", "reports", "catchup"} <= workloads
    # Every workload has smsledger measured beside at least one baseline.
    for workload in workloads:
        variants = {r["variant"] for r in results if r["workload"] == workload}
        assert "smsledger" in variants
        assert len(variants) >= 2
    assert all(r["median"] > 0 for r in results)
    assert "| batch_send | smsledger |" in (tmp_path / "report.md").read_text()
