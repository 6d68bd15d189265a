"""Benchmarks: time and peak memory of the main jobs, each beside a baseline from the same run.

    python benchmarks/run.py [--persons 300000] [--keep DIR]

Each step runs `phm` as a child process and records its wall time and the
peak resident memory of its whole process tree (sampled from /proc every
0.1 s). Baselines are bare DuckDB over the same files in the same run, so the
ratios hold on a noisy shared machine. Prints a Markdown table for
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PHM = [sys.executable, "-m", "phm"]


@dataclass(frozen=True)
class Measure:
    step: str
    command: str
    seconds: float
    peak_mb: float


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(
                (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")),
                0,
            )
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def measure(step: str, argv: list[str], env: dict[str, str], shown: str | None = None) -> Measure:
    """Run a command; its wall time and the peak memory of its whole process tree."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while child.poll() is None:
        peak = max(peak, _tree_rss_kb(child.pid))
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        detail = child.stderr.read().decode() if child.stderr else ""
        raise SystemExit(f"{step} failed: {' '.join(argv)}\n{detail}")
    command = shown or " ".join("python" if a == sys.executable else a for a in argv)
    return Measure(step, command, seconds, peak / 1024)


BARE_SCAN = """
import duckdb, sys
con = duckdb.connect()
con.execute("SET memory_limit = '2GB'")
events = f"read_parquet('{sys.argv[1]}')"
con.sql(f"SELECT person_id, code, count(*) AS n FROM {events} GROUP BY ALL").fetchall()
"""
BARE_COPY = """
import duckdb, sys
con = duckdb.connect()
con.execute("SET memory_limit = '2GB'")
for table in ("person", "clinical_event", "medication", "encounter", "assessment", "pathway"):
    source, target = f"{sys.argv[1]}/{table}.parquet", f"{sys.argv[2]}/{table}.parquet"
    con.execute(f"COPY (SELECT * FROM read_parquet('{source}')) TO '{target}' (FORMAT parquet)")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=300_000)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="phm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    extract, home, copy = work / "extract", work / "home", work / "copy"
    for folder in (home, copy):
        shutil.rmtree(folder, ignore_errors=True)
    copy.mkdir()
    env = {**os.environ, "PHM_HOME": str(home)}
    results = [
        measure(
            "synth", [*PHM, "synth", "--persons", str(args.persons), "--out", str(extract)], env
        ),
        measure("ingest", [*PHM, "ingest", str(extract), "--replace"], env),
        measure(
            "baseline: bare DuckDB copy of the same files",
            [sys.executable, "-c", BARE_COPY, str(extract), str(copy)],
            env,
            "COPY each table's Parquet to Parquet in DuckDB (BARE_COPY in this script)",
        ),
        measure("run", [*PHM, "run"], env),
        measure(
            "baseline: bare scan and group-by of clinical_event",
            [sys.executable, "-c", BARE_SCAN, str(extract / "clinical_event.parquet")],
            env,
            "GROUP BY person_id, code over clinical_event in DuckDB (BARE_SCAN in this script)",
        ),
    ]
    rows = sum(
        int(
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"import pyarrow.parquet as pq; print(pq.ParquetFile('{p}').metadata.num_rows)",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for p in extract.glob("*.parquet")
    )
    print(
        f"\n{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
        f"{args.persons:,} persons, {rows:,} rows in the extract\n"
    )
    print("| step | command | seconds | peak MB |\n|---|---|---:|---:|")
    for m in results:
        print(f"| {m.step} | `{m.command}` | {m.seconds:.1f} | {m.peak_mb:,.0f} |")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
