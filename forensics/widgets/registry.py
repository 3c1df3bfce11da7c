"""One widget per (case file, kind): re-running a cell returns the widget already built,
with the analyst's values, instead of a fresh one that forgot them."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

_REGISTRY: dict[tuple[str, str], Any] = {}


def key_for(case: Any, kind: str) -> tuple[str, str]:
    path = case.path if case.path == ":memory:" else os.path.abspath(case.path)
    # in-memory cases are distinct objects: key them by identity
    return (f"{path}#{id(case)}" if path == ":memory:" else path, kind)


def registry() -> dict[tuple[str, str], Any]:
    return _REGISTRY


def get_or_create(case: Any, kind: str, factory: Callable[[], Any]) -> Any:
    """The registered widget for (case, kind), rebound to `case`, or a new one."""
    key = key_for(case, kind)
    widget = _REGISTRY.get(key)
    if widget is None:
        widget = _REGISTRY[key] = factory()
    elif widget.case is not case:
        widget.rebind(case)  # the notebook reopened the same case file
    return widget


def forget(case: Any | None = None) -> None:
    """Drop the registered widgets (of one case, or all)."""
    for key in list(_REGISTRY):
        if case is None or key[0] == key_for(case, "")[0]:
            del _REGISTRY[key]
