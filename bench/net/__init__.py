"""The network between the application and its database: a delay proxy, the round trip it gives, a real partition.

* :func:`delay_proxy` / :class:`DelayProxy` (:mod:`bench.net.handle`): a user-space TCP relay in a process of its
  own (:mod:`bench.net.proxy`) that adds a round trip, partitions, resets and changes its delay on command;
* :func:`measure_rtt` / :class:`Rtt` (:mod:`bench.net.rtt`): the round trip a path actually has;
* :func:`veth_namespace` / :class:`Namespace` (:mod:`bench.net.netns`) and :func:`namespaced_server`
  (:mod:`bench.net.nsserver`): a private server in a network namespace joined to the host by a veth pair whose
  link can be cut -- the kernel's partition, the check that the proxy's behaves like a real one.

Addresses used: 127.0.0.1, and link-local 169.254.0.0/16 inside namespaces made here and removed afterwards
(docs/faults.md, "The kernel-level partition").  This stage sits beside ``bench.cell``: it may import
``bench.server`` and the bottom layer, nothing above.
"""

from bench.net.handle import DelayProxy, ProxyError, delay_proxy
from bench.net.iproute import NamespaceError
from bench.net.netns import Namespace, namespace_unavailable, sweep_stale, veth_namespace
from bench.net.nsserver import namespaced_server
from bench.net.rtt import Rtt, measure_rtt

__all__ = [
    "DelayProxy",
    "Namespace",
    "NamespaceError",
    "ProxyError",
    "Rtt",
    "delay_proxy",
    "measure_rtt",
    "namespace_unavailable",
    "namespaced_server",
    "sweep_stale",
    "veth_namespace",
]
