"""The parent side of one real-stack cell (placeholder of the interface; the real one lands from its own branch)."""

from __future__ import annotations

from typing import Any

from bench.stack.servers import SERVERS


def run_stack_cell(target: Any, spec: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The record of one stack cell and an error line (None when clean); this placeholder runs nothing."""
    reason = "the real stack is not built in this branch (placeholder)"
    info = SERVERS.get(spec["server"])
    rec = {"kind": "stack", "server": spec["server"], "workers": spec["workers"], "impl": spec["impl"],
           "strategy": spec["strategy"], "concurrency": spec["concurrency"],
           "model_load": info.model_load if info else "unknown", "duration_s": spec["duration"],
           "outcome": "error", "reason": reason, "requests": 0, "ok": 0, "wrong_local": 0, "silent_wrong": 0,
           "http_errors": {}, "client_errors": {}, "ops_per_s": None,
           "latency_ms": {"p50": None, "p90": None, "p99": None, "max": None}, "load_facts": {}}
    return rec, f"stack {spec['server']} {spec['impl']} x {spec['strategy']}: {reason}"
