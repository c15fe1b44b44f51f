"""The benchmark suite's quick mode runs end to end, so the benchmarks never rot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.__main__ import main

pytestmark = pytest.mark.slow

HAS_WRK = shutil.which("wrk") is not None

# (--only, the workloads it must report, a line its report.md must hold). One test per
# workload, so that the suite's workers share them out; together they cover every one.
WORKLOADS = [
    ("batch_send", {"batch_send"}, "| batch send >= 0.4x raw COPY of the same rows |"),
    ("reports", {"reports"}, "| reports >= 10,000/s and >= 0.5x plain |"),
    ("inbound", {"inbound"}, "## inbound"),
    ("catchup", {"catchup"}, "| catch-up >= 50,000 events/s and >= 0.5x its limit |"),
    (
        "api_read",
        {"api_read", "history_read"} if HAS_WRK else set(),
        "| read p99 <= 10 ms" if HAS_WRK else "## Targets",
    ),
    (
        "scale",
        {f"scale: {w}" for w in ("send", "reports")}
        | {f"scale: read {w}" for w in ("message", "account", "invoice", "history")},
        "| scale: send: flat from the smallest to the largest store (within 20%) |",
    ),
    ("serve_rss", {"serve_rss"}, "serve RSS <= 300 MiB"),
]


@pytest.mark.parametrize(("only", "expected", "line"), WORKLOADS, ids=[w[0] for w in WORKLOADS])
def test_quick_benchmark_writes_its_workload_beside_a_baseline(
    tmp_path: Path, only: str, expected: set[str], line: str
) -> None:
    assert main(["--quick", "--only", only, "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "report.json").read_text())
    workloads = {r["workload"] for r in results}
    assert expected <= workloads
    # Every workload has smsledger measured beside at least one baseline (for the
    # scale workloads, the baseline is the same operation on the smaller store).
    for workload in workloads - {w for w in workloads if w.startswith("scale")}:
        variants = {r["variant"] for r in results if r["workload"] == workload}
        assert "smsledger" in variants
        assert len(variants) >= 2
    assert all(r["median"] > 0 for r in results)
    if only == "scale":
        sizes = {r["stored"] for r in results if r["workload"] == "scale: send"}
        assert len(sizes) == 2
    report = (tmp_path / "report.md").read_text()
    assert "## Targets" in report
    assert line in report


@pytest.mark.xdist_group("private-postgres")  # its standby takes a port of 55451-55459
@pytest.mark.skipif(not HAS_WRK, reason="the process figures need wrk")
def test_quick_process_benchmark_gives_one_and_two_processes_and_the_replica(
    tmp_path: Path,
) -> None:
    assert main(["--quick", "--only", "processes", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "report.json").read_text())
    for workload in ("processes: read", "processes: send"):
        processes = {r.get("processes") for r in results if r["workload"] == workload}
        assert processes == {1, 2}, (workload, processes)  # 1, 2 and 4 in a full run
    assert "replica_read" in {r["workload"] for r in results}
    assert all(r["median"] > 0 for r in results)


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
