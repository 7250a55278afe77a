"""Locust on one machine (N worker processes) against the in-process db cell, at the same total users and strategy.

    python benchmarks/locust_vs_processes.py [--users 16] [--processes 1,2] [--strategy pooled-tuned]
                                             [--duration 2] [--warmup 0.5] [--mysql-url URL]

For each N: ``ctxbench locust --processes N --users U`` (each Locust user one db worker, a greenlet) and the
in-process cell ``ctxbench db --db-load gevent`` at the same total concurrency -- with ``--processes N
--concurrency U/N`` where ``ctxbench db`` has ``--processes``; where it has not, only at N = 1 (``--concurrency U``,
one process) and the other rows say so.  Prints right replies per second of each and their ratio
(Locust / in-process).  Finds a server as every command does; every run is bounded by its own time limits.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.locustload.launch import full_url
from bench.records.environment import PROJECT_ROOT
from bench.server import ENV_URL, ServerUnavailable, find_server

#: Seconds one command may take beyond its window.
SLACK = 120.0


def _ctxbench(*args: str, timeout: float, url: str | None = None) -> subprocess.CompletedProcess[str]:
    """``ctxbench ARGS``; the server's URL (password included) through the child's environment, not its argv."""
    env = dict(os.environ)
    if url is not None:
        env[ENV_URL] = url
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def db_has_processes() -> bool:
    """Whether this ``ctxbench db`` takes ``--processes``."""
    return "--processes" in _ctxbench("db", "--help", timeout=60).stdout


def locust_ops(url: str, users: int, processes: int, args: argparse.Namespace, out: Path) -> float | None:
    """Right replies per second of ``ctxbench locust --processes N`` (None when it wrote no record)."""
    proc = _ctxbench("locust", "--processes", str(processes), "--users", str(users), "--strategy", args.strategy,
                     "--duration", str(args.duration), "--warmup", str(args.warmup), "--out", str(out),
                     timeout=args.duration + args.warmup + SLACK, url=url)
    cells = sorted(out.glob("*/cells/*.json"))
    if proc.returncode not in (0, 1) or not cells:
        print(f"locust N={processes}: {(proc.stderr.strip().splitlines() or ['no record'])[-1]}", file=sys.stderr)
        return None
    rec: dict[str, Any] = json.loads(cells[-1].read_text())["records"][0]
    return rec.get("ops_per_s")


def db_ops(url: str, users: int, processes: int | None, args: argparse.Namespace, out: Path) -> float | None:
    """Right replies per second of the in-process gevent cell (``processes`` None: one process, no flag)."""
    per = ["--concurrency", str(users)] if processes is None else ["--processes", str(processes), "--concurrency",
                                                                    str(max(1, users // processes))]
    path = out / "db.json"
    proc = _ctxbench("db", "--strategy", args.strategy, "--db-load", "gevent", *per, "--duration", str(args.duration),
                     "--warmup", str(args.warmup), "--request-impl", "none", "--json", str(path), "--quiet",
                     timeout=args.duration + args.warmup + SLACK, url=url)
    if proc.returncode != 0 or not path.exists():
        print(f"db: {(proc.stderr.strip().splitlines() or ['no record'])[-1]}", file=sys.stderr)
        return None
    recs = [r for r in json.loads(path.read_text())["records"] if r.get("kind") == "db"]
    return recs[0].get("ops_per_s") if recs else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16, help="total users / concurrency (default: 16)")
    parser.add_argument("--processes", default="1,2", help="worker process counts, comma-separated (default: 1,2)")
    parser.add_argument("--strategy", default="pooled-tuned")
    parser.add_argument("--duration", type=float, default=2.0, help="measured seconds (default: 2)")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--mysql-url", help="the server (default: as every ctxbench command finds one)")
    args = parser.parse_args()
    counts = [int(p) for p in args.processes.split(",") if p.strip()]
    if args.users < 1 or not counts or min(counts) < 1 or max(counts) > args.users:
        parser.error("--users must be >= 1 and every process count 1..users")
    try:
        handle = find_server(args.mysql_url)
    except ServerUnavailable as exc:
        print(f"locust_vs_processes: {exc.reason}", file=sys.stderr)
        return 2
    with handle, tempfile.TemporaryDirectory(prefix="ctxbench-lvp-") as tmp:
        url = full_url(handle.target)
        has_processes = db_has_processes()
        print(f"| processes | users | Locust ok/s | in-process ok/s | ratio |  ({args.strategy}, gevent)")
        print("|---|---|---|---|---|")
        for n in counts:
            locust = locust_ops(url, args.users, n, args, Path(tmp) / f"locust{n}")
            if has_processes or n == 1:
                db = db_ops(url, args.users, n if has_processes else None, args, Path(tmp) / f"db{n}")
            else:
                db = None
            ratio = f"{locust / db:.2f}" if locust and db else "n/a"
            note = "" if has_processes or n == 1 else " (ctxbench db has no --processes here)"
            print(f"| {n} | {args.users} | {locust} | {db if db is not None else 'n/a'}{note} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
