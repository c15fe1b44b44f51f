"""Run every benchmark and write the report: ``python -m bench [--quick] [--out DIR]``.

Each workload measures smsledger beside its baselines in the same run: the limit (raw
``COPY`` of the same rows, or a bare endpoint), what a user might build instead (plain
tables updated in place), naive event sourcing (the library the obvious way). The
report gives medians, the ratios between them, the scale runs (10,000 vs 1,000,000
stored messages), the resident memory of ``serve`` after 1,000,000 messages, and each
target met or not. ``--quick`` shrinks every workload to a smoke run; the test suite
runs it so the benchmarks never rot. ``--only`` runs some workloads (comma-separated).
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

from bench import batch_send, catchup, inbound, processes, reports, scale, serve_rss

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench.common import Result

WORKLOADS = (
    "batch_send",
    "reports",
    "inbound",
    "catchup",
    "api_read",
    "processes",
    "scale",
    "serve_rss",
)


def collect(quick: bool, only: tuple[str, ...], sizes: tuple[int, ...], rss: int) -> list[Result]:
    """Every selected workload, one after the other (never two at once)."""
    runs: dict[str, Callable[[], list[Result]]] = {
        "batch_send": lambda: batch_send.run(quick=quick),
        "reports": lambda: reports.run(2 if quick else 20),
        "inbound": lambda: inbound.run(2 if quick else 20, naive=50 if quick else 300),
        "catchup": lambda: catchup.run(
            2_000 if quick else 60_000, 1 if quick else 5, 1 if quick else 2
        ),
        "api_read": lambda: _api_read(quick),
        "processes": lambda: _processes(quick),
        "scale": lambda: scale.run((1_000, 3_000) if quick else sizes, quick=quick),
        "serve_rss": lambda: serve_rss.run(5_000 if quick else rss, quick=quick),
    }
    results: list[Result] = []
    for name in WORKLOADS:
        if name in only:
            start = time.perf_counter()
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            measured = runs[name]()
            for r in measured:
                r.extra["measured_at"] = at
            results += measured
            print(f"bench: {name} took {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return results


def _family(workload: str) -> str:
    """The WORKLOADS entry that measures ``workload`` (api_read also gives history_read)."""
    if workload.startswith("scale"):
        return "scale"
    if workload.startswith("processes") or workload == "replica_read":
        return "processes"
    return "api_read" if workload == "history_read" else workload


def merged(path: Path, fresh: list[Result], only: tuple[str, ...]) -> list[Result]:
    """The report at ``path`` with the workloads in ``only`` replaced by ``fresh``."""
    from bench.common import Result

    kept = []
    for row in json.loads(path.read_text()):
        if _family(row["workload"]) in only:
            continue
        extra = {
            k: v
            for k, v in row.items()
            if k not in ("workload", "variant", "backend", "unit", "median", "samples")
        }
        kept.append(
            Result(
                row["workload"], row["variant"], row["unit"], row["samples"], row["backend"], extra
            )
        )
    return kept + fresh


def _api_read(quick: bool) -> list[Result]:
    if not shutil.which("wrk"):
        print("bench: wrk not installed; skipping api_read (apt-get install -y wrk)")
        return []
    from bench import api_read

    out = api_read.run(quick=quick, backend="postgres")
    return out + api_read.run(quick=quick, backend="sqlite")


def _processes(quick: bool) -> list[Result]:
    """1, 2 and 4 API processes; reads from a hot standby (needs wrk and initdb)."""
    if not shutil.which("wrk"):
        print("bench: wrk not installed; skipping processes (apt-get install -y wrk)")
        return []
    from bench.standby import PG_BIN

    if not (PG_BIN / "initdb").exists():
        print("bench: no PostgreSQL server binaries; skipping processes")
        return []
    return processes.run(quick=quick)


# --- the report -----------------------------------------------------------------------------


def _find(
    results: list[Result], workload: str, prefix: str, backend: str = "postgres"
) -> Result | None:
    for r in results:
        if r.workload == workload and r.variant.startswith(prefix) and r.backend == backend:
            return r
    return None


def targets(results: list[Result]) -> list[tuple[str, str, bool]]:
    """(target, what was measured, met) for every target the results can speak to."""
    out: list[tuple[str, str, bool]] = []
    ours, copy = _find(results, "batch_send", "smsledger"), _find(results, "batch_send", "limit")
    if ours and copy:
        equiv = float(copy.extra["messages_per_s_equiv"])
        ratio = ours.median / equiv
        out.append(
            (
                "batch send >= 0.4x raw COPY of the same rows",
                f"{ours.median:,.0f} messages/s vs COPY {equiv:,.0f} messages/s equiv.: "
                f"{ratio:.2f}x",
                ratio >= 0.4,
            )
        )
    ours, plain = _find(results, "reports", "smsledger"), _find(results, "reports", "plain")
    if ours and plain:
        ratio = ours.median / plain.median
        out.append(
            (
                "reports >= 10,000/s and >= 0.5x plain",
                f"{ours.median:,.0f}/s vs plain {plain.median:,.0f}/s: {ratio:.2f}x",
                ours.median >= 10_000 and ratio >= 0.5,
            )
        )
    ours, limit = _find(results, "catchup", "smsledger"), _find(results, "catchup", "limit")
    if ours and limit:
        ratio = ours.median / limit.median
        out.append(
            (
                "catch-up >= 50,000 events/s and >= 0.5x its limit",
                f"{ours.median:,.0f} events/s vs limit {limit.median:,.0f}: {ratio:.2f}x",
                ours.median >= 50_000 and ratio >= 0.5,
            )
        )
    for backend in ("postgres", "sqlite"):
        ours, bare = (
            _find(results, "api_read", "smsledger", backend),
            _find(results, "api_read", "limit", backend),
        )
        if ours and bare:
            ratio = ours.median / bare.median
            p99, bare_p99 = float(ours.extra["p99_ms"]), float(bare.extra["p99_ms"])
            out.append(
                (
                    f"read p99 <= 10 ms and >= 0.6x the bare endpoint ({backend})",
                    f"p99 {p99:.1f} ms (bare {bare_p99:.1f} ms); {ours.median:,.0f} vs "
                    f"{bare.median:,.0f} req/s: {ratio:.2f}x",
                    p99 <= 10 and ratio >= 0.6,
                )
            )
    for workload, small, large, ratio in scale.flatness(results):
        out.append(
            (
                f"{workload}: flat from the smallest to the largest store (within 20%)",
                f"{small:,.0f} -> {large:,.0f}: x{ratio:.2f}",
                ratio >= 0.8,  # faster at scale is not a failure
            )
        )
    rss = _find(results, "serve_rss", "smsledger")
    if rss:
        out.append(
            (
                f"serve RSS <= 300 MiB after {int(rss.extra['messages']):,} messages",
                f"{rss.median:,.0f} MiB (peak {float(rss.extra['rss_peak_mb']):,.0f}, at rest "
                f"{float(rss.extra['rss_at_rest_mb']):,.0f})",
                rss.median <= 300,
            )
        )
    return out


def _table(rows: list[Result]) -> list[str]:
    ours = next((r for r in rows if r.variant == "smsledger"), None)
    http = any("p99_ms" in r.extra for r in rows)
    head = "| variant | median | unit | samples | smsledger / variant |"
    if http:
        head = "| variant | median | unit | p50 ms | p99 ms | smsledger / variant |"
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in rows:
        ratio = f"{ours.median / r.median:.2f}x" if ours and r is not ours and r.median else ""
        if http:
            lines.append(
                f"| {r.variant} | {r.median:,.0f} | {r.unit} | {float(r.extra['p50_ms']):.2f} | "
                f"{float(r.extra['p99_ms']):.2f} | {ratio} |"
            )
        else:
            samples = ", ".join(f"{s:,.0f}" for s in r.samples)
            lines.append(f"| {r.variant} | {r.median:,.0f} | {r.unit} | {samples} | {ratio} |")
    return lines


def to_markdown(results: list[Result], quick: bool) -> str:
    lines = [
        "# Benchmark report",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()} "
        f"({platform.python_implementation()} {platform.python_version()}), "
        f"{'QUICK smoke run: the numbers mean nothing' if quick else 'full run'}. Medians of "
        "the samples; every baseline measured in the same run as its workload, one workload "
        "at a time. The machine (2 cores) is shared: compare ratios, not absolute figures.",
        "",
        "Measured: "
        + "; ".join(
            f"{w} {at}"
            for w, at in dict.fromkeys(
                (_family(r.workload), str(r.extra.get("measured_at", "?"))) for r in results
            )
        )
        + ".",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in targets(results)]
    plain_workloads = [
        (w, b)
        for w, b in dict.fromkeys((r.workload, r.backend) for r in results)
        if not w.startswith("scale")
    ]
    for workload, backend in plain_workloads:
        rows = [r for r in results if r.workload == workload and r.backend == backend]
        lines += ["", f"## {workload} ({backend})", "", *_table(rows)]
        notes = {k: v for r in rows for k, v in r.extra.items() if k != "measured_at"}
        if notes:
            detail = ", ".join(f"{k} {v}" for k, v in notes.items() if not isinstance(v, float))
            lines += ["", f"Details: {detail}."]
    scaled = [r for r in results if r.workload.startswith("scale")]
    if scaled:
        sizes = sorted({int(r.extra["stored"]) for r in scaled})
        lines += [
            "",
            "## Scale: the same operations as the store grows (PostgreSQL)",
            "",
            "| workload | unit | " + " | ".join(f"at {s:,} stored" for s in sizes) + " | ratio |",
            "|---|---|" + "---:|" * len(sizes) + "---:|",
        ]
        flat = {w: ratio for w, _, _, ratio in scale.flatness(results)}
        for workload in dict.fromkeys(r.workload for r in scaled):
            by_size = {int(r.extra["stored"]): r for r in scaled if r.workload == workload}
            cells = [f"{by_size[s].median:,.0f}" if s in by_size else "" for s in sizes]
            unit = next(iter(by_size.values())).unit
            lines.append(
                f"| {workload} | {unit} | {' | '.join(cells)} | x{flat.get(workload, 1.0):.2f} |"
            )
    lines += [
        "",
        "smsledger / variant: above 1 means smsledger does more per second than that "
        "variant. Raw JSON beside this file (`report.json`).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks and write the report.")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--out", default=None, help="directory for report.md and report.json")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="workloads to run")
    parser.add_argument("--sizes", default="10000,1000000", help="scale: stored messages")
    parser.add_argument("--rss-messages", type=int, default=1_000_000)
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the other workloads of the existing report (each row says when it ran)",
    )
    args = parser.parse_args(argv)
    only = tuple(w.strip() for w in args.only.split(",") if w.strip())
    unknown = set(only) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}; choose from {', '.join(WORKLOADS)}")
    sizes = tuple(int(s) for s in args.sizes.split(","))
    results = collect(args.quick, only, sizes, args.rss_messages)
    out = Path(args.out or ("bench/out" if args.quick else "bench"))
    out.mkdir(parents=True, exist_ok=True)
    if args.merge and (out / "report.json").exists():
        results = merged(out / "report.json", results, only)
    (out / "report.json").write_text(json.dumps([r.as_dict() for r in results], indent=2))
    report = to_markdown(results, args.quick)
    (out / "report.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
