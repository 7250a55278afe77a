"""The master's record: the workers' reports added up into one DbRecord or StackRecord with ``load: "locust"``.

Contract: :func:`merge_record` sums every count of the reports (requests, right replies, errors by label, wrong
replies by verdict, HTTP statuses) and adds their histograms (:func:`bench.records.latency.merge`); ``ops_per_s`` is
the right replies per second of the window (each worker's over the part of the window it covered -- all of it unless
the run stopped early, then ``truncated`` -- added up). ``locust_workers`` keeps each report's own counts;
``locust_processes`` says how many worker processes took part and ``reported_processes`` how many reported.  A db
record reads like a db cell of several load processes (``processes`` = the Locust processes, ``concurrency`` the
users of one -- the largest share when the split is uneven -- and ``total_concurrency`` = ``users`` all of them); a
stack record like a stack cell (``concurrency`` = the HTTP clients, ``processes`` = ``workers`` the app's server
processes). A worker that took part but never reported is named in
``missing_workers`` and makes the record ``partial``. Nothing here talks to Locust or a server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bench.cell.strategies import settings_of
from bench.locustload.options import Plan
from bench.records import latency
from bench.records.kinds import UNSET, DbRecord, StackRecord

#: A worker's report, as it arrives in Locust's message (plain JSON: :meth:`bench.locustload.tally.Tally.report` and who
#: sent it).
Report = Mapping[str, Any]
R = TypeVar("R", DbRecord, StackRecord)
#: The per-worker fields copied into ``locust_workers``.
WORKER_FIELDS = ("id", "index", "host", "pid", "users", "requests", "ok", "errors", "wrong", "http_errors",
                 "warmup_requests", "after_requests", "in_flight_at_report", "server_url", "error")


def _worker_entry(report: Report) -> dict[str, Any]:
    """One worker's own counts in the record, with its latency percentiles (from its histogram)."""
    field = report.get(latency.FIELD)
    lat = {k: v for k, v in latency.field_summary_ms(field).items() if k != "count"} if field else None
    return {**{key: report.get(key) for key in WORKER_FIELDS}, "ops": report.get("ok"), "latency_ms": lat}


def _summed(reports: Sequence[Report], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for report in reports:
        for label, count in dict(report.get(key) or {}).items():
            out[label] = out.get(label, 0) + int(count)
    return dict(sorted(out.items()))


def _total(reports: Sequence[Report], key: str) -> int:
    return sum(int(r.get(key, 0)) for r in reports)


@dataclass(frozen=True)
class _Run:
    """What the reports of one run add up to, whatever the kind of its record."""

    plan: Plan
    reports: Sequence[Report]  # sorted by worker index
    expected: Sequence[str]
    server_url: str | None

    @property
    def missing(self) -> list[str]:
        """Workers that took part and sent no report."""
        return sorted(set(self.expected) - {str(r.get("id")) for r in self.reports})

    @property
    def processes(self) -> int:
        return len(set(self.expected) | {str(r.get("id")) for r in self.reports})

    @property
    def users(self) -> int:
        """Locust users in total."""
        return _total(self.reports, "users")

    @property
    def largest_share(self) -> int:
        """The most users one reporting worker ran (0 with no report)."""
        return max((int(r.get("users", 0)) for r in self.reports), default=0)

    @property
    def problems(self) -> list[str]:
        """One line per worker that could not run the workload."""
        return [f"worker {r.get('index')}: {r['error']}" for r in self.reports if r.get("error")]

    def _spans(self) -> list[float]:
        """The part of the window each report covers (all of it unless the run stopped early)."""
        return [float(r.get("measured_s", self.plan.duration)) for r in self.reports]

    def rate(self, key: str) -> float | None:
        """``key`` (right replies, or requests) per second: each worker's over the part of the window it covered."""
        spans = self._spans()
        rate = sum(int(r.get(key, 0)) / span for r, span in zip(self.reports, spans, strict=True) if span > 0)
        return round(rate, 1) if any(span > 0 for span in spans) else None

    def outcome(self, failed: int) -> tuple[str, str | None]:
        """The record's outcome and why, ``failed`` being the operations that came back wrong or failed."""
        requests = _total(self.reports, "requests")
        problems = self.problems
        if problems and not requests:
            outcome, reason = "error", problems[0]
        elif failed:
            outcome, reason = "errors", f"{failed} of {requests} operations came back wrong or failed"
        elif not requests:
            outcome, reason = "errors", "no operation ended inside the window"
        else:
            outcome, reason = "ok", None
        if self.missing:
            reason = f"{len(self.missing)} of {self.processes} workers sent no report: " + ", ".join(self.missing)
        return outcome, reason

    def record(self, kind: type[R], failed: int, *, rate_of: str, **fields: Any) -> R:
        """The record of ``kind``: what every kind shares (counts, histogram, throughput, workers), and ``fields``."""
        hist = latency.merge([r[latency.FIELD] for r in self.reports if r.get(latency.FIELD)])
        spans = self._spans()
        urls = sorted({str(r["server_url"]) for r in self.reports if r.get("server_url")})
        outcome, reason = self.outcome(failed)
        return kind(
            load="locust", outcome=outcome, reason=UNSET if reason is None else reason,
            users=self.users, duration_s=self.plan.duration, warmup_s=self.plan.warmup,
            requests=_total(self.reports, "requests"), ok=_total(self.reports, "ok"),
            measured_s=round(max(spans), 4) if spans else 0.0,
            # The run stopped before the window's end (a signal): the counts cover only part of it.
            truncated=any(span < self.plan.duration - 1e-3 for span in spans),
            ops_per_s=self.rate(rate_of), latency_hist=hist,
            latency_ms={k: v for k, v in latency.field_summary_ms(hist).items() if k != "count"},
            warmup_requests=_total(self.reports, "warmup_requests"),
            locust_processes=self.processes, reported_processes=len(self.reports),
            locust_workers=[_worker_entry(r) for r in self.reports], missing_workers=self.missing,
            partial=bool(self.missing), server_url=self.server_url or (urls[0] if len(urls) == 1 else None),
            worker_server_urls=urls, worker_problems=self.problems or UNSET, **fields,
        )


def _db_record(run: _Run, server: Mapping[str, Any] | None) -> DbRecord:
    """As a db cell of several load processes: ``concurrency`` per process, ``total_concurrency`` all of them."""
    wrong = _summed(run.reports, "wrong")
    errors = _summed(run.reports, "errors")
    foreign, stale, other = (wrong.get(k, 0) for k in ("foreign", "stale", "other"))
    return run.record(
        DbRecord, sum(errors.values()) + foreign + stale + other, rate_of="ok",  # right replies, as a db cell counts
        strategy=run.plan.strategy, concurrency=run.largest_share, mix=dict(run.plan.mix),
        settings=settings_of(run.plan.strategy), errors=errors, error_count=sum(errors.values()),
        wrong_results=foreign + stale + other, wrong_detail={"foreign": foreign, "stale": stale, "other": other},
        silent_wrong=foreign + stale, local_violations=0, ops=_total(run.reports, "ok"), processes=run.processes,
        total_concurrency=run.users, server=dict(server) if server is not None else None,  # the MySQL server's counters
    )


def _model_load(server: str) -> str | None:
    """The in-process load that claims to predict ``server`` (None for an app on a server ctxbench does not know)."""
    from bench.webstack.servers import SERVERS

    info = SERVERS.get(server)
    return info.model_load if info else None


def _stack_record(run: _Run, server: Mapping[str, Any] | None) -> StackRecord:
    """As a stack cell: ``concurrency`` the HTTP clients, ``processes`` the app's server processes."""
    wrong = _summed(run.reports, "wrong")
    http_errors, client_errors = _summed(run.reports, "http_errors"), _summed(run.reports, "errors")
    failed = (wrong.get("wrong_local", 0) + wrong.get("silent_wrong", 0) + sum(http_errors.values())
              + sum(client_errors.values()))
    return run.record(
        StackRecord, failed, rate_of="requests",  # requests ended in the window, as a stack cell counts
        server=run.plan.server, workers=1, impl=run.plan.impl, strategy=run.plan.strategy,
        concurrency=run.users, processes=1, model_load=_model_load(run.plan.server),
        wrong_local=wrong.get("wrong_local", 0), silent_wrong=wrong.get("silent_wrong", 0), http_errors=http_errors,
        app_errors=_summed(run.reports, "app_errors"), client_errors=client_errors,
        server_counters=dict(server) if server is not None else None,  # ``server`` names the app's server
    )


def merge_record(plan: Plan, scenario: str, reports: Sequence[Report], expected: Sequence[str],
                 *, server: Mapping[str, Any] | None = None, server_url: str | None = None) -> DbRecord | StackRecord:
    """One record of the run from the workers' ``reports``; ``expected`` the ids of every worker that took part."""
    ordered = sorted(reports, key=lambda r: (int(r.get("index", 0)), str(r.get("id"))))
    run = _Run(plan, ordered, expected, server_url)
    return _db_record(run, server) if scenario == "db" else _stack_record(run, server)
