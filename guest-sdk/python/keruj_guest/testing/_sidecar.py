"""The app's sidecar (``<app>.toml``) written from Python values: the few
TOML shapes a sidecar holds (scalars, arrays, ``[config]``, ``[[schedule]]``,
``[[webhook]]``), without a TOML writer (the standard library only reads
TOML). Keys are sorted, as the Rust harness writes them."""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def to_toml(settings: Mapping[str, Any]) -> str:
    """``settings`` as a TOML document: plain keys first, then tables, then
    arrays of tables (TOML wants them in that order). ``None``s are left out."""
    plain = []
    tables = []
    for key in sorted(settings):
        value = settings[key]
        if value is None:
            continue
        if isinstance(value, Mapping):
            tables.append(f"\n[{_key(key)}]\n{_fields(value)}")
        elif _is_table_array(value):
            for item in value:
                tables.append(f"\n[[{_key(key)}]]\n{_fields(item)}")
        else:
            plain.append(f"{_key(key)} = {_inline(value)}\n")
    return "".join(plain) + "".join(tables)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _fields(table: Mapping[str, Any]) -> str:
    return "".join(f"{_key(key)} = {_inline(table[key])}\n" for key in sorted(table) if table[key] is not None)


def _inline(value: Any) -> str:
    """A value on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"a sidecar value cannot be {value}")
        return json.dumps(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inline(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = [f"{_key(key)} = {_inline(value[key])}" for key in sorted(value) if value[key] is not None]
        return "{ " + ", ".join(items) + " }"
    raise TypeError(f"a sidecar value cannot be {type(value).__name__}: {value!r}")


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, for every character
    but DEL, which TOML wants escaped too."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)
