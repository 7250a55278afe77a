"""Waiting for something to happen, within a bound: the suite's two polling loops, on tenacity.

Every wait in the suite (a server coming up, connections draining, a load starting to flow) is one of
these two, so each is written once and each stops by itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, retry_if_exception_type, retry_if_result, stop_after_delay, wait_fixed

T = TypeVar("T")


def poll(read: Callable[[], T], *, until: Callable[[T], bool], timeout: float, interval: float) -> T:
    """``read()`` every ``interval`` s until ``until`` holds for its value or ``timeout`` ran out; the last value."""
    attempts = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(interval),
                        retry=retry_if_result(lambda value: not until(value)),
                        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None)
    return attempts(read)


def poll_until(attempt: Callable[[], T], *, deadline: float, retry_on: type[Exception], interval: float = 0.1) -> T:
    """``attempt()`` until it returns, retrying on ``retry_on`` every ``interval`` s until ``deadline`` (monotonic).

    Past the deadline the last ``retry_on`` exception propagates; any other exception propagates at once.
    """
    retrying = Retrying(stop=stop_after_delay(max(0.0, deadline - time.monotonic())), wait=wait_fixed(interval),
                        retry=retry_if_exception_type(retry_on), reraise=True)
    return retrying(attempt)
