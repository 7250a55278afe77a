"""Validated selections: what the user asked for, checked before anything is measured.

Every command that takes impls, loads, probes or strategies goes through these functions, so a
bad name is refused the same way everywhere: one line naming it (a :class:`UsageError`, or an
error line per name where the other names still run).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import localimpls
from bench.cell import strategies as strategies_mod
from bench.cell.db import check_mix
from bench.cell.loads import ASYNC_DB_LOADS, DB_LOADS
from bench.cell.probes import PROBES
from bench.errors import UsageError
from bench.plan.interpreters import Interpreter
from bench.plan.matrix import (
    DB_DEFAULT,
    LOCAL_LOADS,
    LOCAL_PROBES,
    MAX_CONCURRENCY,
    MAX_PROCESSES,
    MAX_RTT_MS,
    MAX_STACK_WORKERS,
    MICRO_PROCESSES,
    MICRO_VALUES,
    PROCESSES_DEFAULT,
    REQUEST_CONCURRENCY,
    STACK_DEFAULT,
)


@dataclass(frozen=True)
class LocalsPlan:
    """A validated selection for the locals matrix."""

    impls: tuple[str, ...]
    loads: tuple[str, ...]
    probes: tuple[str, ...]
    workers: int
    micro: bool = True
    micro_processes: int = MICRO_PROCESSES
    micro_values: int = MICRO_VALUES
    #: The 1-thread / 2-thread cell (``ctxbench locals`` and ``run`` plan it beside the micro-benchmarks).
    parallel: bool = False
    #: The interpreters the cells run on (``--python``); none: the one ctxbench runs on.
    interpreters: tuple[Interpreter, ...] = ()


@dataclass(frozen=True)
class DbSelection:
    """A selection for the database matrix and the request scenario (checked by :func:`check_selection`)."""

    strategies: list[str]
    loads: list[str]
    concurrency: list[int]
    #: Measured seconds per cell, after the warm-up.
    duration: float = DB_DEFAULT["duration"]
    warmup: float = DB_DEFAULT["warmup"]
    #: The Locals of the request scenario (none: no request cells).
    request_impls: list[str] = field(default_factory=list)
    #: The strategies of the request scenario (none: ``strategies``).
    request_strategies: list[str] = field(default_factory=list)
    #: Seconds without progress after which a cell ends itself as ``hung``.
    hang_after: float = DB_DEFAULT["hang_after"]
    #: Load processes per cell (each runs ``concurrency`` workers): one cell per value.
    processes: list[int] = field(default_factory=lambda: list(PROCESSES_DEFAULT))
    #: Workers of every request-scenario cell (that scenario runs at one concurrency).
    request_concurrency: int = REQUEST_CONCURRENCY
    #: The ``db`` cells' operation mix (None: the cell's ``DEFAULT_MIX``; the request scenario always echoes its
    #: request token).
    mix: dict[str, int] | None = None
    #: Round trips (ms) added by a delay proxy between the cells and the server, one cell per value (0: direct, the
    #: round trip measured); None: no such coordinate, the cells as they always were.
    rtt_ms: list[float] | None = None
    #: The interpreters the cells run on (``--python``); none: the one ctxbench runs on.
    interpreters: tuple[Interpreter, ...] = ()
    #: The MySQL drivers the strategies speak (``--driver``), one cell per driver; None: no such coordinate (PyMySQL,
    #: the cells as they always were).
    drivers: list[str] | None = None


@dataclass(frozen=True)
class StackSelection:
    """A validated selection for the real stack: server x impl x strategy x concurrency."""

    servers: list[str]
    impls: list[str]
    strategies: list[str]
    concurrency: list[int]
    duration: float = STACK_DEFAULT["duration"]
    warmup: float = STACK_DEFAULT["warmup"]
    #: Server worker processes: one cell per value (``--processes``; a bare int is one value).
    workers: list[int] | int = STACK_DEFAULT["workers"]
    #: The strategies the servers of the asyncio model load (uvicorn) run instead of ``strategies``; None: every
    #: server runs ``strategies``.  Only the defaults set it (their pool differs by load); named strategies apply to
    #: every server and one that a server's app cannot serve is refused.
    async_strategies: list[str] | None = None
    #: Round trips (ms) added between the app servers and the database, one cell per value (as ``DbSelection``'s).
    rtt_ms: list[float] | None = None
    #: The MySQL drivers the app's strategy speaks, one cell per driver (as ``DbSelection``'s).
    drivers: list[str] | None = None

    def strategies_for(self, server: str) -> list[str]:
        """The strategies ``server``'s cells run."""
        from bench.webstack.servers import SERVERS

        info = SERVERS.get(server)
        if self.async_strategies is not None and info is not None and info.model_load in ASYNC_DB_LOADS:
            return list(self.async_strategies)
        return list(self.strategies)

    def worker_counts(self) -> list[int]:
        """``workers`` as a list (a bare int is a list of one)."""
        return [self.workers] if isinstance(self.workers, int) else list(self.workers)


def split_names(values: Iterable[str] | None) -> list[str]:
    """Flatten repeatable, comma-separated flags: ``--x a,b --x c`` -> [a, b, c]."""
    names: list[str] = []
    for value in values or ():
        for part in value.split(","):
            part = part.strip()
            if part and part not in names:
                names.append(part)
    return names


def select_impls(requested: Sequence[str]) -> tuple[list[str], list[str]]:
    """(valid impl names, one error line per unknown name).  Import paths are checked in the cell."""
    if not requested:
        return localimpls.default_impls(), []
    valid, errors = [], []
    for name in requested:
        try:
            localimpls.target_of(name)
        except localimpls.ImplError as exc:
            errors.append(str(exc))
            continue
        valid.append(name)
    return valid, errors


def select_loads(requested: Sequence[str], *, allowed: Sequence[str] = LOCAL_LOADS) -> tuple[list[str], list[str]]:
    """(valid load names, one error line per unknown name)."""
    if not requested:
        return list(allowed), []
    valid, errors = [], []
    for name in requested:
        if name in allowed:
            valid.append(name)
        else:
            errors.append(f"unknown load {name!r} (known: {', '.join(allowed)})")
    return valid, errors


def select_probes(requested: Sequence[str]) -> list[str]:
    """The probes to run (all by default); an unknown name is a UsageError."""
    if not requested:
        return list(LOCAL_PROBES)
    unknown = [p for p in requested if p not in PROBES]
    if unknown:
        raise UsageError(f"unknown probe {unknown[0]!r} (known: {', '.join(PROBES)})")
    return list(requested)


def _check_strategies(strategies: Sequence[str]) -> None:
    if not strategies:
        raise UsageError("no strategy selected")
    for name in strategies:
        try:
            strategies_mod.check_name(name)
        except strategies_mod.StrategyError as exc:
            raise UsageError(str(exc)) from None


def _check_timing(concurrency: Sequence[int], duration: float, warmup: float) -> None:
    if not concurrency:
        raise UsageError("no concurrency selected")
    for value in concurrency:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
            raise UsageError(f"concurrency must be a whole number from 1 to {MAX_CONCURRENCY}, got {value!r}")
    if not isinstance(duration, (int, float)) or not duration > 0 or not math.isfinite(duration):
        raise UsageError(f"duration must be a positive number of seconds, got {duration!r}")
    if not isinstance(warmup, (int, float)) or not warmup >= 0:
        raise UsageError(f"warmup must be zero or a positive number of seconds, got {warmup!r}")


def validate_db(*, strategies: Sequence[str], loads: Sequence[str], concurrency: Sequence[int], duration: float,
                warmup: float, impls_for_request: Sequence[str] | None = None,
                request_concurrency: int = REQUEST_CONCURRENCY) -> None:
    """Raise a one-line UsageError for the first bad input of a database selection (its mix: :func:`validate_mix`)."""
    _check_strategies(strategies)
    if not loads:
        raise UsageError("no load selected")
    for name in loads:
        if name not in DB_LOADS:
            raise UsageError(f"unknown load {name!r} for the database matrix (known: {', '.join(DB_LOADS)})")
        for strategy in strategies:
            try:
                strategies_mod.check_serves(strategy, name)
            except strategies_mod.StrategyError as exc:
                raise UsageError(str(exc)) from None
    _check_timing([*concurrency, request_concurrency] if concurrency else [], duration, warmup)
    for impl in impls_for_request or ():
        try:
            localimpls.target_of(impl)
        except localimpls.ImplError as exc:
            raise UsageError(str(exc)) from None


def validate_mix(mix: Mapping[str, int] | None) -> None:
    """A one-line UsageError unless ``mix`` is None (the default) or a valid operation mix."""
    if mix is not None:
        try:
            check_mix(mix)
        except ValueError as exc:
            raise UsageError(str(exc)) from None


def check_processes(processes: Sequence[int], maximum: int = MAX_PROCESSES, what: str = "processes") -> None:
    """A one-line UsageError unless ``processes`` is a non-empty list of whole numbers from 1 to ``maximum``."""
    if isinstance(processes, int) or not processes:
        raise UsageError(f"no {what} count selected")
    for value in processes:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
            raise UsageError(f"{what} must be a whole number from 1 to {maximum}, got {value!r}")


def check_rtt(rtt_ms: Sequence[float] | None) -> None:
    """A one-line UsageError unless ``rtt_ms`` is None or a non-empty list of round trips from 0 to
    :data:`MAX_RTT_MS` milliseconds."""
    if rtt_ms is None:
        return
    if isinstance(rtt_ms, (int, float)) or not rtt_ms:
        raise UsageError("no round trip selected")
    for value in rtt_ms:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_RTT_MS:
            raise UsageError(f"a round trip must be from 0 to {MAX_RTT_MS:g} ms, got {value!r}")


def check_drivers(drivers: Sequence[str] | None, strategies: Sequence[str], loads: Sequence[str]) -> None:
    """A one-line UsageError unless ``drivers`` is None (the default) or a non-empty list of driver names, each of
    which every strategy can be built over under every load."""
    from bench.cell import drivers as drivers_mod

    if drivers is None:
        return
    if not drivers:
        raise UsageError("no driver selected")
    for name in drivers:
        try:
            drivers_mod.check_name(name)
        except drivers_mod.DriverError as exc:
            raise UsageError(str(exc)) from None
        for strategy in strategies:
            for load in loads:
                try:
                    strategies_mod.check_driver(strategy, load, name)
                except strategies_mod.StrategyError as exc:
                    raise UsageError(str(exc)) from None


def check_selection(selection: DbSelection) -> DbSelection:
    """``selection`` itself, once both its matrices (strategies, and the request scenario's) are valid."""
    check_processes(selection.processes)
    check_rtt(selection.rtt_ms)
    check_drivers(selection.drivers, [*selection.strategies, *selection.request_strategies], selection.loads)
    common = {"loads": selection.loads, "concurrency": selection.concurrency, "duration": selection.duration,
              "warmup": selection.warmup, "request_concurrency": selection.request_concurrency}
    validate_db(strategies=selection.strategies, impls_for_request=selection.request_impls, **common)
    validate_db(strategies=selection.request_strategies or selection.strategies, **common)
    validate_mix(selection.mix)
    return selection


def _check_stack_impls(impls: Sequence[str]) -> None:
    from bench.webstack import STACK_IMPLS_EXTRA

    if not impls:
        raise UsageError("no impl selected")
    for impl in impls:
        if impl in STACK_IMPLS_EXTRA:
            continue
        try:
            localimpls.target_of(impl)
        except localimpls.ImplError as exc:
            raise UsageError(f"{exc} (or, in the real app only: {', '.join(STACK_IMPLS_EXTRA)})") from None


def _check_fit(selection: StackSelection) -> None:
    """A one-line UsageError for the first impl or strategy a selected server's app cannot serve."""
    from bench.webstack.servers import SERVERS, unfit

    for name in selection.servers:
        for impl in selection.impls:
            for strategy in selection.strategies_for(name):
                why = unfit(SERVERS[name], impl, strategy)
                if why is not None:
                    raise UsageError(why)
                if selection.async_strategies is None:  # named: its driver must be installed (the defaults' cells
                    try:  # are recorded skipped instead, saying what is missing)
                        strategies_mod.check_serves(strategy, SERVERS[name].model_load)
                    except strategies_mod.StrategyError as exc:
                        raise UsageError(f"server {name}: {exc}") from None


def check_stack(selection: StackSelection, *, skip_unfit: bool = False) -> StackSelection:
    """``selection`` itself once every name and number in it is valid; a one-line UsageError for the first bad one.

    A one-process server asked for several worker processes is an error unless ``skip_unfit`` (``ctxbench
    run``: such a cell is recorded ``skipped`` with the reason instead).
    """
    from bench.webstack.servers import SERVERS

    if not selection.servers:
        raise UsageError("no server selected")
    for name in selection.servers:
        if name not in SERVERS:
            raise UsageError(f"unknown server {name!r} (known: {', '.join(SERVERS)})")
    _check_stack_impls(selection.impls)
    _check_strategies(selection.strategies)
    if selection.async_strategies is not None:
        _check_strategies(selection.async_strategies)
    _check_timing(selection.concurrency, selection.duration, selection.warmup)
    check_rtt(selection.rtt_ms)
    _check_fit(selection)
    for name in selection.servers:
        check_drivers(selection.drivers, selection.strategies_for(name), [SERVERS[name].model_load])
    workers = selection.workers
    check_processes([workers] if isinstance(workers, int) and not isinstance(workers, bool) else workers,
                    MAX_STACK_WORKERS, "workers")
    if skip_unfit:
        return selection
    many = max(selection.worker_counts())
    for name in selection.servers:
        if many > 1 and not SERVERS[name].multi_process:
            multi = ", ".join(n for n, info in SERVERS.items() if info.multi_process)
            raise UsageError(f"server {name} runs one process: {many} worker processes need {multi}")
    return selection
