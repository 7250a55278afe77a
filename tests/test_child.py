"""The child-process helper (bench/child.py): private spec files, bounded waits, whole trees ended, and no process
outliving a parent killed by SIGKILL -- for every kind of child the suite starts, through its real code path.

Children here are small Python programs; a "tree" is a child that started a grandchild.  A process counts as gone
when it no longer exists or is a zombie (killed, waiting to be reaped by whoever adopted it).
"""

from __future__ import annotations

import json
import os
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import psutil
import pytest

from bench import child
from bench.records.environment import PROJECT_ROOT

#: A child that starts a grandchild (``sleep``, in the child's group unless ``setsid`` is asked), writes the
#: grandchild's pid to the file named by argv[1], and sleeps.
_TREE = """
import subprocess, sys, time
grandchild = subprocess.Popen(["sleep", "300"], start_new_session=len(sys.argv) > 2)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(grandchild.pid))
import os; os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(300)
"""


class Sleepy:
    """A Local whose construction takes minutes: keeps a probes cell (``tests.test_child:Sleepy``) running."""

    def __init__(self) -> None:
        time.sleep(300)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """The pids of ``pids`` still running after up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if not _gone(pid)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def _read_pid(path: Path, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.02)
    return int(path.read_text())


def _sweep(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass


def _tree(tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-c", _TREE, str(tmp_path / "grandchild.pid"), *extra]


# --- the private spec file ------------------------------------------------------------------------------------


class _Spec(msgspec.Struct):
    task: str
    workers: int


@pytest.mark.parametrize(("data", "expected"), [
    ({"task": "probes", "password": "s3cret", "n": [1, 2]}, {"task": "probes", "password": "s3cret", "n": [1, 2]}),
    (_Spec("micro", 2), {"task": "micro", "workers": 2}),
    (b'{"already": "encoded"}', {"already": "encoded"}),
], ids=["dict", "struct", "bytes"])
def test_a_spec_file_is_private_json(tmp_path: Path, data: Any, expected: dict[str, Any]) -> None:
    old = os.umask(0)  # with no umask to narrow it, the file is still created private
    try:
        path = child.write_spec(tmp_path / "spec.json", data)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_bytes()) == expected


def test_a_spec_file_replaces_a_readable_file_with_a_new_private_one(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text("old")
    path.chmod(0o644)
    with open(path) as reader:  # someone holding the old file open reads nothing of the new one
        before = path.stat().st_ino
        child.write_spec(path, {"password": "s3cret"})
        assert reader.read() == "old"
    assert path.stat().st_ino != before and stat.S_IMODE(path.stat().st_mode) == 0o600


# --- bounded waits and whole trees ----------------------------------------------------------------------------


@pytest.mark.parametrize("setsid", [False, True], ids=["grandchild-in-group", "grandchild-in-own-session"])
def test_a_timeout_kills_the_whole_tree(tmp_path: Path, setsid: bool) -> None:
    done: list[child.Finished] = []
    runner = threading.Thread(target=lambda: done.append(child.run(_tree(tmp_path, *(["setsid"] if setsid else [])),
                                                                   timeout=3.0, cwd=PROJECT_ROOT)))
    runner.start()
    grandchild = _read_pid(tmp_path / "grandchild.pid")
    runner.join(60)
    try:
        assert done and done[0].timed_out and done[0].returncode == -signal.SIGKILL
        assert _wait_gone([grandchild], 0.5) == []  # gone when run() returned: waited for, not merely signalled
    finally:
        _sweep([grandchild])


def test_a_run_captures_what_was_asked_and_reports_the_status(tmp_path: Path) -> None:
    code = "import sys; print('out'); print('x' * 200000, file=sys.stderr); sys.exit(3)"  # more than a pipe holds
    done = child.run([sys.executable, "-c", code], timeout=30, cwd=tmp_path, stdout=child.PIPE)
    assert (done.returncode, done.timed_out, done.stdout) == (3, False, "out\n")
    assert done.stderr is not None and len(done.stderr) == 200001


@pytest.fixture()
def interrupt_soon() -> Iterator[Callable[[float], None]]:
    """``arm(s)``: KeyboardInterrupt in the main thread ``s`` seconds from now.

    The kernel's interval timer sends SIGALRM, whose handler raises it: no helper thread, so it fires even after
    another test in this process let gevent patch threading (a patched Timer would never run while the main
    thread waits on a child).
    """
    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, raise_interrupt)

    def arm(seconds: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, seconds)

    yield arm
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("how", ["run", "with", "wait_or_end"])
def test_ctrl_c_while_waiting_kills_the_whole_tree(tmp_path: Path, interrupt_soon: Callable[[float], None],
                                                    how: str) -> None:
    pid_file = tmp_path / "grandchild.pid"
    started: list[child.Child] = []
    interrupt_soon(1.5)
    with pytest.raises(KeyboardInterrupt):
        if how == "run":
            child.run(_tree(tmp_path), timeout=60, cwd=PROJECT_ROOT)
        elif how == "with":
            with child.start(_tree(tmp_path), cwd=PROJECT_ROOT) as one:
                started.append(one)
                one.wait(60)
        else:
            started.append(child.start(_tree(tmp_path), cwd=PROJECT_ROOT, grace=0.5))
            started[0].wait_or_end(60)
    grandchild = _read_pid(pid_file, timeout=1)
    try:
        assert _wait_gone([grandchild], 0.5) == []
        assert all(one.returncode is not None for one in started)  # reaped, not left a zombie
    finally:
        _sweep([grandchild])


def test_a_child_that_ends_leaves_nothing_in_its_group(tmp_path: Path) -> None:
    code = "import subprocess; print(subprocess.Popen(['sleep', '300']).pid, flush=True)"
    one = child.start([sys.executable, "-c", code], cwd=PROJECT_ROOT, stdout=child.PIPE)
    assert one.proc.stdout is not None
    grandchild = int(one.proc.stdout.readline())
    try:
        assert one.wait(30) == 0
        assert _wait_gone([grandchild], 0.5) == []
    finally:
        one.proc.stdout.close()
        _sweep([grandchild])


@pytest.mark.parametrize(("trap", "status"), [("exit", 0), ("ignore", -signal.SIGKILL)])
def test_a_graceful_end_is_sigterm_then_sigkill(tmp_path: Path, trap: str, status: int) -> None:
    handler = "lambda *_: sys.exit(0)" if trap == "exit" else "signal.SIG_IGN"
    code = f"import signal, sys, time; signal.signal(signal.SIGTERM, {handler}); print(flush=True); time.sleep(60)"
    one = child.start([sys.executable, "-c", code], cwd=PROJECT_ROOT, stdout=child.PIPE)
    assert one.proc.stdout is not None
    one.proc.stdout.readline()  # its handler is set
    began = time.monotonic()
    assert one.end(1.0) == set()
    one.proc.stdout.close()
    assert one.returncode == status
    assert (time.monotonic() - began >= 1.0) == (trap == "ignore")


_FORKS_AND_WAITS = """
import subprocess, sys, time
code = "import time; time.sleep(float(__import__('sys').argv[1])); " \\
       "from bench.child import die_with_parent; die_with_parent(); print('armed', flush=True); time.sleep(300)"
grandchild = subprocess.Popen([sys.executable, "-c", code, sys.argv[1]])
print(grandchild.pid, flush=True)
time.sleep(300)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux's")
@pytest.mark.parametrize("arm_after", [0.0, 2.0], ids=["armed-before", "leader-gone-before-arming"])
def test_a_grandchild_that_asks_dies_with_its_parent(tmp_path: Path, arm_after: float) -> None:
    """A server's worker calls die_with_parent(): SIGKILL of its parent (the group's leader) ends it too, also when
    the leader was gone before it asked."""
    one = child.start([sys.executable, "-c", _FORKS_AND_WAITS, str(arm_after)], cwd=PROJECT_ROOT,
                      env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, stdout=child.PIPE)
    assert one.proc.stdout is not None
    grandchild = int(one.proc.stdout.readline())
    try:
        time.sleep(1.0)  # imported and (arm_after 0) armed
        os.kill(one.pid, signal.SIGKILL)  # the leader alone, not its group: as its own parent-death signal would
        assert _wait_gone([grandchild], 5 + arm_after) == []
    finally:
        one.proc.stdout.close()
        one.kill()
        _sweep([grandchild])


# --- no process outlives a parent killed by SIGKILL -----------------------------------------------------------

#: Run first in every parent: SIGINT at its default, and ``up(predicate)``, a thread printing the parent's
#: descendants as JSON once ``predicate(their command lines)`` holds (and the tree had half a second to form).
_PARENT = """
import json, os, signal, socket, sys, threading, time
from pathlib import Path
signal.signal(signal.SIGINT, signal.SIG_DFL)
import psutil
WORKDIR = Path(sys.argv[1])
SPEC = {"task": "probes", "impl": "tests.test_child:Sleepy", "load": "threads", "workers": 2, "probes": ["isolation"]}

def lines():
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            found.append(" ".join(proc.cmdline()))
        except psutil.Error:
            pass
    return found

def tell():
    print(json.dumps([proc.pid for proc in psutil.Process().children(recursive=True)]), flush=True)

def up(predicate):
    def watch():
        while not predicate(lines()):
            time.sleep(0.05)
        time.sleep(0.5)
        tell()
    threading.Thread(target=watch, daemon=True).start()

def target():
    from bench.server import find_server
    return find_server(os.environ["CTXBENCH_MYSQL_URL"]).target

def serve(name, impl):
    from bench import child
    from bench.webstack.launch import free_port, prove, start
    from bench.webstack.servers import SERVERS
    tgt = target()
    app = child.write_spec(WORKDIR / "app.json", {"impl": impl, "strategy": "per-request", "io_sleep": 0.0,
                                                  "connect": tgt.connect_kwargs(), "concurrency": 2})
    running = start(SERVERS[name], port=free_port(), workers=2, concurrency=2, app_spec=app, workdir=WORKDIR,
                    password=tgt.password)
    prove(running, concurrency=2, workers=2)
    tell()
    time.sleep(600)
"""

_CELL = """
up(lambda found: sum("bench.cell" in line for line in found) >= 1)
from bench.exec.spawn import run_cell
run_cell(SPEC, timeout=600)
"""

_CELL_GROUP = """
up(lambda found: sum("bench.cell" in line for line in found) >= 2)
from bench.exec.dbcell import cell_task
from bench.exec.procgroup import run_group
from bench.plan.cells import Cell, Timing
cell = Cell("db", "pooled-tuned", "threads", 2, None, 2)
run_group(cell_task(target(), cell, Timing(600.0, 0.1, 600.0)), 2, timeout=600, ready_timeout=600)
"""

_STACK_DRIVER = """
up(lambda found: any("bench.webstack.drive" in line for line in found))
from bench.exec.stackcell import run_stack_cell
run_stack_cell(target(), {"server": "waitress", "impl": "fast", "strategy": "per-request", "concurrency": 2,
                          "duration": 600, "warmup": 0.1})
"""

_LOCUST_WORKER = """
master = socket.socket()
master.bind(("127.0.0.1", 0))
master.listen(8)
def accept():
    for _ in range(2):  # the reachability check, then the worker's own connection
        master.accept()
    time.sleep(0.5)
    tell()
threading.Thread(target=accept, daemon=True).start()
from bench.locustload.session import run_worker
run_worker("127.0.0.1", master.getsockname()[1], None, connect_timeout=60, timeout=600)
"""

#: kind -> (what the parent runs after _PARENT, the fewest processes its tree must have, the modules it needs).
KINDS: dict[str, tuple[str, int, tuple[str, ...]]] = {
    "cell": (_CELL, 1, ()),
    "cell-group": (_CELL_GROUP, 2, ()),
    "locust-worker": (_LOCUST_WORKER, 1, ("locust",)),
    "stack-server-gunicorn": ("serve('gunicorn-gthread', 'fast')", 3, ("flask", "gunicorn")),
    "stack-server-uvicorn": ("serve('uvicorn', 'contextvar')", 4, ("uvicorn", "starlette", "aiomysql")),
    "stack-driver": (_STACK_DRIVER, 2, ("flask", "waitress", "locust")),
}
_DB = pytest.mark.db


def _start_parent(body: str, workdir: Path, url: str | None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop(child.ENV_CHILD, None)
    if url is not None:
        env["CTXBENCH_MYSQL_URL"] = url
    with open(workdir / "parent.err", "w") as err:
        return subprocess.Popen([sys.executable, "-c", _PARENT + body, str(workdir)], cwd=PROJECT_ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True,
                                start_new_session=True)


def _told(parent: subprocess.Popen[str], workdir: Path, timeout: float = 120.0) -> list[int]:
    assert parent.stdout is not None
    if not select.select([parent.stdout], [], [], timeout)[0]:
        raise AssertionError(f"the parent never said its tree was up: {(workdir / 'parent.err').read_text()[-3000:]}")
    line = parent.stdout.readline()
    assert line, (workdir / "parent.err").read_text()[-3000:]
    return [int(pid) for pid in json.loads(line)]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux's")
@pytest.mark.parametrize("kind", [pytest.param(kind, marks=[_DB] if kind.startswith(("stack", "cell-group")) else [])
                                  for kind in KINDS])
def test_no_child_outlives_a_parent_killed_by_sigkill(request: pytest.FixtureRequest, tmp_path: Path,
                                                      kind: str) -> None:
    body, fewest, modules = KINDS[kind]
    for module in modules:
        pytest.importorskip(module)
    url = None
    if request.node.get_closest_marker("db"):
        from bench.locustload.launch import full_url

        url = full_url(request.getfixturevalue("mysql_server").target)
    parent = _start_parent(body, tmp_path, url)
    pids: set[int] = set()
    try:
        pids = set(_told(parent, tmp_path))
        pids |= {proc.pid for proc in psutil.Process(parent.pid).children(recursive=True)}
        assert len(pids) >= fewest, (kind, pids)
        parent.send_signal(signal.SIGKILL)  # no clean-up runs: only what the children were given does
        parent.wait(10)
        assert _wait_gone(pids, 10.0) == [], (kind, (tmp_path / "parent.err").read_text()[-2000:])
    finally:
        parent.kill()
        parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()
        _sweep(pids)


# A Ctrl-C that lands in the parent's at-fork hook (logging registers one; a preexec_fn makes Popen run them): the
# hook below raises the signal there, as an unlucky Ctrl-C would, and spins so that the handler runs inside it.
FORK_HOOK_INTERRUPT = r"""
import os, signal, sys
from bench import child

fired = []
def hook() -> None:
    if not fired:
        fired.append(1)
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100_000):  # the handler runs here, inside the hook
            pass
os.register_at_fork(after_in_parent=hook)
try:
    if sys.argv[1] == "start":
        child.start([sys.executable, "-c", "pass"], cwd=".").wait(10)
    else:  # a bare Popen with a preexec_fn: the interrupt is dropped ("Exception ignored")
        import subprocess
        subprocess.Popen([sys.executable, "-c", "pass"], preexec_fn=lambda: None).wait()
    for _ in range(100_000):  # a handler still pending would run here
        pass
except KeyboardInterrupt:
    print("interrupted")
else:
    print("carried on")
"""


@pytest.mark.parametrize(("mode", "expected"), [("start", "interrupted"), ("raw", "carried on")])
def test_a_ctrl_c_inside_the_fork_hooks_is_not_lost(mode: str, expected: str) -> None:
    out = subprocess.run([sys.executable, "-c", FORK_HOOK_INTERRUPT, mode], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, timeout=60, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert out.stdout.strip() == expected, out.stderr
