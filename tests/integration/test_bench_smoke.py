"""The benchmark suite's quick mode runs end to end, so the benchmarks never rot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.__main__ import main

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bench")]


def test_quick_benchmarks_write_a_report_with_every_workload(tmp_path: Path) -> None:
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "report.json").read_text())
    workloads = {r["workload"] for r in results}
    expected = {"batch_send", "reports", "inbound", "catchup", "serve_rss"}
    expected |= {f"scale: {w}" for w in ("send", "reports")}
    expected |= {f"scale: read {w}" for w in ("message", "account", "invoice", "history")}
    if shutil.which("wrk"):
        expected |= {"api_read", "history_read"}
    assert expected <= workloads
    # Every workload has smsledger measured beside at least one baseline (for the
    # scale workloads, the baseline is the same operation on the smaller store).
    for workload in workloads - {w for w in workloads if w.startswith("scale")}:
        variants = {r["variant"] for r in results if r["workload"] == workload}
        assert "smsledger" in variants
        assert len(variants) >= 2
    assert all(r["median"] > 0 for r in results)
    # Scale workloads are measured at two sizes; the report judges every target.
    sizes = {r["stored"] for r in results if r["workload"] == "scale: send"}
    assert len(sizes) == 2
    report = (tmp_path / "report.md").read_text()
    assert "## Targets" in report
    assert "| batch send >= 0.4x raw COPY of the same rows |" in report
    assert "serve RSS <= 300 MiB" in report


def test_the_console_bench_measures_every_page_on_a_small_account() -> None:
    from bench import console

    report = console.run(messages=2_000, requests=5, budget=120)
    assert report["messages"] == 2_000
    assert set(report["pages"]) == {
        "timeline",
        "timeline as of",
        "invoice",
        "invoice line's messages",
        "account (balance, chart, ledger)",
    }
    for page in report["pages"].values():
        assert page["requests"] == 5
        assert 0 < page["server_median_ms"] <= page["server_p99_ms"]
