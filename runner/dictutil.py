"""Small helpers for the nested dicts that config and policy layers are read into."""

from __future__ import annotations

import copy
from typing import Any


def deep_merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with `layer` laid over it; nested dicts merge, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys of a nested mapping: `{"a": {"b": 1}}` → `{"a.b": 1}`; an empty mapping is a value."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
