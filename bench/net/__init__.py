"""Network faults: what happens to the database half when the network between it and the server stops.

A partition -- packets stop, nothing is reset -- is done two ways: by a user-space proxy between the client and
the server (``proxy``, ``handle``, ``rtt``), and by the kernel itself (``netns``: a network namespace joined to the
host by a veth pair whose link is cut; ``nsserver``: a private server inside it), the check that the proxy's
partition behaves like a real one.  Addresses used: 127.0.0.1, and link-local 169.254.0.0/16 inside namespaces
made here and removed afterwards (docs/faults.md, "The kernel-level partition").

This stage sits beside ``bench.cell``: it may import ``bench.server`` and the bottom layer, nothing above.
"""

from bench.net.iproute import NamespaceError
from bench.net.netns import Namespace, namespace_unavailable, sweep_stale, veth_namespace
from bench.net.nsserver import namespaced_server

# --- the user-space proxy (proxy, handle, rtt): its exports go here

__all__ = [
    "Namespace",
    "NamespaceError",
    "namespace_unavailable",
    "namespaced_server",
    "sweep_stale",
    "veth_namespace",
]
