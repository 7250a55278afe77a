"""A private server inside a fresh network namespace: the far side of a link that can be cut.

Contract: :func:`namespaced_server` yields the :class:`~bench.net.netns.Namespace` and a
:class:`~bench.server.ServerHandle` whose target is ``<ns_address>:<port>``, root with its generated password,
allowed in from the host's end of the link (and, over the socket, from the server's folder as always).  The server
is an ordinary private server (:func:`bench.server.start_private_server`): kill, terminate and restart work on it,
it dies with the process that started it, its folder is swept when left behind.  However the block ends, the
server is stopped first and the namespace removed after it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from bench.net.netns import Namespace, veth_namespace
from bench.server import START_TIMEOUT, ServerHandle, start_private_server


@contextlib.contextmanager
def namespaced_server(*, timeout: float = START_TIMEOUT,
                      server_args: Sequence[str] = ()) -> Iterator[tuple[Namespace, ServerHandle]]:
    """A namespace (:func:`~bench.net.netns.veth_namespace`) and a private server listening inside it.

    ``server_args`` are extra server options, as for :func:`~bench.server.start_private_server`.  Raises
    :class:`~bench.net.iproute.NamespaceError` when no namespace can be made,
    :class:`~bench.server.ServerUnavailable` (or its ``EphemeralStartError``) when the server cannot start.
    """
    with veth_namespace() as ns:
        handle = start_private_server(timeout=timeout, server_args=server_args, placement=ns.placement())
        with handle:
            yield ns, handle
