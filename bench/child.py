"""Starting a child process and ending it with everything it started: the one place the suite does either.

Every process ctxbench starts for its work -- a cell (``python -m bench.cell``, one or several per cell), a real
server of the stack and its HTTP load (``python -m bench.webstack.drive``), Locust's master and workers -- is started
by :func:`start` (or :func:`run`, which also waits for it), and is ended here.  For each one this module promises:

* **A session of its own** (``start_new_session``).  A terminal's Ctrl-C reaches ctxbench alone, which then ends
  the child in order (one arriving during the fork is held until it is done: :func:`deferred_interrupt`); and the
  child leads a process group that holds whatever it starts, so the group can be signalled as one.  stdin is
  ``/dev/null``; stdout and stderr go where the caller says (a file, ``DEVNULL``, a pipe; :func:`run` captures
  ``PIPE`` through an unlinked file, which cannot fill up as a pipe does).
* **A private spec file** (:func:`write_spec`).  What a child reads (a server's password among it) is written as
  JSON to a *new* file that ``os.open`` creates with mode 0600 (``O_CREAT | O_EXCL``): it is never readable by
  another user, not even between its creation and a ``chmod``, and nobody holds it open from before.  Nothing
  secret goes on a command line, which every user can read in ``ps``.
* **A bounded wait, and the whole tree ended.**  :meth:`Child.wait` waits at most as long as it is told and
  leaves the child running; :func:`run` and :meth:`Child.wait_or_end` end it when the bound passes.  The tree is
  ended -- SIGKILL to the child's process group and to every descendant psutil finds (a descendant may have left
  the group) -- on a timeout, on any exception in the parent while it waits (KeyboardInterrupt included: a
  :class:`Child` is a context manager), and whenever the child ends by itself (what it left behind in its group
  is killed before it is reaped).  Children that shut down cleanly (servers, Locust) are given ``grace``: SIGTERM
  to the group first, SIGKILL after ``grace`` seconds (:meth:`Child.end`).  The group is signalled only while its
  leader is not yet reaped (exited or not, its pid -- the group's id -- is still ours), so a signal never reaches a
  stranger that got the number again.
* **Death with the parent.**  ctxbench killed by SIGKILL cannot clean up.  So, on Linux, each child asks the
  kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)`` between fork and exec; exec keeps it), and
  kills itself at once if the parent died before it asked.  The kernel counts the *thread* that started the child
  as its parent: every caller waits for its child in the thread that started it (``--jobs``' pool threads, the
  fault runner's thread), so no child is killed early.  ``fork`` clears the request: how the
  grandchildren are covered (:func:`die_with_parent`), and what is not, is in ``docs/processes.md``.

This module lives in the bottom layer (beside :mod:`bench.poll`) because every stage that starts processes
imports it: ``exec`` (cells), ``stack`` (servers, below ``exec``) and ``swarm`` (Locust, above it).  So it imports
nothing of ``bench``: the callers pass the working directory (``PROJECT_ROOT`` lives in ``bench.records``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL, PIPE, STDOUT
from types import TracebackType
from typing import IO, Any

import msgspec
import psutil

__all__ = ["DEVNULL", "ENV_CHILD", "PIPE", "STDOUT", "Child", "Finished", "death_signal", "die_with_parent",
           "kill_tree", "run", "start", "write_spec"]

#: Set in every child's environment (to the starting process's pid): :func:`die_with_parent` acts only under it.
ENV_CHILD = "CTXBENCH_CHILD"
#: Seconds processes sent SIGKILL get to be gone before they are reported as left over.
KILL_WAIT = 5.0
_PR_SET_PDEATHSIG = 1
_POLL_MAX = 0.05

#: Where a child's stdout or stderr goes: ``DEVNULL``, ``PIPE``, ``STDOUT`` (stderr only), an open file, or None.
Output = int | IO[Any] | None


def write_spec(path: Path | str, data: bytes | object) -> Path:
    """Write ``data`` -- JSON bytes as they are, anything else through ``msgspec.json.encode`` (dicts, lists,
    msgspec Structs) -- to ``path``, a new file of mode 0600, created so (``O_EXCL``) that no other user can ever
    open it; a file already at ``path`` is replaced, never reused.  Returns ``path``."""
    payload = bytes(data) if isinstance(data, bytes | bytearray | memoryview) else msgspec.json.encode(data)
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        path.unlink()
        fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(fd, 0o600)  # the umask may only have taken bits away; exactly 0600, never more
        handle.write(payload)
    return path


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` (Linux), resolved once in the parent: the forked child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def death_signal(signum: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` making the kernel send ``signum`` to the child when the calling thread (or its process)
    dies; the child kills itself at once if its parent died between fork and the request.  None where there is
    no ``prctl``.  The function does only a ``prctl`` and a ``getppid``: safe enough between fork and exec."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signum)
        if os.getppid() != parent:  # the parent is gone already: the signal would never come
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


def die_with_parent() -> None:
    """In a process that a child started here forked (a server's worker), die with that parent too.

    Arms the parent-death SIGKILL against this process's parent, and kills this process at once when its group's
    leader -- the child this module started -- is gone already.  Does nothing outside a tree started here (no
    :data:`ENV_CHILD`), in the child itself (it leads its group; armed before exec) or without ``prctl``.
    """
    leader = os.getpgrp()
    prctl = _prctl()
    if ENV_CHILD not in os.environ or leader == os.getpid() or prctl is None:
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    try:
        gone = psutil.Process(leader).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        gone = True
    except psutil.Error:
        gone = False
    if gone:
        os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold a SIGINT that arrives inside the block, and act on it at the end: a ``preexec_fn`` makes Popen run the
    at-fork hooks (logging's among them), and a ``KeyboardInterrupt`` raised in one is printed and dropped.  Only in
    the main thread under a Python handler (where Python runs them); elsewhere nothing changes."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    noted: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: noted.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if noted:
        previous(signal.SIGINT, sys._getframe())


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _signal_each(procs: Iterable[psutil.Process], signum: int) -> None:
    for proc in procs:  # psutil checks each one is still the process it saw (no pid reused)
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signum)


def _left(procs: Iterable[psutil.Process], timeout: float) -> set[int]:
    """The pids of ``procs`` still running (zombies count as gone) after waiting up to ``timeout`` s."""
    _, alive = psutil.wait_procs(list(procs), timeout=timeout)
    left = set()
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE:
                left.add(proc.pid)
    return left


def kill_tree(pid: int, timeout: float = KILL_WAIT) -> None:
    """SIGKILL the process ``pid``, every descendant of it and, when it leads a process group, that group; wait up
    to ``timeout`` s for them to go.  For a process known only by its pid; a :class:`Child` has :meth:`Child.kill`.
    """
    try:
        leader = psutil.Process(pid)
        procs = [*leader.children(recursive=True), leader]
        leads = os.getpgid(pid) == pid
    except (psutil.Error, ProcessLookupError, PermissionError):
        return
    if leads:
        _signal_group(pid, signal.SIGKILL)
    _signal_each(procs, signal.SIGKILL)
    psutil.wait_procs(procs, timeout=timeout)


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits (and does not reap it), or None where there is none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


class Child:
    """One child started by :func:`start`: waited for within a bound, ended with its whole tree.

    ``returncode`` is None until the child is reaped (by :meth:`wait` once it ended, or by :meth:`kill`,
    :meth:`end`, :meth:`close`), then its exit status, or ``-N`` when signal N ended it.  Used as a context manager
    it is closed when the block ends, by an exception (Ctrl-C included) or not: nothing it started outlives the
    block.  One thread uses a Child.
    """

    def __init__(self, proc: subprocess.Popen[bytes], grace: float | None = None) -> None:
        self.proc = proc
        #: Seconds between SIGTERM and SIGKILL when it is closed; None: SIGKILL at once.
        self.grace = grace
        self._pidfd = _pidfd(proc.pid)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def __enter__(self) -> Child:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _ours(self) -> bool:
        """Whether nobody reaped the child yet: its pid -- its group's id -- cannot have been given to another."""
        if self.proc.returncode is not None:
            return False
        try:
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped behind Popen's back (psutil's wait, say)
            return False
        except AttributeError:  # no waitid on this system: Popen's word
            pass
        return True

    def _has_exited(self) -> bool:
        """Whether the child has exited, without reaping it (where waitid exists)."""
        if self.proc.returncode is not None:
            return True
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True
        except AttributeError:
            return self.proc.poll() is not None

    def _exited(self, timeout: float | None) -> bool:
        """Whether the child exits within ``timeout`` s (None: no bound); it is left unreaped, its group's id ours."""
        if self._pidfd is not None and self._ours():
            return bool(select.select([self._pidfd], [], [], None if timeout is None else max(0.0, timeout))[0])
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.0005
        while not self._has_exited():
            remaining = _POLL_MAX if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(delay, _POLL_MAX, remaining))
            delay *= 2
        return True

    def descendants(self) -> list[psutil.Process]:
        """The child's descendants now (none once it is reaped: its pid may be another process's by then)."""
        if not self._ours():
            return []
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return []

    def _reap(self, procs: Iterable[psutil.Process] = ()) -> set[int]:
        """SIGKILL what is left in the group (while its id is ours), reap the child, wait for ``procs``: pids left."""
        if self._ours():
            _signal_group(self.pid, signal.SIGKILL)
        left = set()
        try:
            self.proc.wait(timeout=KILL_WAIT)
        except subprocess.TimeoutExpired:  # in the kernel, unkillable for now: reported, not waited for
            left.add(self.pid)
        if self._pidfd is not None and self.proc.returncode is not None:
            os.close(self._pidfd)
            self._pidfd = None
        return left | _left(procs, KILL_WAIT)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait up to ``timeout`` s (None: no bound) for the child to end by itself: its status, or None while it
        still runs (it is left running).  Once it ended, whatever it left in its group is killed and it is reaped."""
        if self.proc.returncode is None:
            if not self._exited(timeout):
                return None
            self._reap()
        return self.proc.returncode

    def poll(self) -> int | None:
        """:meth:`wait` without waiting: the status once the child ended, else None."""
        return self.wait(0.0)

    def kill(self, known: Iterable[psutil.Process] = ()) -> set[int]:
        """SIGKILL the child's group and every descendant (and ``known``), reap the child; the pids still running
        :data:`KILL_WAIT` s later (none, normally)."""
        procs = list({proc.pid: proc for proc in (*known, *self.descendants())}.values())
        if self._ours():
            _signal_group(self.pid, signal.SIGKILL)
        _signal_each(procs, signal.SIGKILL)
        return self._reap(procs)

    def end(self, grace: float) -> set[int]:
        """SIGTERM the child's group and every descendant, give them ``grace`` s to end, then :meth:`kill` what is
        left; the pids still running after that (none, normally)."""
        procs = self.descendants()
        if self._ours():
            _signal_group(self.pid, signal.SIGTERM)
        _signal_each(procs, signal.SIGTERM)
        deadline = time.monotonic() + grace
        self._exited(grace)
        psutil.wait_procs(procs, timeout=max(0.0, deadline - time.monotonic()))
        return self.kill(procs)

    def close(self) -> set[int]:
        """End the child and its tree unless that is done: :meth:`end` with :attr:`grace`, else :meth:`kill`."""
        if self.proc.returncode is not None:
            return set()
        if self.grace is not None and not self._has_exited():
            return self.end(self.grace)
        return self.kill()

    def wait_or_end(self, bound: float) -> bool:
        """Wait up to ``bound`` s for the child to end by itself (True); otherwise :meth:`close` it (False).  An
        exception while waiting (Ctrl-C) closes it too, and propagates."""
        try:
            if self.wait(bound) is not None:
                return True
        except BaseException:
            self.close()
            raise
        self.close()
        return False


def start(argv: Sequence[str], *, cwd: Path | str, env: Mapping[str, str] | None = None, stdout: Output = DEVNULL,
          stderr: Output = DEVNULL, grace: float | None = None) -> Child:
    """Start ``argv`` in ``cwd`` with ``env`` (None: this process's), in a session of its own, stdin from
    ``/dev/null``, dying with the calling thread (Linux); ``grace``: see :attr:`Child.grace`."""
    child_env = {**(os.environ if env is None else env), ENV_CHILD: str(os.getpid())}
    with deferred_interrupt():  # the preexec_fn runs at-fork hooks, where a Ctrl-C would be dropped
        proc = subprocess.Popen(list(argv), cwd=cwd, env=child_env, stdin=DEVNULL, stdout=stdout, stderr=stderr,
                                start_new_session=True, preexec_fn=death_signal())
    return Child(proc, grace)


@dataclass(frozen=True)
class Finished:
    """A child :func:`run` waited for."""

    #: Its exit status; ``-9`` (SIGKILL) when the bound ended it.
    returncode: int
    #: What it wrote where ``PIPE`` was asked (decoded, undecodable bytes replaced); None where it was not.
    stdout: str | None
    stderr: str | None
    #: Whether it was killed at the bound.
    timed_out: bool


def _captured(handle: IO[bytes] | None) -> str | None:
    if handle is None:
        return None
    handle.seek(0)
    return handle.read().decode(errors="replace")


def run(argv: Sequence[str], *, timeout: float, cwd: Path | str, env: Mapping[str, str] | None = None,
        stdout: Output = DEVNULL, stderr: Output = PIPE) -> Finished:
    """:func:`start` ``argv``, wait up to ``timeout`` s, kill its tree if it has not ended; ended either way.

    ``PIPE`` output is captured through an unlinked temporary file (a pipe could fill and stall the child) and
    returned as text.  Any exception while waiting (Ctrl-C) kills the tree and propagates.
    """
    with contextlib.ExitStack() as files:
        captured = [files.enter_context(tempfile.TemporaryFile()) if isinstance(out, int) and out == PIPE else None
                    for out in (stdout, stderr)]
        outputs = [out if handle is None else handle for out, handle in zip((stdout, stderr), captured, strict=True)]
        with start(argv, cwd=cwd, env=env, stdout=outputs[0], stderr=outputs[1]) as child:
            status = child.wait(timeout)
            if status is None:
                child.kill()
        texts = [_captured(handle) for handle in captured]
    code = child.returncode if child.returncode is not None else -signal.SIGKILL
    return Finished(code, texts[0], texts[1], status is None)
