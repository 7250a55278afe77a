"""Running ``ip`` (iproute2) and ``ss``: one bounded command at a time, and a one-line error naming it.

Contract: :func:`run_ip` returns the command's output or raises :class:`NamespaceError`, whose message names the
command and the first line of what it said on stderr; a command still running after ``IP_TIMEOUT`` seconds is
killed and reported the same way.  The readers below parse ``ip``'s JSON output (``-j``).  Nothing here changes
anything but what its caller asks for.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from typing import Any

from bench.errors import UsageError
from bench.server.programs import find_program

#: Seconds one ``ip`` command may take (they take milliseconds).
IP_TIMEOUT = 10.0
#: What ``ip`` says when the thing to remove is not there (any more): no error for a clean-up.
_MISSING = re.compile(r"Cannot find device|does not exist|No such file or directory|No such process|Invalid netns")


class NamespaceError(UsageError):
    """An ``ip`` command failed, or a namespace could not be made or removed; one line, no traceback needed."""


@functools.cache
def ip_program() -> str | None:
    """The ``ip`` command's absolute path (PATH first, then the sbin folders), or None."""
    return find_program(("ip",))


def ip_command() -> str:
    """:func:`ip_program`, or a :class:`NamespaceError` saying there is none."""
    program = ip_program()
    if program is None:
        raise NamespaceError("no `ip` command (iproute2) on PATH or in /usr/sbin")
    return program


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "(nothing on stderr)"


def run_ip(*args: str, missing_ok: bool = False, timeout: float = IP_TIMEOUT) -> str:
    """``ip ARGS``: its stdout, or a one-line :class:`NamespaceError`.

    ``missing_ok``: a failure because the device or namespace is not there is no error (clean-ups are repeated).
    """
    argv = [ip_command(), *args]
    shown = "ip " + " ".join(args)
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                                stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise NamespaceError(f"`{shown}` did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise NamespaceError(f"`{shown}` could not run: {exc.strerror or exc}") from None
    if result.returncode != 0:
        if missing_ok and _MISSING.search(result.stderr):
            return ""
        raise NamespaceError(f"`{shown}` failed (exit status {result.returncode}): {_first_line(result.stderr)}")
    return result.stdout


def _json(*args: str, missing_ok: bool = False) -> list[dict[str, Any]]:
    out = run_ip("-j", *args, missing_ok=missing_ok).strip()
    return json.loads(out) if out else []


def namespaces() -> list[str]:
    """The names of the network namespaces ``ip netns`` knows (those in /run/netns)."""
    return [line.split()[0] for line in run_ip("netns", "list").splitlines() if line.strip()]


def namespace_pids(name: str) -> list[int]:
    """The processes inside namespace ``name`` (none if it does not exist)."""
    return [int(word) for word in run_ip("netns", "pids", name, missing_ok=True).split() if word.isdigit()]


def links(namespace: str | None = None) -> list[dict[str, Any]]:
    """Every network device of the host (or of ``namespace``), as ``ip -j link show`` describes it."""
    return _json(*(("-n", namespace) if namespace else ()), "link", "show")


def link_names() -> list[str]:
    """The host's network device names."""
    return [str(link["ifname"]) for link in links()]


def link_state(name: str) -> str:
    """A host device's operational state (``UP``, ``DOWN``, ``LOWERLAYERDOWN``...); ``MISSING`` if it is gone."""
    found = _json("link", "show", "dev", name, missing_ok=True)
    return str(found[0].get("operstate", "UNKNOWN")) if found else "MISSING"


def ipv4_addresses() -> list[str]:
    """Every IPv4 address configured on the host's devices."""
    return [str(info["local"]) for link in _json("-4", "addr", "show")
            for info in link.get("addr_info", []) if "local" in info]


def ipv4_routes() -> list[str]:
    """The destinations of every IPv4 route of the host, all tables (``default`` left out)."""
    return [str(route["dst"]) for route in _json("-4", "route", "show", "table", "all")
            if route.get("dst") not in (None, "default")]


def route_device(address: str) -> str | None:
    """The device the host would send a packet to ``address`` through, or None (no usable route).  Sends nothing."""
    try:
        found = _json("route", "get", address)
    except NamespaceError:
        return None
    return str(found[0]["dev"]) if found and "dev" in found[0] else None


def destroy_sockets(address: str) -> None:
    """Close, as the kernel does for ``ss -K``, every TCP socket of the host connected to ``address``; best effort.

    So that nothing of the host keeps sending to an address whose namespace is gone (a packet would then follow the
    default route off the machine).  Needs ``ss`` and a kernel with socket destroy; without either, nothing happens.
    """
    ss = find_program(("ss",))
    if ss is None:
        return
    try:
        subprocess.run([ss, "-K", "-t", "dst", address], capture_output=True, timeout=IP_TIMEOUT, check=False,
                       stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        pass
