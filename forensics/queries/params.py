"""Query parameters: typed, checked, and always bound (never formatted into SQL).

Values arrive as Python objects (notebooks) or as text (`--param k=v` on the command line);
both go through `coerce`, so a notebook and the CLI accept exactly the same things.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forensics.errors import UnknownNameError, UsageError

if TYPE_CHECKING:
    from forensics.queries.header import Param, Query

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def coerce(param: Param, value: Any) -> Any:
    """`value` as the parameter's type, range- and choice-checked; raises UsageError."""
    where = f"parameter {param.name} ({param.type})"
    try:
        if param.type == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            out: Any = int(value)
        elif param.type == "float":
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
        elif param.type == "bool":
            if isinstance(value, bool):
                out = value
            elif isinstance(value, str) and value.lower() in _TRUE | _FALSE:
                out = value.lower() in _TRUE
            else:
                raise ValueError
        elif param.type == "str":
            if not isinstance(value, str):
                raise ValueError
            out = value
        else:  # str_list: a list of strings, or comma-separated text
            if isinstance(value, str):
                out = [v.strip() for v in value.split(",") if v.strip()]
            elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                out = list(value)
            else:
                raise ValueError
    except (TypeError, ValueError):
        raise UsageError(f"{where}: {value!r} is not a valid {param.type}",
                         hint=param.meaning) from None
    if param.type in ("int", "float"):
        if param.min is not None and out < param.min:
            raise UsageError(f"{where}: {out} is below the minimum {param.min}")
        if param.max is not None and out > param.max:
            raise UsageError(f"{where}: {out} is above the maximum {param.max}")
    if param.choices and out not in param.choices:
        raise UsageError(f"{where}: {out!r} is not one of {list(param.choices)}")
    return out


def bind(query: Query, given: dict[str, Any] | None) -> dict[str, Any]:
    """Every parameter of `query`: the defaults, overridden by `given` (validated)."""
    given = dict(given or {})
    valid = [p.name for p in query.params]
    for name in given:
        if name not in valid:
            raise UnknownNameError(f"parameter of query {query.name}", name, valid)
    return {p.name: coerce(p, given.get(p.name, p.default)) for p in query.params}


def parse_cli(pairs: list[str]) -> dict[str, str]:
    """['k=v', ...] -> {'k': 'v'}; the values stay text until `bind` types them."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {pair!r} must be NAME=VALUE")
        out[key.strip()] = value
    return out
