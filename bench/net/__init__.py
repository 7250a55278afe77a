"""The network between the application and its database: a delay proxy, the round trip it gives, a real partition.

* :func:`delay_proxy` / :class:`DelayProxy` (:mod:`bench.net.handle`): a user-space TCP relay in a process of its
  own (:mod:`bench.net.proxy`) that adds a round trip, partitions, resets and changes its delay on command;
* :func:`measure_rtt` / :class:`Rtt` (:mod:`bench.net.rtt`): the round trip a path actually has.
"""

from bench.net.handle import DelayProxy, ProxyError, delay_proxy
from bench.net.rtt import Rtt, measure_rtt

__all__ = ["DelayProxy", "ProxyError", "Rtt", "delay_proxy", "measure_rtt"]
