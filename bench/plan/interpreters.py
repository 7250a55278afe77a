"""The interpreters of a run (``--python``): which ones, their short names, what each leaves out.

A run can measure its cells on several interpreters -- the GIL build and the free-threaded build of one CPython
version, side by side.  Every cell already runs in a fresh process; ``--python PATH`` says which executable starts
it.  :class:`Interpreter` is what the plan knows of one (found by :func:`bench.exec.interpreters.discover`, which
asks the interpreter itself); the cell ids and labels name it only when a run has more than one
(:meth:`Interpreter.id_part`, :meth:`Interpreter.label_part`).

gevent does not support free-threading (gevent issue 2127): importing it into a free-threaded CPython turns the GIL
back on for the whole process.  So on a free-threaded interpreter the gevent loads and the ``gevent-local`` subject
are left out (:func:`loads_for`, :func:`impls_for`), said once in one line (:data:`GEVENT_LEFT_OUT`), and every other
cell's process never imports gevent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.cell.interpreter import tag as short_name

#: Loads and subjects that import gevent.
GEVENT_LOADS: tuple[str, ...] = ("gevent", "gevent-nothread")
GEVENT_IMPLS: tuple[str, ...] = ("gevent-local",)
#: Why they are left out on a free-threaded interpreter, in one line.
GEVENT_LEFT_OUT = ("gevent does not support free-threading (gevent issue 2127; importing it turns the GIL back on), "
                   "so its loads and gevent-local are left out")


@dataclass(frozen=True)
class Interpreter:
    """One interpreter of a run: its path, version and build, or why it cannot run cells (``missing``)."""

    path: str
    version: str = ""
    free_threaded: bool = False
    #: Why no cell can run on it (not found, not a CPython ctxbench's cells can run on); None when it can.
    missing: str | None = None

    @property
    def available(self) -> bool:
        return self.missing is None

    @property
    def tag(self) -> str:
        """``3.14t`` / ``3.14``; the path when the version is not known."""
        return short_name(self.version, self.free_threaded) if self.version else self.path

    def left_out(self) -> str | None:
        """What this interpreter does not run, and why, in one line (None: it runs everything)."""
        return GEVENT_LEFT_OUT if self.free_threaded else None

    def id_part(self, several: bool) -> str | None:
        """What a cell id gets for this interpreter: ``py3.14t`` in a run of several interpreters, else nothing."""
        return f"py{self.tag}" if several else None

    def label_part(self, several: bool) -> str:
        """What a cell label gets: `` [3.14t]`` in a run of several interpreters, else nothing."""
        return f" [{self.tag}]" if several else ""

    def spec_fields(self) -> dict[str, Any]:
        """The fields every spec of a cell on this interpreter carries (``python``, ``interpreter``)."""
        return {"python": self.path, "interpreter": self.tag}

    def to_json(self) -> dict[str, Any]:
        """What ``environment.json`` says of it (``interpreters``)."""
        out: dict[str, Any] = {"path": self.path, "tag": self.tag, "version": self.version or None,
                               "free_threaded": self.free_threaded}
        if self.missing:
            out["missing"] = self.missing
        if self.left_out():
            out["left_out"] = self.left_out()
        return out


def loads_for(interpreter: Interpreter | None, loads: Iterable[str]) -> list[str]:
    """``loads`` this interpreter runs (no gevent load on a free-threaded one)."""
    if interpreter is None or not interpreter.free_threaded:
        return list(loads)
    return [name for name in loads if name not in GEVENT_LOADS]


def impls_for(interpreter: Interpreter | None, impls: Iterable[str]) -> list[str]:
    """``impls`` this interpreter runs (no gevent-local on a free-threaded one)."""
    if interpreter is None or not interpreter.free_threaded:
        return list(impls)
    return [name for name in impls if name not in GEVENT_IMPLS]


def runnable(interpreters: Sequence[Interpreter] | None) -> list[Interpreter | None]:
    """The interpreters cells are planned on: the available ones, or ``[None]`` (the parent's own) when none given."""
    if not interpreters:
        return [None]
    return [i for i in interpreters if i.available]
