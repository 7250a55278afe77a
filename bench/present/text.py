"""Text that reaches a report: passwords hidden, the environment flattened into rows.

:func:`sanitise` replaces the password of any URL (``scheme://user:secret@host`` -> ``scheme://user:***@host``) and
the value of any key that names a password; every string that reaches either page goes through it.
"""

from __future__ import annotations

import re
from typing import Any

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*):(?P<secret>[^\s@/]*)@")
_SECRET_KEYS = re.compile(r"pass(word|wd)?$|^pwd$|secret", re.IGNORECASE)


def sanitise(obj: Any) -> Any:
    """``obj`` with every URL password and every password-named key's value replaced by ``***``.

    A regular expression, not SQLAlchemy's ``make_url``: URLs are found inside any text (an error line, a
    finding), not parsed from a string that is known to be one.
    """
    if isinstance(obj, str):
        return _URL_PASSWORD.sub(lambda m: f"{m['head']}:***@" if m["secret"] else m[0], obj)
    if isinstance(obj, dict):
        return {k: ("***" if isinstance(k, str) and _SECRET_KEYS.search(k) and v not in (None, "") else sanitise(v))
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitise(v) for v in obj]
    return obj


def _flatten(prefix: str, value: Any, flat: list[tuple[str, str]]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, flat)
    elif isinstance(value, list):
        plain = all(not isinstance(v, (dict, list)) for v in value)
        flat.append((prefix, ", ".join(str(v) for v in value) if plain else str(value)))
    elif value is None:
        flat.append((prefix, "not installed" if prefix.startswith("packages.") else "-"))
    else:
        flat.append((prefix, str(value)))


def environment_rows(environment: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, value) pairs, nested keys dotted, the important ones first, all sanitised."""
    env = sanitise(environment)
    first = ("python", "packages", "cpu", "platform", "commit", "server")
    flat: list[tuple[str, str]] = []
    for key in [k for k in first if k in env] + [k for k in env if k not in first]:
        _flatten(key, env[key], flat)
    return flat
