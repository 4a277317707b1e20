"""Dotted config keys: walking the typed model by key, mapping CODEX_* variables onto keys, and turning
a pydantic error into the one line a user gets (the key, its value, where it came from, the accepted form)."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from runner.errors import InvalidInput

ENV_PREFIX = "CODEX_"


def _core(annotation: Any) -> Any:
    """The annotation without Optional/Annotated wrapping."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def section_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a section field (`sandbox`, `sandbox.limits`), else None."""
    core = _core(annotation)
    return core if isinstance(core, type) and issubclass(core, BaseModel) else None


def _dict_args(annotation: Any) -> tuple[Any, Any] | None:
    core = _core(annotation)
    if core is dict or typing.get_origin(core) is dict:
        args = typing.get_args(core)
        return (args[0], args[1]) if args else (Any, Any)
    return None


def named_model(annotation: Any) -> type[BaseModel] | None:
    """The value model of a mapping of named sections (`deploy.environments`), else None."""
    args = _dict_args(annotation)
    return section_model(args[1]) if args else None


def is_mapping(annotation: Any) -> bool:
    return _dict_args(annotation) is not None


def is_sequence(annotation: Any) -> bool:
    return typing.get_origin(_core(annotation)) is list or _core(annotation) is list


def resolve(key: str, root: type[BaseModel]) -> FieldInfo | None:
    """The field a dotted key of `root` names (None: a key inside a free-form mapping); InvalidInput if it
    names nothing, or a whole section."""
    parts = key.split(".")
    if not key or any(not part for part in parts):
        raise InvalidInput(f"bad config key {key!r}: use dotted names like sandbox.pool_size")
    model: type[BaseModel] = root
    i = 0
    while True:
        part = parts[i]
        if part not in model.model_fields:
            raise InvalidInput(f"unknown config key {key!r}: {unknown_key_hint(part, model, '.'.join(parts[:i]))}")
        field = model.model_fields[part]
        rest = parts[i + 1:]
        sub, named = section_model(field.annotation), named_model(field.annotation)
        if sub is not None or named is not None:
            if len(rest) < (1 if sub is not None else 2):
                what = ", ".join(sub.model_fields) if sub is not None else "NAME.<key>, e.g. staging.port"
                raise InvalidInput(f"config key {key!r} is a section; set one of its keys: {what}")
            model, i = (sub, i + 1) if sub is not None else (named, i + 2)
            continue
        if not rest:
            return field
        if is_mapping(field.annotation):
            return None  # a key inside a free-form mapping (deploy.policies.*): its validator checks it
        raise InvalidInput(f"unknown config key {key!r}: {'.'.join(parts[: i + 1])} is a value, not a section")


def unknown_key_hint(name: str, model: type[BaseModel], where: str) -> str:
    known = list(model.model_fields)
    close = difflib.get_close_matches(name, known, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return f"{guess}known keys in {where or 'the top level'}: {', '.join(known)}"


def leaf_keys(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """Every settable dotted key of the model with its field, walking sections recursively (a mapping of
    named sections, like deploy.environments, through one sample name: staging)."""
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        sub = section_model(field.annotation)
        named = named_model(field.annotation)
        if sub is not None:
            yield from leaf_keys(sub, dotted + ".")
        elif named is not None:
            yield from leaf_keys(named, f"{dotted}.staging.")
        else:
            yield dotted, field


def env_name(key: str) -> str:
    """The CODEX_* variable that sets a dotted key."""
    return ENV_PREFIX + key.replace(".", "_").upper()


def env_values(environ: dict[str, str], root: type[BaseModel]) -> list[tuple[list[str], Any, str]]:
    """The keys of `root` CODEX_* variables set: (key path, value, variable name), sorted by variable.

    Only whole values are set from the environment: a variable naming a section (CODEX_SANDBOX, which
    Codex itself sets inside its sandbox) or nothing is not ours and is left alone. Lists and mappings
    are read as YAML (`[docker, compose]`)."""
    found_values = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        found = _match_env(root, name[len(ENV_PREFIX):].lower().split("_"))
        if not found:
            continue
        path, field = found
        value: Any = environ[name]
        if is_sequence(field.annotation) or is_mapping(field.annotation):
            value = _yaml_or_raw(value)
        found_values.append((path, value, name))
    return found_values


def _yaml_or_raw(raw: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _match_env(model: type[BaseModel], tokens: list[str]) -> tuple[list[str], FieldInfo] | None:
    for cut in range(len(tokens), 0, -1):  # longest field name first: pool_size before pool
        key = "_".join(tokens[:cut])
        field = model.model_fields.get(key)
        if field is None:
            continue
        rest = tokens[cut:]
        sub = section_model(field.annotation)
        named = named_model(field.annotation)
        if sub is not None:
            found = _match_env(sub, rest) if rest else None
            if found:
                return [key, *found[0]], found[1]
        elif named is not None:
            for name_cut in range(1, len(rest)):  # shortest name first: staging_health_url is staging + …
                found = _match_env(named, rest[name_cut:])
                if found:
                    return [key, "_".join(rest[:name_cut]), *found[0]], found[1]
        elif not rest:
            return [key], field
    return None


def _field_for(loc: tuple, root: type[BaseModel]) -> FieldInfo | None:
    """The field at a pydantic error location (a list item's: the list's), or None."""
    field: FieldInfo | None = None
    for i in range(1, len(loc) + 1):
        holder = _holder(loc[: i - 1], root)
        if holder is None or not isinstance(loc[i - 1], str) or loc[i - 1] not in holder.model_fields:
            continue
        field = holder.model_fields[loc[i - 1]]
    return field


def dotted(loc: tuple) -> str:
    return ".".join(str(p) for p in loc if p != "[key]")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_BUILTIN_FORMS = {
    "int_parsing", "int_type", "int_from_float", "float_parsing", "float_type", "finite_number",
    "bool_parsing", "bool_type", "string_type", "literal_error", "list_type", "dict_type", "model_type",
    "greater_than", "greater_than_equal", "less_than", "less_than_equal", "string_too_short", "too_short",
}


def problem(err: dict[str, Any], root: type[BaseModel], prefix: tuple[str, ...] = ()) -> str:
    """What is wrong and the accepted form, in words; `err` is located in `root`, which sits at `prefix`
    of the whole configuration (for naming the section that got an unknown key)."""
    kind = err["type"]
    loc = tuple(err["loc"])
    field = _field_for(loc, root)
    if kind == "extra_forbidden":
        return f"unknown key; {unknown_key_hint(str(loc[-1]), _holder(loc[:-1], root) or root, dotted((*prefix, *loc[:-1])))}"
    if kind == "missing":
        return "required key is missing"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        message = "must be a mapping of keys (a section), not a single value"
    elif kind == "list_type":
        message = "must be a list, e.g. [a, b]"
    elif kind == "string_type" and isinstance(err.get("input"), bool | int | float):
        message = f"must be text; YAML read this as a {type(err['input']).__name__}: quote it to keep it text"
    if kind in _BUILTIN_FORMS and field is not None and field.description:
        message += f" ({field.description.rstrip('.')})"
    return message


def _holder(loc: tuple, root: type[BaseModel]) -> type[BaseModel] | None:
    """The model a location in `root` names (the section that got an unknown key)."""
    model: type[BaseModel] | None = root
    skip = 0
    for part in loc:
        if skip:
            skip -= 1
            continue
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        named = named_model(annotation)
        if named is not None:
            model, skip = named, 1
            continue
        sub = section_model(annotation)
        if sub is None and is_sequence(annotation):
            args = typing.get_args(_core(annotation))
            sub = section_model(args[0]) if args else None
            skip = 1 if sub is not None else 0
        model = sub
    return model


def config_error(exc: ValidationError, source_of: Callable[[str], str], root: type[BaseModel]) -> InvalidInput:
    """The first error of validating `root` as one line: key, value, source, accepted form."""
    err = exc.errors()[0]
    key = dotted(tuple(err["loc"])) or "(top level)"
    value = "" if err["type"] == "missing" else f" = {_shown(err.get('input'))}"
    if err["type"] == "extra_forbidden":
        value = ""
    return InvalidInput(f"config key {key!r}{value} ({source_of(key)}): {problem(err, root)}")
