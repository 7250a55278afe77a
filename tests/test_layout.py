"""The code's shape, checked: small modules and functions, few parameters, no private name borrowed across stages, no
test code shipped.

The import direction between stages is checked by import-linter (``tox -e lint``, the contract in pyproject.toml);
line length by ruff.  Fast: nothing here imports the suite's heavy modules or starts anything.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from setuptools import find_packages

from bench.records.environment import PROJECT_ROOT

BENCH = PROJECT_ROOT / "bench"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
#: A function may run longer only with this comment on its ``def`` line, saying why.
LONG_FUNCTION_MARK = "# long:"
#: Parameters a function takes at most (``self``/``cls`` not counted; ``*args`` and ``**kwargs`` one each): more
#: belong together in a selection or settings object.
MAX_PARAMETERS = 7
#: ``path function`` -> why it may take more.
MANY_PARAMETERS: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(BENCH.rglob("*.py"))


def _stage(module: str) -> str:
    """``bench.cell.db.loop`` -> ``bench.cell``; a top-level module is its own stage."""
    return ".".join(module.split(".")[:2])


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_modules_and_functions_stay_small() -> None:
    too_big = []
    for path in _modules():
        text = path.read_text()
        lines = text.splitlines()
        name = path.relative_to(PROJECT_ROOT)
        if len(lines) > MAX_MODULE_LINES:
            too_big.append(f"{name}: {len(lines)} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES and LONG_FUNCTION_MARK not in lines[node.lineno - 1]:
                    too_big.append(f"{name}:{node.lineno}: {node.name} is {length} lines")
    assert too_big == []


def parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's parameters: ``self``/``cls`` (the first positional one) not counted, ``*a``/``**k`` one each."""
    args = node.args
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    count = len(positional) + len(args.kwonlyargs) + (args.vararg is not None) + (args.kwarg is not None)
    return count - (1 if positional[:1] in (["self"], ["cls"]) else 0)


def _many_parameters(path_name: str, text: str) -> list[str]:
    return [f"{path_name} {node.name}: {parameters(node)} parameters" for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and parameters(node) > MAX_PARAMETERS
            and f"{path_name} {node.name}" not in MANY_PARAMETERS]


def test_no_function_takes_more_than_seven_parameters() -> None:
    """What belongs together travels together; an exception is named in :data:`MANY_PARAMETERS` with why."""
    found = [line for path in _modules()
             for line in _many_parameters(path.relative_to(PROJECT_ROOT).as_posix(), path.read_text())]
    assert found == []


def test_the_parameter_count_is_what_it_says() -> None:
    text = ("class C:\n    def m(self, a, b, c, d, e, f, g): ...\n"
            "    @classmethod\n    def k(cls, a, /, b, *, c): ...\n"
            "def f(a, b, c, d, e, f, *args, **kwargs): ...\nasync def g(a, b, c, d, e, f, g): ...\n"
            "def h(*, a, b, c, d, e, f, g): ...\n")
    functions = [node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert {node.name: parameters(node) for node in functions} == {"m": 7, "k": 3, "f": 8, "g": 7, "h": 7}
    assert _many_parameters("x.py", text) == ["x.py f: 8 parameters"]
    MANY_PARAMETERS["y.py wide"] = "a deliberate exception, said here"
    try:
        assert _many_parameters("y.py", "def wide(a, b, c, d, e, f, g, h): ...\n") == []
    finally:
        del MANY_PARAMETERS["y.py wide"]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _borrowed(module: str, text: str) -> list[str]:
    """Private names ``module`` takes from another stage: ``from bench.x import _y`` or ``x._y``."""
    own = _stage(module)
    tree = ast.parse(text, module)
    bound: dict[str, str] = {}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound.update({a.asname: a.name for a in node.names if a.asname and a.name.startswith("bench.")})
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bench"):
            if _stage(node.module) == own:
                continue
            found += [f"from {node.module} import {a.name}" for a in node.names if _private(a.name)]
            bound.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound:
            if _stage(bound[node.value.id]) != own and _private(node.attr):
                found.append(f"line {node.lineno}: {bound[node.value.id]}.{node.attr}")
    return [f"{module}: {line}" for line in found]


def test_no_stage_borrows_a_private_name_of_another() -> None:
    """What one stage needs of another is public there."""
    assert [line for path in _modules() for line in _borrowed(_module_name(path), path.read_text())] == []


def test_the_private_name_check_catches_what_it_names() -> None:
    text = "from bench.cell import db as dbwork\nfrom bench.exec.dbcell import _stub\nx = dbwork._RATE_BOUND\n"
    assert _borrowed("bench.faults.soak", text) == [
        "bench.faults.soak: from bench.exec.dbcell import _stub",
        "bench.faults.soak: line 3: bench.cell.db._RATE_BOUND",
    ]
    assert _borrowed("bench.cell.db.loop", "from bench.cell.db.state import _grow\n") == []  # same stage


def test_only_the_suite_ships_in_the_wheel() -> None:
    """The packages setuptools finds with pyproject's settings: bench and localimpls, never tests or benchmarks."""
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    found = find_packages(str(PROJECT_ROOT), include=config["include"])
    assert "bench" in found and "localimpls" in found and "bench.cell.db" in found
    assert not [name for name in found if name.split(".")[0] not in ("bench", "localimpls")]
