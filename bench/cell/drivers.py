"""The MySQL driver a cell's connections speak through: PyMySQL by default, or a C driver, or a user's module.

What is promised
    :data:`DRIVERS` declares the built-in drivers (``pymysql``, ``mysqlclient``, ``mariadb``, ``connector``,
    ``connector-pure``); ``package.module:attr`` names a user's DB-API 2 module (``attr`` is the module, or any
    object with ``connect`` and the PEP 249 exception classes).  :func:`check_name` refuses a bad name in one line
    (:class:`DriverError`) without importing anything; :func:`missing` says, without importing the driver, why it
    cannot load (not installed), or None.  :func:`load` imports one in a cell and returns a :class:`Driver`:
    ``connect(**kwargs)`` takes PyMySQL's ``connect()`` keywords -- what every strategy is given -- and translates
    them for the driver (host, port, user, password, database; the URL's TLS settings; connect, read and write
    timeouts), ``creator`` is what DBUtils is handed, ``dialect`` the SQLAlchemy URL of its dialect, ``facts()``
    what a record says of it.  A setting the driver cannot express is refused in one line (:class:`DriverError`).

    A cell selects its driver once, before its strategy is built (:func:`use`); :func:`current` is the selected
    one (PyMySQL when none was: nothing changes for cells without ``--driver``).  A user's strategy factory may
    call ``current().connect(**connect_kwargs)`` to speak the selected driver.

Nothing at module level imports a driver: the parent imports this module to validate names.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class DriverError(Exception):
    """A driver name is unknown, its module cannot load, or a setting cannot be expressed in its keywords."""


#: The default driver: cells without ``--driver`` speak it, and their records do not name it.
DEFAULT = "pymysql"
#: Where the connection keywords' TLS settings live (PyMySQL's names, as :mod:`bench.server.tls` writes them).
TLS_KEYS = ("ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity", "ssl", "ssl_disabled")
_COMMON = ("host", "port", "user", "password", "database", "autocommit")
_TIMEOUTS = ("connect_timeout", "read_timeout", "write_timeout")


@dataclass(frozen=True)
class DriverInfo:
    """One built-in driver: the module it imports, the distribution that ships it, how its keywords are spelt."""

    name: str
    module: str  # what is imported
    dist: str  # the distribution whose version a record names
    description: str
    #: PyMySQL's keywords -> this driver's (:func:`_translate`): the name of each timeout, the TLS mapping.
    timeouts: Mapping[str, str] = field(default_factory=lambda: {t: t for t in _TIMEOUTS})
    whole_seconds: bool = True  # timeouts must be whole seconds (the C libraries' ints)
    tls: str = "pymysql"  # how the TLS settings are spelt: pymysql, mysqlclient, mariadb, connector
    dialect: str = "mysql+pymysql://"  # SQLAlchemy's dialect of this driver
    #: Extra keywords of every connect (connector: the C extension or pure Python).
    extra: Mapping[str, Any] = field(default_factory=dict)
    install: str = "pip install 'ctxbench[drivers]'"


DRIVERS: dict[str, DriverInfo] = {
    info.name: info
    for info in (
        DriverInfo("pymysql", "pymysql", "PyMySQL", "PyMySQL: pure Python, gevent patches its sockets",
                   whole_seconds=False, install="pip install PyMySQL"),
        DriverInfo("mysqlclient", "MySQLdb", "mysqlclient", "mysqlclient (MySQLdb): C, over libmariadb or "
                   "libmysqlclient; Django's default", tls="mysqlclient", dialect="mysql+mysqldb://"),
        DriverInfo("mariadb", "mariadb", "mariadb", "MariaDB Connector/Python: C, over MariaDB Connector/C",
                   tls="mariadb", dialect="mysql+mariadbconnector://"),
        DriverInfo("connector", "mysql.connector", "mysql-connector-python", "Oracle's MySQL Connector/Python "
                   "with its C extension", timeouts={"connect_timeout": "connection_timeout",
                                                     "read_timeout": "read_timeout", "write_timeout": "write_timeout"},
                   tls="connector", dialect="mysql+mysqlconnector://", extra={"use_pure": False}),
        DriverInfo("connector-pure", "mysql.connector", "mysql-connector-python", "Oracle's MySQL Connector/Python, "
                   "pure Python", timeouts={"connect_timeout": "connection_timeout", "read_timeout": "read_timeout",
                                            "write_timeout": "write_timeout"},
                   tls="connector", dialect="mysql+mysqlconnector://", extra={"use_pure": True}),
    )
}


def is_path(name: str) -> bool:
    """``package.module:attr`` names a user's DB-API 2 module rather than a built-in driver."""
    return ":" in name


def check_name(name: str) -> None:
    """Raise DriverError, in one line, unless ``name`` is a built-in driver or looks like ``package.module:attr``."""
    if name in DRIVERS:
        return
    if is_path(name):
        module, _, attr = name.partition(":")
        if module and attr and all(part.isidentifier() for part in [*module.split("."), *attr.split(".")]):
            return
        raise DriverError(f"driver {name!r}: expected package.module:attr (a DB-API 2 module)")
    raise DriverError(f"unknown driver {name!r} (known: {', '.join(DRIVERS)}; or package.module:attr)")


def missing(name: str) -> str | None:
    """Why driver ``name`` cannot load here (its module is not installed), or None; imports nothing of it."""
    check_name(name)
    module = DRIVERS[name].module if name in DRIVERS else name.partition(":")[0]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that is missing, or a bad name
        found = False
    if found:
        return None
    how = DRIVERS[name].install if name in DRIVERS else "install the package that provides it"
    return f"driver {name!r} needs the module {module!r}, which is not installed: {how}"


# --- keyword translation: PyMySQL's connect() keywords -> each driver's


def _tls_ask(kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The TLS keywords popped from ``kwargs``: (mode, settings) with mode ``default`` (none given), ``disabled``,
    ``unverified`` (``ssl=true``: encrypted, nothing checked) or ``files`` (a CA and/or a client certificate)."""
    given = {key: kwargs.pop(key) for key in TLS_KEYS if key in kwargs}
    if given.pop("ssl_disabled", False):
        return "disabled", {}
    if not given:
        return "default", {}
    if "ssl" in given and not any(key in given for key in ("ssl_ca", "ssl_cert", "ssl_verify_cert")):
        return "unverified", {}
    return "files", given


def _whole(info: DriverInfo, key: str, value: Any) -> Any:
    if not info.whole_seconds or value is None:
        return value
    seconds = float(value)
    if not math.isfinite(seconds) or seconds != int(seconds):
        raise DriverError(f"driver {info.name!r} takes whole seconds for {key}, got {value!r}")
    return int(seconds)


def _tls_keywords(info: DriverInfo, mode: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The TLS settings in ``info``'s keywords (PyMySQL's meaning, :mod:`bench.server.tls`)."""
    if mode == "default":
        return {}
    ca, cert, key = given.get("ssl_ca"), given.get("ssl_cert"), given.get("ssl_key")
    verify = bool(given.get("ssl_verify_cert", ca is not None))
    identity = bool(given.get("ssl_verify_identity"))
    if info.tls == "mysqlclient":
        if mode == "disabled":
            return {"ssl_mode": "DISABLED"}
        files = {name: value for name, value in (("ca", ca), ("cert", cert), ("key", key)) if value}
        level = "VERIFY_IDENTITY" if verify and identity else "VERIFY_CA" if verify else "REQUIRED"
        return {"ssl_mode": "REQUIRED"} if mode == "unverified" else {"ssl": files, "ssl_mode": level}
    if info.tls == "mariadb":  # Connector/C: ssl_verify_cert checks the certificate and its host name together
        if mode == "disabled":
            return {}
        if mode == "unverified":
            return {"ssl": True, "ssl_verify_cert": False}
        files = {name: value for name, value in (("ssl_ca", ca), ("ssl_cert", cert), ("ssl_key", key)) if value}
        return {"ssl": True, "ssl_verify_cert": verify, **files}
    if info.tls == "connector":
        if mode == "disabled":
            return {"ssl_disabled": True}
        if mode == "unverified":
            raise DriverError(f"driver {info.name!r} cannot require TLS without checking the certificate (ssl=true): "
                              "give ssl_ca, or leave TLS to the driver's default")
        files = {name: value for name, value in (("ssl_ca", ca), ("ssl_cert", cert), ("ssl_key", key)) if value}
        return {**files, "ssl_verify_cert": verify, "ssl_verify_identity": identity}
    return {}


def translate(info: DriverInfo, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """PyMySQL's ``connect()`` keywords as ``info``'s driver takes them; keywords it does not know pass as given."""
    if info.name == DEFAULT:
        return dict(kwargs)
    rest = dict(kwargs)
    mode, given = _tls_ask(rest)
    out = {key: rest.pop(key) for key in _COMMON if key in rest}
    for key in _TIMEOUTS:
        if key in rest:
            value = rest.pop(key)
            if key not in info.timeouts:
                raise DriverError(f"driver {info.name!r} has no {key}")
            out[info.timeouts[key]] = _whole(info, key, value)
    return {**out, **_tls_keywords(info, mode, given), **info.extra, **rest}


# --- a driver loaded in a cell


@dataclass
class Driver:
    """A driver loaded in this process: ``connect(**pymysql_keywords)``, what DBUtils and SQLAlchemy are given."""

    name: str
    module: Any  # the DB-API 2 module
    version: str | None
    connect: Callable[..., Any]
    #: DBUtils' ``creator``: the module itself where nothing needs translating (PyMySQL), else ``connect`` carrying
    #: the module as ``dbapi`` and its ``threadsafety``.
    creator: Any
    dialect: str = "mysql+pymysql://"
    explicit: bool = True  # named by the cell (``--driver``): its records say which driver
    notes: dict[str, Any] = field(default_factory=dict)
    #: The class of the last connection this driver opened (connector: the C extension's or pure Python's).
    connection_class: str | None = None

    def facts(self) -> dict[str, Any]:
        """What a record says of the driver besides its name and version."""
        return {"module": getattr(self.module, "__name__", str(self.module)), "dialect": self.dialect,
                "connection_class": self.connection_class, **self.notes}


def _version(dist: str | None, module: Any) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    if dist is not None:
        try:
            return version(dist)
        except PackageNotFoundError:
            pass
    value = getattr(module, "__version__", None)
    return str(value) if value is not None else None


def _qualname(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _builtin(info: DriverInfo) -> Driver:
    import importlib

    module = importlib.import_module(info.module)
    notes: dict[str, Any] = {}
    if info.name == "connector":
        notes["have_cext"] = bool(getattr(module, "HAVE_CEXT", False))
        if not notes["have_cext"]:
            raise DriverError(f"driver 'connector': mysql-connector-python {_version(info.dist, module)} could not "
                              f"load its C extension ({_cext_error()}); connector-pure is its pure-Python form")
    if info.name == DEFAULT:
        return Driver(info.name, module, _version(info.dist, module), module.connect, module, info.dialect,
                      notes=notes)
    driver = Driver(info.name, module, _version(info.dist, module), module.connect, None, info.dialect, notes=notes)
    fix = _connector_begin if info.tls == "connector" else None

    def connect(**kwargs: Any) -> Any:
        conn = module.connect(**translate(info, kwargs))
        if fix is not None:
            fix(conn)
        driver.connection_class = _qualname(conn)
        return conn

    connect.dbapi = module  # type: ignore[attr-defined]  # DBUtils reads the module's exceptions from it
    connect.threadsafety = getattr(module, "threadsafety", 1)  # type: ignore[attr-defined]
    driver.connect = driver.creator = connect
    return driver


def _cext_error() -> str:
    """Why ``_mysql_connector`` does not import (the message mysql.connector swallows)."""
    try:
        import _mysql_connector  # noqa: F401
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return "it imports here, but mysql.connector did not take it"


def _connector_begin(conn: Any) -> None:
    """Connector/Python has no ``begin()`` (its ``start_transaction()`` refuses when a transaction is open, which a
    ``SELECT`` with autocommit off leaves): ``begin`` sends ``BEGIN``, as PyMySQL's, mysqlclient's and mariadb's do."""
    conn.begin = lambda: conn.cmd_query("BEGIN")


def _user(name: str) -> Driver:
    import pkgutil

    try:
        module = pkgutil.resolve_name(name)
    except Exception as exc:  # any import-time failure is the module's
        raise DriverError(f"driver {name!r}: cannot import: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    if not callable(getattr(module, "connect", None)):
        raise DriverError(f"driver {name!r}: {name} has no connect(); expected a DB-API 2 module")
    dist = None
    driver = Driver(name, module, _version(dist, module), module.connect, module,
                    notes={"keywords": "PyMySQL's (passed as given)"})

    def connect(**kwargs: Any) -> Any:
        conn = module.connect(**kwargs)
        driver.connection_class = _qualname(conn)
        return conn

    driver.connect = connect
    return driver


def load(name: str) -> Driver:
    """Import driver ``name`` in this process (DriverError in one line if it cannot load)."""
    check_name(name)
    reason = missing(name)
    if reason is not None:
        raise DriverError(reason)
    return _builtin(DRIVERS[name]) if name in DRIVERS else _user(name)


def version_of(name: str) -> str | None:
    """The installed version of built-in driver ``name``'s distribution, read without importing it (None for a
    user's module, or when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    info = DRIVERS.get(name)
    if info is None:
        return None
    try:
        return version(info.dist)
    except PackageNotFoundError:
        return None


def use_named(name: str | None) -> Driver | None:
    """Load and select driver ``name`` (None: the default, nothing loaded); what a real server's app does with its
    settings' ``driver``."""
    driver = load(name) if name else None
    use(driver)
    return driver


_selected: Driver | None = None


def use(driver: Driver | None) -> None:
    """Select the driver this process's strategies connect through (None: the default, PyMySQL)."""
    global _selected
    _selected = driver


def selected() -> Driver | None:
    """The driver a cell named (None: none was, the strategies speak PyMySQL)."""
    return _selected


def current() -> Driver:
    """The driver the strategies connect through: the one selected, else PyMySQL (loaded on first use)."""
    global _selected
    if _selected is None:
        default = _builtin(DRIVERS[DEFAULT])
        default.explicit = False
        _selected = default
    return _selected


def connect(kwargs: Mapping[str, Any], **extra: Any) -> Any:
    """A connection through the current driver, from PyMySQL's keywords (``extra`` over ``kwargs``' own)."""
    return current().connect(**{**kwargs, **extra})


def server_thread_id(conn: Any) -> int:
    """The server's id of a driver's connection without a round trip: ``thread_id()`` (PyMySQL, MySQLdb, aiomysql,
    asyncmy) or ``connection_id`` (mariadb, Connector/Python)."""
    thread_id = getattr(conn, "thread_id", None)
    if callable(thread_id):
        return int(thread_id())
    value = getattr(conn, "connection_id", None) if thread_id is None else thread_id
    if callable(value):
        value = value()
    if value is None:
        raise AttributeError(f"{type(conn).__name__} tells no connection id")
    return int(value)


def is_raw(conn: Any) -> bool:
    """Whether ``conn`` is a driver's own connection (not a pool's or SQLAlchemy's proxy around one)."""
    cls = type(conn)
    return hasattr(cls, "thread_id") or hasattr(cls, "connection_id")


__all__ = ["DEFAULT", "DRIVERS", "Driver", "DriverError", "DriverInfo", "check_name", "connect", "current", "is_path",
           "is_raw", "load", "missing", "selected", "server_thread_id", "translate", "use", "use_named", "version_of"]
