"""Finding the interpreters of ``--python``: each one asked what it is, before anything is planned.

:func:`discover` runs every path once (``python -c ...``, through :mod:`bench.child`, with a time limit) and reads
its version, whether it is a free-threaded build, and whether the modules a cell imports are there; a path that is
not an executable CPython, or lacks those modules, is an :class:`~bench.plan.interpreters.Interpreter` with
``missing`` set, so the run goes on with the others and the report says which build was not available.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from bench import child
from bench.errors import UsageError
from bench.plan.interpreters import Interpreter
from bench.records.environment import PROJECT_ROOT

log = logging.getLogger(__name__)

#: What a cell process imports besides the project itself (probe, micro and db cells; gevent only where it is the
#: load, so not here).
CELL_MODULES: tuple[str, ...] = ("msgspec", "greenlet", "pymysql", "dbutils", "sqlalchemy", "hdrh", "psutil")
#: Seconds an interpreter may take to answer.
ASK_TIMEOUT = 60.0

_ASK = """\
import json, platform, sys, sysconfig
missing = []
for name in {modules!r}:
    try:
        __import__(name)
    except Exception as exc:
        missing.append(name + " (" + type(exc).__name__ + ")")
print(json.dumps({{"implementation": platform.python_implementation(), "version": platform.python_version(),
                  "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")), "missing": missing}}))
"""


def _resolve(path: str) -> str | None:
    """``path`` itself when it is an executable file, else the command of that name on PATH, else None."""
    if os.sep in path:
        return str(Path(path).expanduser()) if os.access(Path(path).expanduser(), os.X_OK) else None
    return shutil.which(path)


def ask(path: str) -> Interpreter:
    """What the interpreter at ``path`` is, or why cells cannot run on it (``missing``, one line)."""
    found = _resolve(path)
    if found is None or not Path(found).is_file():
        return Interpreter(path, missing=f"{path}: not found or not executable")
    try:
        done = child.run([found, "-c", _ASK.format(modules=CELL_MODULES)], timeout=ASK_TIMEOUT, cwd=PROJECT_ROOT,
                         stdout=child.PIPE)
    except OSError as exc:
        return Interpreter(found, missing=f"{path}: cannot run it: {exc.strerror or exc}")
    lines = (done.stdout or "").strip().splitlines()
    try:
        facts = json.loads(lines[-1]) if lines and done.returncode == 0 else None
    except json.JSONDecodeError:
        facts = None
    if not isinstance(facts, dict):
        why = "timed out" if done.timed_out else (done.stderr or "").strip().splitlines()[-1:] or ["no answer"]
        return Interpreter(found, missing=f"{path}: not an interpreter ctxbench can use ({''.join(why)})")
    interpreter = Interpreter(found, str(facts["version"]), bool(facts["free_threaded"]))
    if facts["implementation"] != "CPython":
        return Interpreter(found, interpreter.version, missing=f"{path}: {facts['implementation']}, not CPython")
    if facts["missing"]:
        return Interpreter(found, interpreter.version, interpreter.free_threaded,
                           missing=f"{path}: cannot import {', '.join(facts['missing'])} (install ctxbench's "
                                   "dependencies into it: PATH -m pip install -e .)")
    return interpreter


def discover(paths: Sequence[str]) -> list[Interpreter]:
    """Every interpreter of ``paths``, asked in turn; a UsageError when none can run cells or two share a name.

    One that cannot is kept (the run records it) and said in one warning line.
    """
    found = [ask(path) for path in dict.fromkeys(paths)]
    for interpreter in found:
        if interpreter.missing:
            log.warning("interpreter left out: %s", interpreter.missing)
        elif interpreter.left_out():
            log.warning("on %s %s", interpreter.tag, interpreter.left_out())
    usable = [i for i in found if i.available]
    if not usable:
        raise UsageError(f"no interpreter of --python can run cells: {found[0].missing}")
    tags = [i.tag for i in usable]
    twice = next((t for t in tags if tags.count(t) > 1), None)
    if twice is not None:
        same = " and ".join(i.path for i in usable if i.tag == twice)
        raise UsageError(f"--python: {same} are both CPython {twice}; give one of them")
    return found
