"""Secret scrubbing: no record leaves a process with the server password in any of its strings."""

from __future__ import annotations

from typing import Any

import msgspec

from bench.records import latency


def scrub(obj: Any, secret: str) -> Any:
    """``obj`` with every occurrence of ``secret`` in its strings (keys too) replaced by ``***``.

    Records (and other msgspec structs: a copy comes back), dicts, lists and tuples are walked (a tuple
    comes back as a list, as JSON would write it); other values are returned as they are.  The one string left
    as it is: the ``data`` of an encoded latency histogram (:mod:`bench.records.latency`),
    base64 of compressed counts that hold nothing but numbers -- a short password can
    occur in it by chance, and masking it there would destroy the histogram.
    """
    if not secret:
        return obj
    if isinstance(obj, str):
        return obj.replace(secret, "***")
    if isinstance(obj, dict):
        if obj.get("format") == latency.FORMAT and isinstance(obj.get("data"), str):
            return {**{scrub(k, secret): scrub(v, secret) for k, v in obj.items() if k != "data"}, "data": obj["data"]}
        return {scrub(k, secret): scrub(v, secret) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [scrub(v, secret) for v in obj]
    if isinstance(obj, msgspec.Struct):
        fields = msgspec.structs.asdict(obj)
        return msgspec.structs.replace(obj, **{k: scrub(v, secret) for k, v in fields.items()})
    return obj
