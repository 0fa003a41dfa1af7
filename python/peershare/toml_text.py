"""Scenarios written as Python objects, turned into the TOML text the
simulator reads (:func:`to_toml`); :meth:`peershare.Simulation.from_dict`
builds a simulation from such a dict.

Tables become ``[table]`` sections and lists of tables ``[[table]]``
sections, in the order given, so errors name the same fields
(``groups[1].plugin``) as for a scenario file; ``None`` values are left
out, and a ``timedelta`` is written as a duration.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Any

__all__ = ["to_toml"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a scenario's keys are strings, not {name!r}")
    return name if _BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def _inline(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime.timedelta):
        return json.dumps(f"{round(value.total_seconds() * 1e9)}ns")
    if isinstance(value, dict):
        items = [f"{_key(k)} = {_inline(v, f'{where}.{k}')}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    if isinstance(value, (list, tuple, range)):
        return "[" + ", ".join(_inline(v, f"{where}[{i}]") for i, v in enumerate(value)) + "]"
    raise TypeError(f"{where}: a {type(value).__name__} has no TOML form (use str, int, float, bool, timedelta, dict or list)")


def _is_table_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(v, dict) for v in value)


def _section(lines: list[str], path: str, table: dict[str, Any], header: str) -> None:
    if header:
        lines.append("")
        lines.append(header)
    nested = []
    for name, value in table.items():
        if value is None:
            continue
        if isinstance(value, dict) or _is_table_list(value):
            nested.append((name, value))
        else:
            lines.append(f"{_key(name)} = {_inline(value, f'{path}{name}')}")
    for name, value in nested:
        full = f"{path}{_key(name)}"
        if isinstance(value, dict):
            _section(lines, f"{full}.", value, f"[{full}]")
        else:
            for item in value:
                _section(lines, f"{full}.", item, f"[[{full}]]")


def to_toml(scenario: dict[str, Any]) -> str:
    """The TOML text of a scenario given as a dict.

    >>> print(to_toml({"seed": 1, "groups": [{"name": "peers", "count": 3, "config": {"ttl": 2}}]}))
    seed = 1
    <BLANKLINE>
    [[groups]]
    name = "peers"
    count = 3
    <BLANKLINE>
    [groups.config]
    ttl = 2
    <BLANKLINE>
    """
    if not isinstance(scenario, dict):
        raise TypeError(f"a scenario is a dict, not a {type(scenario).__name__}")
    lines: list[str] = []
    _section(lines, "", scenario, "")
    return "\n".join(lines) + "\n"
