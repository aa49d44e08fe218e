"""Lazy re-exports for a package's ``__init__`` (PEP 562): a name's module loads on first use.

Importing ``viz3d`` must stay cheap (no torch-heavy or pyvista module before it is needed), so
each package maps its public names to the modules defining them and resolves them on access.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, table: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package exporting ``table`` lazily.

    Parameters
    ----------
    package : str
        The package's name (for the error message).
    table : mapping of str to str
        Public name -> the module that defines it.
    namespace : dict
        The package's ``globals()``: a resolved name is cached there.

    Examples
    --------
    >>> namespace = {}
    >>> getattr_, dir_ = lazy_exports("demo", {"sqrt": "math"}, namespace)
    >>> getattr_("sqrt")(9.0), "sqrt" in namespace, dir_()
    (3.0, True, ['sqrt'])
    """

    def __getattr__(name: str) -> Any:
        if name in table:
            value = getattr(import_module(table[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace.get("__all__", ())) | set(table))

    return __getattr__, __dir__
