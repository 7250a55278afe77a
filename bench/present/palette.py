"""One colour per impl, a colour and marker per strategy, a marker and line style per load -- the same in every chart.

What is promised
    :func:`impl_colour`, :func:`strategy_style` and :func:`load_style` return
    the same answer for the same name in every chart, every run and every
    process.  The built-in names have fixed entries chosen by meaning (the
    references are black, the known-bad designs warm, the pools blues and
    greens); any other name -- a user's ``package.module:Class`` or
    ``package.module:factory`` -- is hashed (SHA-256, not Python's salted
    ``hash``) into a colour-blind-safe palette, so it too keeps its colour from
    one report to the next.  Verdict colours (pass / fail / reported / error /
    missing) are here as well, so isolation and request charts agree.

Why
    A reader learns "the blue diamond is pooled-tuned" on the first chart and must be able
    to rely on it on the last one; and two runs compared side by side must not
    swap colours because a matrix gained a strategy.  The colours come from the
    Okabe-Ito set (distinguishable under the common colour-vision
    deficiencies); every chart also writes its numbers or uses markers, so
    colour is never the only signal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

#: Okabe & Ito (2008), minus yellow (too pale for lines on white).
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}

#: Fallback colours for names not listed below (Paul Tol's "muted" scheme, colour-blind safe).
FALLBACK: tuple[str, ...] = (
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499",
)

#: Local implementations.  The floor (plain) is grey, the reference (threading-local) black.
IMPL_COLOURS: dict[str, str] = {
    "plain": "#8C8C8C",
    "threading-local": OKABE_ITO["black"],
    "dict-by-ident": OKABE_ITO["orange"],
    "greenlet-keyed": OKABE_ITO["vermillion"],
    "contextvar": OKABE_ITO["sky"],
    "fast": OKABE_ITO["blue"],
    "werkzeug": OKABE_ITO["green"],
    "gevent-local": OKABE_ITO["purple"],
}

#: Connection strategies, each one colour and one marker (:data:`STRATEGY_MARKERS`) in every chart.  The known-bad
#: shared connections are warm, the pools blues and greens, SQLAlchemy wine, the reference (own-connection) black.
#: Under one kind of load (the sync loads; asyncio) no two strategies share a colour or a marker; over all of
#: them no two share both.  The order is the order strategies are shown in everywhere.
STRATEGY_COLOURS: dict[str, str] = {
    "global": OKABE_ITO["vermillion"],
    "global-reconnect": "#8E2C00",  # a darker vermillion: the same connection, reopened
    "locked": OKABE_ITO["orange"],
    "pooled": OKABE_ITO["sky"],
    "pooled-tuned": OKABE_ITO["blue"],
    "persistent": OKABE_ITO["green"],
    "per-request": OKABE_ITO["purple"],
    "sqlalchemy-queuepool": "#882255",
    "own-connection": OKABE_ITO["black"],
    # asyncio only: colours of the sync strategies that never share a panel with them, other markers
    "aiomysql-pool": OKABE_ITO["blue"],
    "asyncmy-pool": OKABE_ITO["green"],
    "sqlalchemy-async": "#882255",
    "to-thread": OKABE_ITO["sky"],
    # The network variants (only when named): a shade of their base's colour, a marker of their own.
    "pooled-timeout": "#2F8BC0",  # a darker sky: pooled
    "per-request-timeout": "#8F4A78",  # a darker purple: per-request
    "own-connection-timeout": "#4D4D4D",  # a dark grey: own-connection
    "sqlalchemy-pre-ping": "#B5527F",  # a lighter wine: SQLAlchemy
    "sqlalchemy-recycle": "#5C1738",  # a darker wine: SQLAlchemy
    "aiomysql-pool-recycle": "#004C77",  # a darker blue: aiomysql-pool
    "sqlalchemy-async-pre-ping": "#B5527F",  # as sqlalchemy-pre-ping, which never shares a panel with it
}
STRATEGY_MARKERS: dict[str, str] = {
    "global": "o",
    "global-reconnect": "s",
    "locked": "^",
    "pooled": "v",
    "pooled-tuned": "D",
    "persistent": "P",
    "per-request": "h",
    "sqlalchemy-queuepool": "p",
    "own-connection": "*",
    "aiomysql-pool": "s",
    "asyncmy-pool": "v",
    "sqlalchemy-async": "P",
    "to-thread": "D",
    "pooled-timeout": "H",
    "per-request-timeout": "x",
    "own-connection-timeout": "+",
    "sqlalchemy-pre-ping": "1",
    "sqlalchemy-recycle": "2",
    "aiomysql-pool-recycle": "H",
    "sqlalchemy-async-pre-ping": "p",
}
#: Markers and colours for strategies without a fixed pair (a user's ``package.module:factory``): none of them is
#: a fixed strategy's marker, so a user strategy never looks like a built-in one.
_STRATEGY_FALLBACK_MARKERS: tuple[str, ...] = ("X", "<", ">", "d", "8")
_STRATEGY_FALLBACK_COLOURS: tuple[str, ...] = tuple(c for c in FALLBACK if c not in STRATEGY_COLOURS.values())


@dataclass(frozen=True)
class StrategyStyle:
    """How a strategy is drawn: its colour and marker."""

    colour: str
    marker: str


@dataclass(frozen=True)
class LoadStyle:
    """How a load is drawn: a matplotlib marker and line style."""

    marker: str
    linestyle: str | tuple[int, tuple[int, ...]]


LOAD_STYLES: dict[str, LoadStyle] = {
    "threads": LoadStyle("o", "-"),
    "gevent": LoadStyle("s", "--"),
    "gevent-nothread": LoadStyle("^", ":"),
    "greenlet": LoadStyle("D", "-."),
    "asyncio": LoadStyle("v", (0, (5, 1, 1, 1, 1, 1))),
}
_FALLBACK_MARKERS: tuple[str, ...] = ("P", "X", "*", "h", "<", ">", "p")
_FALLBACK_LINESTYLES: tuple[tuple[int, tuple[int, ...]], ...] = (
    (0, (3, 1, 1, 1)), (0, (1, 1)), (0, (5, 2)), (0, (2, 2, 6, 2)),
)

#: Cell colours of verdict grids (isolation probes, request scenario).
VERDICT_COLOURS: dict[str, str] = {
    "ok": "#CDEBDD",  # light bluish green
    "fail": "#F2A27A",  # light vermillion
    "reported": "#E4E4EC",  # neutral: a behaviour reported, not judged
    "error": "#9A9A9A",  # the cell could not be measured
    "missing": "#FFFFFF",
}
#: Text colour for a failing count, so a fail reads as one without colour too (it is also bold).
FAIL_TEXT = "#7A1F00"

#: Reference lines: the floor (plain attribute) and threading.local, and the server ceiling.
FLOOR_COLOUR = IMPL_COLOURS["plain"]
REFERENCE_COLOUR = IMPL_COLOURS["threading-local"]
CEILING_COLOUR = "#6B6B6B"


def _digest(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")


def fallback_colour(name: str) -> str:
    """A stable colour for a name without a fixed one."""
    return FALLBACK[_digest(name) % len(FALLBACK)]


def impl_colour(name: str) -> str:
    """The colour of a Local implementation in every chart."""
    return IMPL_COLOURS.get(name) or fallback_colour(name)


def strategy_colour(name: str) -> str:
    """The colour of a connection strategy in every chart."""
    return strategy_style(name).colour


def strategy_style(name: str) -> StrategyStyle:
    """The colour and marker of a connection strategy in every chart."""
    if name in STRATEGY_COLOURS:
        return StrategyStyle(STRATEGY_COLOURS[name], STRATEGY_MARKERS[name])
    digest = _digest(name)
    return StrategyStyle(_STRATEGY_FALLBACK_COLOURS[digest % len(_STRATEGY_FALLBACK_COLOURS)],
                         _STRATEGY_FALLBACK_MARKERS[(digest >> 8) % len(_STRATEGY_FALLBACK_MARKERS)])


def strategy_styles(names: Iterable[str]) -> dict[str, StrategyStyle]:
    """The style of each of ``names`` for one chart: :func:`strategy_style`, except that a strategy without a fixed
    pair whose pair another one of ``names`` already has takes the next free fallback pair (so no two strategies of
    one chart look alike)."""
    styles: dict[str, StrategyStyle] = {}
    pairs = [StrategyStyle(c, m) for m in _STRATEGY_FALLBACK_MARKERS for c in _STRATEGY_FALLBACK_COLOURS]
    for name in dict.fromkeys(names):
        style = strategy_style(name)
        if name not in STRATEGY_COLOURS and style in styles.values():
            start = pairs.index(style)
            style = next((p for p in pairs[start:] + pairs[:start] if p not in styles.values()), style)
        styles[name] = style
    return styles


def load_style(name: str) -> LoadStyle:
    """The marker and line style of a load in every chart."""
    style = LOAD_STYLES.get(name)
    if style is not None:
        return style
    digest = _digest(name)
    return LoadStyle(_FALLBACK_MARKERS[digest % len(_FALLBACK_MARKERS)],
                     _FALLBACK_LINESTYLES[digest % len(_FALLBACK_LINESTYLES)])
