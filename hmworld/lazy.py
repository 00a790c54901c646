"""Lazy re-exports for package `__init__`s (PEP 562), so that importing a package costs nothing.

A package writes its public surface once, as ordinary relative imports under ``if TYPE_CHECKING:`` (what editors
and type checkers read), and ends with::

    __getattr__, __dir__, __all__ = lazy_exports(globals())

At run time nothing under ``TYPE_CHECKING`` executes; the first access of a name (``from hmworld.model import
HyDRATransformer3DModel``) imports its submodule then. So `hmworld train split=<not a split>` can report its
error before torch, diffusers or lightning load.
"""
from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Callable


def _type_checking_imports(init_file: str) -> dict[str, tuple[str, str]]:
    """exported name -> (submodule, name in it), from the `from .mod import a, b as c` lines under
    `if TYPE_CHECKING:` of the package's __init__ source."""
    tree = ast.parse(Path(init_file).read_text(encoding="utf-8"))
    names: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if not (isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.ImportFrom) and stmt.level == 1 and stmt.module:
                for alias in stmt.names:
                    names[alias.asname or alias.name] = (stmt.module, alias.name)
    if not names:
        raise ImportError(f"{init_file}: no `from .module import name` lines under `if TYPE_CHECKING:`")
    return names


def lazy_exports(namespace: dict) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """(__getattr__, __dir__, __all__) of the package whose `globals()` is `namespace`: its exports are the
    TYPE_CHECKING imports of its __init__."""
    package = namespace["__name__"]
    exports = _type_checking_imports(namespace["__file__"])

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attr = exports[name]
        value = getattr(importlib.import_module(f"{package}.{module}"), attr)
        namespace[name] = value  # later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__, sorted(exports)
