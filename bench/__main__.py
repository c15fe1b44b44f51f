"""Run every benchmark and write the report: ``python -m bench [--quick] [--out DIR]``.

Each workload measures smsledger beside its baselines in the same run (the limit, a
plain non-event-sourced build, naive event sourcing) and the report gives medians and
ratios. ``--quick`` shrinks every workload to a smoke run; the test suite runs it so the
benchmarks never rot.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench import batch_send, catchup, reports

if TYPE_CHECKING:
    from bench.common import Result


def collect(quick: bool) -> list[Result]:
    results: list[Result] = []
    results += batch_send.run(quick=quick)
    results += reports.run(2 if quick else 20)
    results += catchup.run(2_000 if quick else 60_000, 1 if quick else 5, 1 if quick else 3)
    if shutil.which("wrk"):
        from bench import api_read

        results += api_read.run(quick=quick)
    else:
        print("bench: wrk not installed; skipping api_read (apt-get install -y wrk)")
    return results


def to_markdown(results: list[Result], quick: bool) -> str:
    lines = [
        "# Benchmark report",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()} "
        f"({platform.python_implementation()} {platform.python_version()}), "
        f"{'QUICK smoke run' if quick else 'full run'}. Medians of the samples; every "
        "baseline measured in the same run. The machine is shared: compare ratios.",
        "",
        "| workload | variant | backend | median | unit | samples | ratio to smsledger |",
        "|---|---|---|---:|---|---|---:|",
    ]
    ours = {r.workload: r for r in results if r.variant == "smsledger"}
    for r in results:
        base = ours.get(r.workload)
        ratio = f"{base.median / r.median:.2f}" if base and r.median and r is not base else ""
        samples = ", ".join(f"{s:,.1f}" for s in r.samples)
        lines.append(
            f"| {r.workload} | {r.variant} | {r.backend} | {r.median:,.1f} | {r.unit} | "
            f"{samples} | {ratio} |"
        )
    lines += [
        "",
        "Ratio = smsledger's median / the variant's median (for latency rows, "
        "below 1 means smsledger is faster).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks and write the report.")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--out", default=None, help="directory for report.md and report.json")
    args = parser.parse_args(argv)
    results = collect(args.quick)
    out = Path(args.out or ("bench/out" if args.quick else "bench"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps([r.as_dict() for r in results], indent=2))
    (out / "report.md").write_text(to_markdown(results, args.quick))
    print(to_markdown(results, args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
