"""The database workload: its operations, the mix, the oracle's verdicts and error labels, the schema.

Every worker has a unique token (``<nonce>.<worker>.``) and every operation a
unique per-op token (token + op number).  ``select_token`` asks the server to
echo it, ``pk_lookup`` reads a seeded row whose value is known, ``write_txn``
inserts a row carrying the token in a transaction and reads it back by
``LAST_INSERT_ID()``.  A reply that is not the expected one is a *wrong
result*, judged ``foreign`` (provably another worker's), ``stale`` (this
worker's, an earlier operation's) or ``other``.  Errors are counted under the
label :func:`classify` gives them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KV_TABLE = "ctxbench_kv"
WRITES_TABLE = "ctxbench_writes"
KV_ROWS = 1000


@dataclass(frozen=True)
class Operation:
    """One kind of operation in the mix."""

    name: str
    description: str
    #: Statements the client sends for one operation (for reconciliation with the server).
    statements: int


#: The operations a mix may contain, declared as data.
OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("select_token", "SELECT %s of a per-op token, reply must equal it (the anchor's workload)", 1),
        Operation("pk_lookup", f"SELECT v FROM {KV_TABLE} WHERE id=%s, reply must be the seeded value", 1),
        Operation("write_txn", f"BEGIN; INSERT token INTO {WRITES_TABLE}; SELECT it by LAST_INSERT_ID(); COMMIT", 4),
        Operation("select_1", "SELECT 1 (harness-overhead measurement)", 1),
    )
}
#: The small ints the measured loop dispatches on (bench.cell.db.loop), by operation name.
SELECT_TOKEN, PK_LOOKUP, WRITE_TXN, SELECT_1 = 0, 1, 2, 3
OP_CODES: dict[str, int] = {
    "select_token": SELECT_TOKEN, "pk_lookup": PK_LOOKUP, "write_txn": WRITE_TXN, "select_1": SELECT_1,
}
#: Statements per operation, indexed by its code.
OP_COSTS: tuple[int, ...] = tuple(OPERATIONS[name].statements for name in sorted(OP_CODES, key=OP_CODES.__getitem__))
#: The default mix: the anchor's ``SELECT %s`` mostly, with a primary-key read and a write
#: transaction in every 50 operations so the oracle covers tables and transactions too.
DEFAULT_MIX: dict[str, int] = {"select_token": 48, "pk_lookup": 1, "write_txn": 1}
#: Exactly the anchor's workload.
ANCHOR_MIX: dict[str, int] = {"select_token": 1}

# Verdicts of one operation; also indexes into a worker's counter array.
OK, FOREIGN, STALE, OTHER, LOCAL = 0, 1, 2, 3, 4


def check_mix(mix: Mapping[str, int]) -> dict[str, int]:
    """A validated mix (operation -> positive whole weight); ValueError naming the problem."""
    if not mix:
        raise ValueError("the mix is empty")
    out: dict[str, int] = {}
    for name, weight in mix.items():
        if name not in OPERATIONS:
            raise ValueError(f"unknown operation {name!r} in the mix (known: {', '.join(OPERATIONS)})")
        if not isinstance(weight, int) or isinstance(weight, bool) or weight <= 0 or weight > 10_000:
            raise ValueError(f"operation {name!r}: weight must be a whole number 1..10000, got {weight!r}")
        out[name] = weight
    return out


def parse_mix(text: str) -> dict[str, int]:
    """``select_token:48,pk_lookup:1`` -> mapping; a bare name weighs 1."""
    mix: dict[str, int] = {}
    for part in text.split(","):
        name, _, weight = part.strip().partition(":")
        if not name:
            continue
        try:
            mix[name] = int(weight) if weight else 1
        except ValueError:
            raise ValueError(f"mix entry {part.strip()!r}: weight is not a whole number") from None
    return check_mix(mix)


def mix_cycle(mix: Mapping[str, int]) -> tuple[str, ...]:
    """The mix as a repeating sequence, each operation spread evenly over the cycle."""
    slots = [((k + 0.5) / weight, name) for name, weight in mix.items() for k in range(weight)]
    return tuple(name for _, name in sorted(slots))


def error_code(exc: BaseException) -> int | None:
    """The error number a driver error carries: its first argument (PyMySQL, MySQLdb, Connector/Python), else its
    ``errno`` (mariadb); None if it carries none."""
    if exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    errno = getattr(exc, "errno", None)
    return errno if isinstance(errno, int) and not isinstance(errno, bool) else None


#: Modules whose exceptions are a MySQL driver's DB-API errors, counted under their PEP 249 class name (as
#: PyMySQL's always were); a user's driver module's are found through its ``Error`` class.
DRIVER_ERROR_MODULES = ("pymysql", "MySQLdb", "mariadb", "mysql.connector", "_mysql_connector")


def _driver_error(exc: BaseException, module: str) -> bool:
    if module.startswith(DRIVER_ERROR_MODULES):
        return True
    from bench.cell.drivers import selected

    driver = selected()
    base = getattr(driver.module, "Error", None) if driver is not None else None
    return isinstance(base, type) and isinstance(exc, base)


def canonical_class(code: int) -> str:
    """The PEP 249 class PyMySQL raises for MySQL error number ``code``: how every driver's error with that number is
    counted (mariadb raises ``InterfaceError`` for a lost connection, 2013, where the others raise
    ``OperationalError``; Connector/Python's C extension ``DatabaseError`` for 2003)."""
    from pymysql.err import error_map

    cls = error_map.get(code)
    return cls.__name__ if cls is not None else ("InternalError" if code < 1000 else "OperationalError")


def classify(exc: BaseException) -> str:
    """The label an error is counted under.

    A driver's error is counted under its class name; one whose number is a MySQL error number (1000 and above)
    under the class PyMySQL gives that number (:func:`canonical_class`), whichever driver raised it, so that every
    driver's ``OperationalError:2013`` is one count (the driver's own class is kept apart:
    :func:`driver_class`).
    """
    cls = type(exc)
    name, module = cls.__name__, cls.__module__ or ""
    if name == "ConcurrentObjectUseError":
        return name
    if isinstance(exc, RuntimeError) and "reentrant" in str(exc):
        return "RuntimeError:reentrant"
    if _driver_error(exc, module):
        code = error_code(exc)
        if code == 1040:
            return "server:1040"
        if "timed out" in str(exc):
            return "timeout"
        if not module.startswith("pymysql") and code is not None and code >= 1000:
            return canonical_class(code)
        return name
    if module.startswith("dbutils") and name == "TooManyConnectionsError":
        return "pool:TooManyConnections"
    if module.startswith("sqlalchemy") and name == "TimeoutError":
        return "pool:TimeoutError"
    if isinstance(exc, TimeoutError) or name == "Timeout":  # socket.timeout is TimeoutError; gevent.Timeout
        return "timeout"
    # Built-in classes by name (IndexError...); others qualified: "error" alone would say nothing.
    return name if module == "builtins" else f"{module}.{name}"


def driver_class(exc: BaseException) -> str:
    """The class that raised ``exc``, qualified (``mariadb.InterfaceError``): what a driver's record keeps beside the
    count's label."""
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def one_line(text: str, limit: int = 300) -> str:
    """The first line of ``text``, cut to ``limit`` characters."""
    return text.splitlines()[0][:limit] if text else ""


def judge(reply: Any, nonce: str, worker: int) -> int:
    """Why ``reply`` is not what worker ``worker`` expected (called only on a mismatch)."""
    if isinstance(reply, str) and reply.startswith(nonce + "."):
        parts = reply.split(".")
        if len(parts) >= 3 and parts[1] != str(worker):
            return FOREIGN
        return STALE
    return OTHER


def ensure_schema(conn: Any) -> None:
    """Create and seed the tables if needed; idempotent, safe to run from several cells."""
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {KV_TABLE} (id INT PRIMARY KEY, v VARCHAR(64) NOT NULL) ENGINE=InnoDB")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {WRITES_TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                    "token VARCHAR(64) NOT NULL, n INT NOT NULL, KEY (token)) ENGINE=InnoDB")
        cur.execute(f"SELECT COUNT(*), COALESCE(SUM(v = CONCAT('value-', id)), 0) FROM {KV_TABLE} "
                    "WHERE id BETWEEN 1 AND %s", (KV_ROWS,))
        count, good = cur.fetchone()
        if int(count) != KV_ROWS or int(good) != KV_ROWS:
            cur.executemany(f"INSERT INTO {KV_TABLE} (id, v) VALUES (%s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v)",
                            [(k, f"value-{k}") for k in range(1, KV_ROWS + 1)])
    conn.commit()


# --- the operations, as the measured loop calls them


def select_token(conn: Any, token: str) -> Any:
    """``SELECT %s`` of ``token``: the reply must be the token."""
    cur = conn.cursor()
    try:
        cur.execute("SELECT %s", (token,))
        row = cur.fetchone()
    finally:
        cur.close()
    return row[0] if row else None


def pk_lookup(conn: Any, key: int) -> Any:
    """The seeded value of row ``key``."""
    cur = conn.cursor()
    try:
        cur.execute(f"SELECT v FROM {KV_TABLE} WHERE id = %s", (key,))
        row = cur.fetchone()
    finally:
        cur.close()
    return row[0] if row else None


def write_txn(conn: Any, token: str, n: int) -> Any:
    """Insert ``(token, n)`` in a transaction and read it back by ``LAST_INSERT_ID()``; rolled back on error."""
    try:
        conn.begin()
        cur = conn.cursor()
        try:
            cur.execute(f"INSERT INTO {WRITES_TABLE} (token, n) VALUES (%s, %s)", (token, n))
            cur.execute(f"SELECT token, n FROM {WRITES_TABLE} WHERE id = LAST_INSERT_ID()")
            row = cur.fetchone()
        finally:
            cur.close()
        conn.commit()
    except Exception:
        try:
            conn.rollback()
        except Exception:  # the connection is broken: the pool or recover() deals with it
            pass
        raise
    return tuple(row) if row else None


def select_1(conn: Any) -> Any:
    """``SELECT 1`` (the harness-overhead measurement)."""
    cur = conn.cursor()
    try:
        cur.execute("SELECT 1")
        row = cur.fetchone()
    finally:
        cur.close()
    return row[0] if row else None
