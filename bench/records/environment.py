"""The environment fingerprint every results file carries.

Says where a measurement came from: Python build, package versions, CPU model
and count, load average, the project's commit and the record schema.  Server
facts are added by the database half when a server is in use.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.records.io import SCHEMA_VERSION

PACKAGES = (
    "ctxbench", "greenlet", "gevent", "werkzeug", "pymysql", "dbutils", "sqlalchemy", "pytest-benchmark", "matplotlib",
    "scipy", "rich",
    # the real stack's servers and frameworks, and the asyncio drivers (optional extras: None when absent)
    "flask", "gunicorn", "waitress", "locust", "uvicorn", "starlette", "aiomysql", "asyncmy", "uvloop",
)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def package_versions() -> dict[str, str | None]:
    """Installed version of each package the suite uses (None when absent)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or the platform's best guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def project_commit() -> str | None:
    """The git commit of the checkout this code runs from, if it is one."""
    try:
        out = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    if out.returncode != 0 or not commit:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, timeout=5, check=False,
    ).stdout.strip()
    return commit + ("-dirty" if dirty else "")


def fingerprint() -> dict[str, Any]:
    """Everything a reader needs to know about where the records were measured."""
    return {
        "schema": SCHEMA_VERSION,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "build": " ".join(platform.python_build()),
            "compiler": platform.python_compiler(),
            "executable": sys.executable,
        },
        "packages": package_versions(),
        "platform": platform.platform(),
        "cpu": {"model": cpu_model(), "count": os.cpu_count()},
        "load_average_start": load_average(),
        "commit": project_commit(),
    }
