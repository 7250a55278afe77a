"""The base version of a subject, imported beside the change's under another identity: ``NAME@base``.

Contract
    :func:`resolve_subject` is :func:`localimpls.resolve` for a change-side name, and for
    ``NAME@base`` the same subject imported from the base tree named by the environment
    variable :data:`ENV_BASE_TREE` (a checkout of the base commit).  Both live in one
    process: the change's modules of the subject's top-level package are moved out of
    :data:`sys.modules`, the base tree is put first on :data:`sys.path`, the subject is
    imported again, and then ``sys.path`` and ``sys.modules`` are restored exactly -- the
    base's modules stay alive only through the objects taken from them.  A function keeps
    its own module's globals, so the base class calls base code; what this cannot cover
    (an ``import`` run inside a method at call time finds the change's module) is stated
    in docs/gate.md.  For a built-in subject the base tree's ``localimpls.stack``
    (LocalStack, LocalProxy) is imported too and used for that subject's stack ops
    (:func:`stack_types`).

    :func:`check_twins` (``python -m bench.cell.base_subject ROOT NAME...``) imports every name from
    the base tree and says, as JSON on stdout, which are missing there, which fail to
    import, and which built-ins the base registers that the change does not.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import localimpls

#: The environment variable naming the base tree (a directory) for ``NAME@base`` subjects.
ENV_BASE_TREE = "CTXBENCH_BASE_TREE"
#: What marks a subject as the base version of another.
SUFFIX = "@base"

#: Stack types (LocalStack, LocalProxy) of base built-ins, by id of the factory imported with them.
_BASE_STACKS: dict[int, tuple[Any, Any]] = {}
#: Base modules kept alive (and reused) per (root, top-level package).
_BASE_MODULES: dict[tuple[str, str], dict[str, Any]] = {}


def is_base(name: str) -> bool:
    """Whether ``name`` names the base version of a subject."""
    return name.endswith(SUFFIX) and len(name) > len(SUFFIX)


def base_name(name: str) -> str:
    """``fast`` -> ``fast@base``."""
    return name + SUFFIX


def change_name(name: str) -> str:
    """``fast@base`` -> ``fast`` (a change-side name unchanged)."""
    return name[: -len(SUFFIX)] if is_base(name) else name


def _module_of(name: str) -> str:
    return localimpls.target_of(name).partition(":")[0]


def module_file(root: Path, module: str) -> Path | None:
    """The file of ``module`` (dotted) under ``root``, or None if the tree has no such module."""
    path = root.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _import_from(root: str, top: str, module: str) -> dict[str, Any]:
    """Import ``module`` (and its package ``top``) from ``root`` under the change's nose; the base's modules."""
    key = (root, top)
    known = _BASE_MODULES.setdefault(key, {})
    mine = {k: sys.modules.pop(k) for k in list(sys.modules) if k == top or k.startswith(top + ".")}
    saved_path = list(sys.path)
    sys.modules.update(known)
    sys.path.insert(0, root)
    importlib.invalidate_caches()
    try:
        importlib.import_module(module)
    finally:
        known.update({k: sys.modules.pop(k) for k in list(sys.modules) if k == top or k.startswith(top + ".")})
        sys.path[:] = saved_path
        sys.modules.update(mine)
        importlib.invalidate_caches()
    return known


def import_base(name: str, root: str) -> Any:
    """Subject ``name`` (a change-side name) imported from the base tree ``root``; ImplError if it cannot be."""
    module = _module_of(name)
    top = module.partition(".")[0]
    if module_file(Path(root), module) is None:
        raise localimpls.ImplError(f"impl {base_name(name)!r}: the base has no module {module}")
    try:
        modules = _import_from(root, top, module)
    except Exception as exc:  # any import-time failure is the base subject's fault
        raise localimpls.ImplError(f"impl {base_name(name)!r}: cannot import {module} from the base: "
                                   f"{exc.__class__.__name__}: {exc}") from exc
    obj: Any = modules[module]
    for part in localimpls.target_of(name).partition(":")[2].split("."):
        obj = getattr(obj, part, None)
    if obj is None or not callable(obj):
        raise localimpls.ImplError(f"impl {base_name(name)!r}: the base's {module} has no callable "
                                   f"{localimpls.target_of(name).partition(':')[2]!r}")
    if top == "localimpls":
        stack = _import_from(root, top, "localimpls.stack")["localimpls.stack"]
        _BASE_STACKS[id(obj)] = (stack.LocalStack, stack.LocalProxy)
    return obj


def resolve_subject(name: str) -> Any:
    """:func:`localimpls.resolve`, and for ``NAME@base`` NAME from the base tree; ImplError if it cannot be."""
    if not is_base(name):
        return localimpls.resolve(name)
    root = os.environ.get(ENV_BASE_TREE)
    if not root:
        raise localimpls.ImplError(f"impl {name!r}: no base tree ({ENV_BASE_TREE} is not set)")
    return import_base(change_name(name), root)


def stack_types(factory: Any) -> tuple[Any, Any]:
    """(LocalStack, LocalProxy) to use with ``factory``: the base tree's for a base built-in, else the change's."""
    found = _BASE_STACKS.get(id(factory))
    if found is not None:
        return found
    from localimpls.stack import LocalProxy, LocalStack

    return LocalStack, LocalProxy


def _base_builtins(root: str) -> list[str]:
    try:
        base = _import_from(root, "localimpls", "localimpls")["localimpls"]
        return list(getattr(base, "BUILTIN", {}))
    except Exception:  # a base without a localimpls package registers nothing
        return []


def check_twins(root: str, names: Sequence[str]) -> dict[str, Any]:
    """Which of ``names`` the base tree ``root`` lacks, which fail to import there, which built-ins only it has."""
    out: dict[str, Any] = {"missing": [], "errors": {}, "base_only": []}
    for name in names:
        try:
            import_base(name, root)
        except localimpls.ImplError as exc:
            if module_file(Path(root), _module_of(name)) is None:
                out["missing"].append(name)
            else:
                out["errors"][name] = str(exc)
    out["base_only"] = [n for n in _base_builtins(root) if n not in localimpls.BUILTIN]
    return out


if __name__ == "__main__":
    print(json.dumps(check_twins(sys.argv[1], sys.argv[2:])))
