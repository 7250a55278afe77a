"""One typed spec per kind of cell: what the plan holds, and what a cell process is told to run.

Two families, one owner:

* **plan specs** -- :class:`ProbesSpec`, :class:`MicroSpec`, :class:`CeilingSpec`, :class:`DbSpec`,
  :class:`StackSpec`: a planned cell's coordinates and timing, as ``run.json`` stores them
  (:func:`plan_spec_from_json` reads one back, by the cell's kind);
* **task specs** -- :class:`ProbesSpec` again (a probe cell runs its plan spec as it is),
  :class:`MicroTask` and :class:`DbTask`: what ``python -m bench.cell`` runs, written to the cell's
  private spec file by the parent and read by the cell (:func:`task_from_json`).

These are the only places a spec turns into JSON and back; everything between holds the objects.
Optional fields default to :data:`msgspec.UNSET` (absent from the JSON), so the JSON of each spec is
field for field what the dicts it replaces held.  This module imports nothing of the suite: the cell
process reads it before gevent patches anything (the one import the cell stage makes from the plan
stage; ``pyproject.toml``'s layers contract names it).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

#: The watchdog's default: seconds without progress before a db cell is declared hung.
DEFAULT_HANG_AFTER = 5.0


class Spec(msgspec.Struct, kw_only=True, repr_omit_defaults=True):
    """A spec; :meth:`to_json` is its JSON form."""

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this spec (absent optional fields left out)."""
        return msgspec.to_builtins(self)

    def replace(self: Any, **changes: Any) -> Any:
        """A copy with ``changes`` applied."""
        return msgspec.structs.replace(self, **changes)


class OnInterpreter(Spec, kw_only=True):
    """A cell that may run on another interpreter than the parent's (``--python``): its path and short name.

    Both absent: the cell runs on the interpreter ``ctxbench`` runs on (plans written before ``--python`` existed).
    """

    python: str | UnsetType = UNSET  # the interpreter's path
    interpreter: str | UnsetType = UNSET  # its short name, ``3.14t``


class ProbesSpec(OnInterpreter, kw_only=True):
    """A probe cell: every probe of ``probes`` on one impl under one load, ``workers`` at a time."""

    task: Literal["probes"] = "probes"
    impl: str
    load: str
    workers: int
    probes: list[str]


class MicroSpec(OnInterpreter, kw_only=True):
    """The micro-benchmark cell: every impl timed in ``processes`` fresh processes."""

    impls: list[str]
    processes: int
    values: int
    min_time: float


class ParallelSpec(OnInterpreter, kw_only=True):
    """The 1-thread / 2-thread cell: every impl's ``ops`` by one thread, then two at once, ``window`` seconds each,
    ``rounds`` times in each of ``processes`` fresh processes."""

    impls: list[str]
    ops: list[str]
    processes: int
    rounds: int
    window: float


class CeilingSpec(Spec, kw_only=True):
    """The server's own capacity (mysqlslap) at one concurrency."""

    concurrency: int


class _OverPath:
    """What a db, request or stack cell reads of the path to its server: the round trip and the driver it names.

    A mixin without fields (each spec declares ``rtt_ms`` and ``driver`` in its own place among its fields)."""

    __slots__ = ()
    rtt_ms: float | UnsetType
    driver: str | UnsetType

    @property
    def rtt(self) -> float | None:
        """The round trip the cell runs at (None: no such coordinate)."""
        return None if self.rtt_ms is UNSET else float(self.rtt_ms)

    @property
    def driver_name(self) -> str | None:
        """The driver the cell names (None: none, PyMySQL as always)."""
        return None if self.driver is UNSET else str(self.driver)


class DbSpec(OnInterpreter, _OverPath, kw_only=True):
    """A ``db`` or ``request`` cell as planned: strategy x load x concurrency (x impl) x processes, and its timing.

    ``impl`` is None for a ``db`` cell (and written as null); ``processes`` is absent for one process (plans
    written before it existed are one process); ``hang_after`` is absent from plans written before it existed;
    ``rtt_ms`` (the round trip a delay proxy adds, ``--rtt``; 0: direct, measured) is absent unless asked for.
    """

    kind: Literal["db", "request"]
    strategy: str
    load: str
    concurrency: int  # workers per process
    impl: str | None
    processes: int | UnsetType = UNSET
    duration: float
    warmup: float
    hang_after: float | UnsetType = UNSET
    mix: dict[str, int] | UnsetType = UNSET
    rtt_ms: float | UnsetType = UNSET
    driver: str | UnsetType = UNSET  # the MySQL driver its connections speak (``--driver``); absent: PyMySQL

    @property
    def process_count(self) -> int:
        """Load processes (1 when absent)."""
        return 1 if self.processes is UNSET else int(self.processes)

    @property
    def watchdog(self) -> float:
        """Seconds without progress before the cell is hung (the default when the plan predates the setting)."""
        return DEFAULT_HANG_AFTER if self.hang_after is UNSET else float(self.hang_after)


class StackSpec(Spec, _OverPath, kw_only=True):
    """A real-stack cell: one server x impl x strategy x concurrency x worker processes."""

    server: str
    workers: int
    impl: str
    strategy: str
    concurrency: int
    duration: float
    warmup: float
    request_timeout: float | UnsetType = UNSET  # seconds a request may wait for its reply (the driver's default)
    io_sleep: float | UnsetType = UNSET  # seconds the handler sleeps as I/O would, between Local and query
    port: int | UnsetType = UNSET  # the server's port (a free one when absent)
    rtt_ms: float | UnsetType = UNSET  # the round trip a delay proxy adds between the app and the database
    driver: str | UnsetType = UNSET  # the MySQL driver the app's strategy speaks (``--driver``); absent: PyMySQL


#: A planned cell's spec, by the cell's kind.
PLAN_SPECS: dict[str, type[Spec]] = {
    "probes": ProbesSpec, "micro": MicroSpec, "parallel": ParallelSpec, "ceiling": CeilingSpec, "db": DbSpec,
    "request": DbSpec, "stack": StackSpec,
}
PlanSpec = ProbesSpec | MicroSpec | ParallelSpec | CeilingSpec | DbSpec | StackSpec


def plan_spec_from_json(kind: str, raw: Any) -> PlanSpec:
    """The spec of a planned cell of ``kind`` from its JSON form (``run.json``); ValueError if it does not fit."""
    try:
        return msgspec.convert(raw, type=PLAN_SPECS[kind])  # type: ignore[return-value]
    except (KeyError, msgspec.ValidationError) as exc:
        raise ValueError(f"planned {kind!r} cell with a spec that does not fit: {exc}") from None


class MicroTask(Spec, kw_only=True):
    """One micro-benchmark worker process: ``impls`` x ``ops``, ``values`` values each (rotated by ``seed``)."""

    task: Literal["micro"] = "micro"
    ops: list[str]
    values: int
    warmups: int
    min_time: float
    impls: list[str]
    seed: int = 0


class ParallelTask(Spec, kw_only=True):
    """One process of the 1-thread / 2-thread cell: ``impls`` x ``ops``, ``rounds`` rounds (order rotated by
    ``seed``), each thread count running ``window`` seconds."""

    task: Literal["parallel"] = "parallel"
    impls: list[str]
    ops: list[str]
    rounds: int
    window: float
    seed: int = 0


class Connection(Spec, kw_only=True):
    """The server a cell connects to: the only place the password travels (in the cell's private spec file)."""

    host: str
    port: int
    user: str
    password: str | None = None
    database: str
    source: str | None = None
    tls: dict[str, Any] | None = None
    connect_options: dict[str, Any] | UnsetType = UNSET  # extra driver keywords for every connection


class DbTask(Connection, kw_only=True):
    """What one ``db`` / ``request`` cell process runs (each process of a several-process cell, with its ``group``)."""

    task: Literal["db", "request"]
    strategy: str
    load: str
    concurrency: int
    impl: str | UnsetType = UNSET  # request cells
    mix: dict[str, int] | UnsetType = UNSET  # db cells
    duration: float | None = None
    warmup: float = 0.5
    hang_after: float = DEFAULT_HANG_AFTER
    server_pid: int | None = None  # the server's process when it runs on this machine (its CPU is read)
    ops: int | UnsetType = UNSET  # a fixed number of operations instead of a window
    record: bool = True  # time and record every operation
    timeline: bool = False  # keep the per-interval timeline (fault scenarios)
    #: Seconds past which an operation counts as stuck: the record's ``op_waits`` (fault scenarios; absent: untracked).
    wait_bound: float | UnsetType = UNSET
    group: dict[str, Any] | UnsetType = UNSET  # several processes: the common start's folder, count and index
    python: str | UnsetType = UNSET  # the interpreter the parent starts the cell with (``--python``); not read by it
    #: ``[start_s, length_s]`` items, offsets from the measured window's start: during each, every worker does no
    #: operation and holds no checkout (the idle-timeout scenario's gaps; :func:`check_idle_gaps`).
    idle_gaps: list[list[float]] | UnsetType = UNSET
    #: The MySQL driver the strategy's connections speak (a built-in name or ``package.module:attr``); absent: PyMySQL.
    driver: str | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.idle_gaps is not UNSET:
            check_idle_gaps(self.idle_gaps, self.duration, self.ops is not UNSET)


def check_idle_gaps(gaps: list[list[float]], duration: float | None, ops_mode: bool = False) -> None:
    """Raise a one-line ValueError unless ``gaps`` are ``[start_s, length_s]`` pairs with start >= 0 and length > 0,
    sorted, not overlapping (one may begin where the last ended), and inside a window of ``duration`` seconds."""
    if ops_mode or duration is None:
        raise ValueError("idle_gaps: a cell with idle gaps measures a window: give duration, not ops")
    end = 0.0
    for item in gaps:
        if len(item) != 2:
            raise ValueError(f"idle_gaps: each gap is [start_s, length_s], got {item!r}")
        start, length = float(item[0]), float(item[1])
        if not (start >= 0 and length > 0):  # also refuses NaN
            raise ValueError(f"idle_gaps: a gap needs start >= 0 and length > 0, got {item!r}")
        if start < end:
            raise ValueError(f"idle_gaps: gaps must be sorted and must not overlap, got {item!r} after one ending "
                             f"at {end:g} s")
        end = start + length
        if end > duration:
            raise ValueError(f"idle_gaps: gap {item!r} ends at {end:g} s, after the {duration:g} s window")


#: What ``python -m bench.cell`` runs, by its ``task``.
TASKS: dict[str, type[Spec]] = {"probes": ProbesSpec, "micro": MicroTask, "parallel": ParallelTask, "db": DbTask,
                                 "request": DbTask}
TaskSpec = ProbesSpec | MicroTask | ParallelTask | DbTask


def task_from_json(raw: Any) -> TaskSpec:
    """The task spec a cell process was given (the cell's edge); ValueError naming what does not fit."""
    task = raw.get("task") if isinstance(raw, dict) else None
    if task not in TASKS:
        raise ValueError(f"unknown cell task {task!r}")
    try:
        return msgspec.convert(raw, type=TASKS[task])  # type: ignore[return-value]
    except msgspec.ValidationError as exc:
        raise ValueError(f"malformed {task} spec: {exc}") from None
