"""`config show|set|validate`: effective values with their sources, validated atomic edits of a config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from runner.dictutil import deep_merge
from runner.errors import InvalidInput
from runner.views import ConfigSet, ConfigShow, ConfigValidation, ConfigValue


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


def source_of(key: str, sources: dict[str, str]) -> str:
    """The layer a dotted key came from (its own entry, or the nearest parent set as a whole)."""
    probe = key
    while probe:
        if probe in sources:
            return sources[probe]
        probe = probe.rpartition(".")[0]
    return "default"


def show(loaded) -> ConfigShow:
    """Every effective dotted key with its value and source."""
    values = _flatten(loaded.config.model_dump(mode="json"))
    return ConfigShow(
        values={k: ConfigValue(value=v, source=source_of(k, loaded.sources)) for k, v in sorted(values.items())}
    )


def check_key(key: str) -> None:
    """InvalidInput unless `key` names a settable leaf (or a key inside a free-form mapping section)."""
    from runner.config import AppConfig

    if not key or any(not part for part in key.split(".")):
        raise InvalidInput(f"bad config key {key!r}: use dotted names like sandbox.pool_size")
    model: Any = AppConfig
    parts = key.split(".")
    for i, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            where = ".".join(parts[:i]) or "top level"
            raise InvalidInput(f"unknown config key {key!r} (known in {where}: {', '.join(fields)})")
        annotation = fields[part].annotation
        last = i == len(parts) - 1
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if last:
                raise InvalidInput(f"config key {key!r} is a section; set one of its keys: "
                                   f"{', '.join(key + '.' + k for k in annotation.model_fields)}")
            model = annotation
            continue
        origin = getattr(annotation, "__origin__", None)
        if origin is dict or annotation is dict:
            return  # free-form mapping: any sub-key
        if not last:
            raise InvalidInput(f"unknown config key {key!r}: {'.'.join(parts[: i + 1])} is not a section")
        return


def parse_value(raw: str) -> Any:
    """A YAML scalar or flow value: 3 → int, true → bool, [a, b] → list, null → None, else the string."""
    import yaml

    try:
        return yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        return raw


def _set(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    for part in parts[:-1]:
        nxt = tree.get(part)
        if not isinstance(nxt, dict):
            nxt = tree[part] = {}
        tree = nxt
    tree[parts[-1]] = value


def validate_layer(data: dict[str, Any], label: str) -> None:
    """InvalidInput naming the key if `data`, laid over the defaults, is not a valid config."""
    from runner.config import AppConfig

    try:
        AppConfig.model_validate(deep_merge(AppConfig().model_dump(), data))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(f"config key {key!r} ({label}): {err['msg']}") from None


def set_value(path: Path, key: str, raw: str, *, dry_run: bool = False) -> ConfigSet:
    """Validate then write `key: value` into the YAML config at `path` atomically (comments are not kept)."""
    import yaml

    from runner.config import read_yaml_file
    from runner.fsutil import atomic_write

    check_key(key)
    value = parse_value(raw)
    data = read_yaml_file(path) if path.exists() else {}
    _set(data, key, value)
    validate_layer(data, f"value {raw!r}")
    if not dry_run:
        atomic_write(path, yaml.safe_dump(data, sort_keys=True, default_flow_style=False))
    return ConfigSet(key=key, value=value, file=str(path), dry_run=dry_run)


def validate(root: Path | None, config_path: Path | None = None) -> ConfigValidation:
    """Load every layer (raising InvalidInput on the first bad key) and list the files read."""
    from runner.config import load_config, user_config_path

    load_config(root, config_path=config_path)
    files = []
    if user_config_path().is_file():
        files.append(str(user_config_path()))
    project = config_path or (root / ".codex" / "config.yaml" if root else None)
    if project is not None and Path(project).is_file():
        files.append(str(project))
    return ConfigValidation(valid=True, files=files)
