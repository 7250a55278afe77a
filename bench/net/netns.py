"""A network namespace joined to the host by a veth pair whose link can be cut: the kernel's own partition.

Contract: :func:`veth_namespace` makes a namespace ``ctxbench-<pid>-<n>`` and a veth pair (``cbh<pid>n<n>`` on
the host, ``cbn<pid>n<n>`` inside), gives the two ends the two usable addresses of a /30 in the link-local
169.254.0.0/16 (never one a host device or route already has), and yields a :class:`Namespace`.  Only those two
addresses are ever used: the namespace has no other device but its ``lo``, and nothing is routed further.
:meth:`Namespace.link_down` sets the host end down: packets stop both ways, nothing is reset, TCP retransmits;
:meth:`Namespace.link_up` sets it up again, and what was retransmitted gets through.

Taking the host end down also takes away the host's route to the namespace: a packet for it would then follow the
default route off the machine.  So a third device, the sink ``cbs<pid>n<n>`` (an ``ifb``, which drops whatever is
sent to it without a word), carries a standby route to the /30 (metric :data:`SINK_METRIC`): while the link is
down, the host's packets for the namespace go there and vanish, as in a real partition -- a connect times out, it
is not refused, and a retransmitting socket sees no error.  IPv6 is off on all three devices (``addrgenmode
none``: no link-local address, so no neighbour discovery).

However the block ends (normally, by an exception, by Ctrl-C), every process inside the namespace is killed
(``ip netns pids``), every host socket still connected to the namespace is closed (``ss -K``), and the veth pair,
the sink and the namespace are deleted; a second Ctrl-C during that does not stop it.  The same happens at
interpreter exit for a block never left, and a namespace or device left by a process killed with SIGKILL (its
name's pid is dead) is removed by the next :func:`veth_namespace` (:func:`sweep_stale`).  After the block nothing
may connect to the namespace's address any more: with the routes gone, a new connection would leave the machine.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import ipaddress
import itertools
import logging
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bench.net import iproute
from bench.net.iproute import NamespaceError, run_ip
from bench.poll import poll
from bench.server.target import Placement

log = logging.getLogger(__name__)

#: Name prefix of the namespaces made here (``ctxbench-<pid>-<n>``): the stale sweep looks only at these.
NS_PREFIX = "ctxbench-"
#: The metric of the sink's standby route: above any connected route's (0), so it serves only while the link is down.
SINK_METRIC = 4242
#: Seconds :meth:`Namespace.link_up` waits for the link to carry packets again.
LINK_TIMEOUT = 5.0
#: Seconds killed processes get to be gone.
KILL_WAIT = 5.0

#: The lock file of the /30 pick: one for every process of the machine (not under TMPDIR, which may differ).
_LOCK_FILE = "/run/lock/ctxbench-netns.lock" if os.path.isdir("/run/lock") else "/tmp/ctxbench-netns.lock"
_NS_NAME = re.compile(rf"^{NS_PREFIX}(\d+)-(\d+)$")
_LINK_NAME = re.compile(r"^cb[hns](\d+)n(\d+)$")
_COUNTER = itertools.count()
_LIVE: set[Namespace] = set()
#: The /30s handed out: 169.254.X.Y/30 with X in 1..254 (RFC 3927 reserves 0 and 255) but not 169 (cloud metadata
#: services answer at 169.254.169.254, often without a route of their own), Y a multiple of 4.
_THIRD_OCTETS = [octet for octet in range(1, 255) if octet != 169]


@dataclass(frozen=True)
class Namespace:
    """A namespace made by :func:`veth_namespace`, its veth pair and sink, and the /30 the pair uses."""

    name: str
    host_link: str
    ns_link: str
    sink_link: str
    #: The host end's address: where connections from the host come from.
    host_address: str
    #: The namespace end's address: where a server inside listens.
    ns_address: str

    @property
    def subnet(self) -> str:
        return str(ipaddress.ip_network(f"{self.host_address}/30", strict=False))

    def run_prefix(self) -> list[str]:
        """What to put before a command to run it inside the namespace: ``ip netns exec NAME`` (exec, no fork)."""
        return [iproute.ip_command(), "netns", "exec", self.name]

    def placement(self) -> Placement:
        """Where a private server goes inside the namespace (:func:`bench.server.start_private_server`)."""
        return Placement(address=self.ns_address, prefix=tuple(self.run_prefix()), client_address=self.host_address)

    def pids(self) -> list[int]:
        """The processes running inside the namespace now."""
        return iproute.namespace_pids(self.name)

    def link_is_up(self) -> bool:
        """Whether the link carries packets: the host end is up, has carrier, and the host routes through it."""
        return (iproute.link_state(self.host_link) == "UP"
                and iproute.route_device(self.ns_address) == self.host_link)

    def link_down(self) -> None:
        """Cut the link: the host end goes down, packets stop both ways, nothing is reset.

        Checks that the host's packets for the namespace now go to the sink (dropped there) and nowhere else; if
        they would not, the link is set up again and a :class:`NamespaceError` says so.
        """
        run_ip("link", "set", self.host_link, "down")
        device = iproute.route_device(self.ns_address)
        if device != self.sink_link:
            self.link_up()
            raise NamespaceError(f"with {self.host_link} down the host would send to {self.ns_address} through "
                                 f"{device or 'no device'}, not the sink {self.sink_link}: the link is up again")

    def link_up(self, timeout: float = LINK_TIMEOUT) -> None:
        """Mend the link and wait (up to ``timeout`` s) until it carries packets again."""
        run_ip("link", "set", self.host_link, "up")
        if not poll(self.link_is_up, until=bool, timeout=timeout, interval=0.02):
            raise NamespaceError(f"{self.host_link} did not carry packets within {timeout:g} s of `ip link set up`")


def _names(pid: int, n: int) -> tuple[str, str, str, str]:
    """(namespace, host end, namespace end, sink) of the ``n``-th namespace of process ``pid``."""
    links = (f"cbh{pid}n{n}", f"cbn{pid}n{n}", f"cbs{pid}n{n}")
    if max(len(link) for link in links) > 15:  # the kernel's limit on a device name
        raise NamespaceError(f"device names for process {pid}'s namespace {n} would be longer than 15 characters")
    return (f"{NS_PREFIX}{pid}-{n}", *links)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _taken() -> list[ipaddress.IPv4Network]:
    """What a new /30 must not overlap: every host address, every host route narrower than 169.254.0.0/16."""
    found = [ipaddress.ip_network(address) for address in iproute.ipv4_addresses()]
    for route in iproute.ipv4_routes():
        with contextlib.suppress(ValueError):
            network = ipaddress.ip_network(route, strict=False)
            if isinstance(network, ipaddress.IPv4Network) and network.prefixlen > 16:
                found.append(network)
    return found


def _free_subnet(pid: int, n: int) -> ipaddress.IPv4Network:
    """A /30 of 169.254.0.0/16 nothing on the host uses; where the search starts depends on ``pid`` and ``n``."""
    taken = _taken()
    count = len(_THIRD_OCTETS) * 64
    start = zlib.crc32(f"{pid}-{n}".encode()) % count
    for step in range(count):
        slot = (start + step) % count
        subnet = ipaddress.ip_network(f"169.254.{_THIRD_OCTETS[slot // 64]}.{slot % 64 * 4}/30")
        if not any(subnet.overlaps(other) for other in taken):
            return subnet
    raise NamespaceError("no /30 of 169.254.0.0/16 is free on this host")


@contextlib.contextmanager
def _address_lock() -> Iterator[None]:
    """Held while a /30 is picked and given to a host end: two processes never pick the same one."""
    with open(_LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _without_ipv6(*device: str) -> None:
    """No IPv6 link-local address on a device (so no neighbour discovery); a kernel without IPv6 needs nothing."""
    try:
        run_ip(*device[:-1], "link", "set", device[-1], "addrgenmode", "none")
    except NamespaceError as exc:
        log.debug("leaving IPv6 as it is on %s: %s", device[-1], exc)


def _create(ns: Namespace) -> None:
    """Make the namespace, the pair, the sink and their addresses and routes; bring everything up."""
    run_ip("netns", "add", ns.name)
    run_ip("link", "add", ns.host_link, "type", "veth", "peer", "name", ns.ns_link, "netns", ns.name)
    run_ip("link", "add", ns.sink_link, "type", "ifb")
    for device in ((ns.host_link,), (ns.sink_link,), ("-n", ns.name, ns.ns_link)):
        _without_ipv6(*device)
    run_ip("addr", "add", f"{ns.host_address}/30", "dev", ns.host_link)
    run_ip("-n", ns.name, "addr", "add", f"{ns.ns_address}/30", "dev", ns.ns_link)
    run_ip("link", "set", ns.sink_link, "up")
    run_ip("route", "add", ns.subnet, "dev", ns.sink_link, "metric", str(SINK_METRIC))
    run_ip("-n", ns.name, "link", "set", "lo", "up")
    run_ip("-n", ns.name, "link", "set", ns.ns_link, "up")


def _kill_inside(name: str) -> None:
    """SIGKILL every process inside namespace ``name`` (again, if one started another meanwhile), wait for them."""
    import psutil

    for _ in range(3):
        procs = []
        for pid in iproute.namespace_pids(name):
            with contextlib.suppress(psutil.Error):
                procs.append(psutil.Process(pid))
        if not procs:
            return
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(procs, timeout=KILL_WAIT)


def _remove(name: str, devices: tuple[str, ...], address: str | None) -> list[str]:
    """Kill what runs inside, close host sockets to ``address``, delete ``devices`` and the namespace.

    Every step is tried even when one fails or a Ctrl-C comes (re-raised once all are done); returns the failures.
    """
    steps: list[Callable[[], object]] = [functools.partial(_kill_inside, name)]
    if address:
        steps.append(functools.partial(iproute.destroy_sockets, address))
    steps += [functools.partial(run_ip, "link", "del", device, missing_ok=True) for device in devices]
    steps.append(functools.partial(run_ip, "netns", "del", name, missing_ok=True))
    interrupted: BaseException | None = None
    problems = []
    for step in steps:
        try:
            step()
        except (KeyboardInterrupt, SystemExit) as exc:
            interrupted = interrupted or exc
        except NamespaceError as exc:
            problems.append(str(exc))
    if interrupted is not None:
        raise interrupted
    return problems


def _remove_namespace(ns: Namespace) -> list[str]:
    problems = _remove(ns.name, (ns.host_link, ns.sink_link), ns.ns_address)
    _LIVE.discard(ns)
    for problem in problems:
        log.warning("removing network namespace %s: %s", ns.name, problem)
    return problems


@atexit.register
def _remove_all() -> None:
    """At interpreter exit, remove every namespace whose block was never left (the process is ending anyway)."""
    for ns in list(_LIVE):
        with contextlib.suppress(Exception):
            _remove_namespace(ns)


def sweep_stale() -> list[str]:
    """Remove the namespaces and devices of ctxbench processes that died without removing them; their names."""
    swept = []
    for name in iproute.namespaces():
        match = _NS_NAME.match(name)
        if match and not _alive(int(match[1])):
            log.info("removing network namespace %s, left behind by ctxbench process %s", name, match[1])
            _, host, _, sink = _names(int(match[1]), int(match[2]))
            _remove(name, (host, sink), None)
            swept.append(name)
    for link in iproute.link_names():
        match = _LINK_NAME.match(link.partition("@")[0])
        if match and not _alive(int(match[1])):
            log.info("removing device %s, left behind by ctxbench process %s", link, match[1])
            run_ip("link", "del", link.partition("@")[0], missing_ok=True)
            swept.append(link)
    return swept


@functools.cache
def namespace_unavailable() -> str | None:
    """None when this process may make what :func:`veth_namespace` makes, else one line saying why not.

    Checked once per process: root, ``ip``, and a throwaway namespace with a veth pair and an ``ifb`` sink.
    """
    if not sys.platform.startswith("linux"):
        return f"network namespaces need Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return f"making network namespaces needs root (this process runs as uid {os.geteuid()})"
    if iproute.ip_program() is None:
        return "no `ip` command (iproute2) on PATH or in /usr/sbin"
    name, host, inside, sink = _names(os.getpid(), next(_COUNTER))
    try:
        run_ip("netns", "add", name)
        run_ip("link", "add", host, "type", "veth", "peer", "name", inside, "netns", name)
        run_ip("link", "add", sink, "type", "ifb")
    except NamespaceError as exc:
        return str(exc)
    finally:
        problems = _remove(name, (host, sink), None)
    return f"the throwaway namespace could not be removed: {problems[0]}" if problems else None


@contextlib.contextmanager
def veth_namespace() -> Iterator[Namespace]:
    """A fresh namespace joined to the host by a veth pair with link-local addresses (see the module docstring).

    Raises :class:`NamespaceError` (one line) when namespaces cannot be made here or a step fails; whatever was
    made by then is removed.
    """
    reason = namespace_unavailable()
    if reason is not None:
        raise NamespaceError(f"cannot make a network namespace: {reason}")
    sweep_stale()
    owner = os.getpid()
    ns: Namespace | None = None
    try:
        with _address_lock():
            n = next(_COUNTER)
            subnet = _free_subnet(owner, n)
            ns = Namespace(*_names(owner, n), host_address=str(subnet[1]), ns_address=str(subnet[2]))
            _LIVE.add(ns)
            _create(ns)
        ns.link_up()
        log.info("network namespace %s ready: host %s <-> %s", ns.name, ns.host_address, ns.ns_address)
        yield ns
    except BaseException:
        if ns is not None and os.getpid() == owner:
            _remove_namespace(ns)
        raise
    if os.getpid() == owner:
        problems = _remove_namespace(ns)
        if problems:
            raise NamespaceError(f"could not remove network namespace {ns.name} entirely: {problems[0]}")
