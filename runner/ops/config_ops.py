"""`config show|set|validate`: effective values with their sources, validated atomic edits of a config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.dictutil import deep_merge, flatten
from runner.errors import InvalidInput
from runner.state.views import ConfigSet, ConfigShow, ConfigValidation, ConfigValue


def show(loaded) -> ConfigShow:
    """Every effective dotted key with its value and source."""
    from runner.config.load import source_of

    values = flatten(loaded.config.model_dump(mode="json"))
    return ConfigShow(
        values={k: ConfigValue(value=v, source=source_of(k, loaded.sources)) for k, v in sorted(values.items())}
    )


def check_key(key: str) -> None:
    """InvalidInput unless `key` names a settable value (or a key inside a free-form mapping)."""
    from runner.config.keys import resolve
    from runner.config.load import AppConfig

    resolve(key, AppConfig)


def parse_value(raw: str) -> Any:
    """A YAML scalar or flow value: 3 → int, true → bool, [a, b] → list, null → None, else the string."""
    import yaml

    try:
        return yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        return raw


def validate_layer(data: dict[str, Any], label: str, *, key: str | None = None, key_label: str = "") -> None:
    """InvalidInput naming the key if `data` (one file's keys), laid over the defaults, is not a valid
    config: its source is `label` (the file), or `key_label` for `key` (the value being set)."""
    from runner.config.load import AppConfig, validate

    merged = deep_merge(AppConfig().model_dump(), data)
    sources = {k: label for k in flatten(data)}
    if key is not None:
        for k in [k for k in sources if k == key or k.startswith(key + ".")]:
            sources[k] = key_label
        sources[key] = key_label
    validate(merged, sources, label)


def set_value(path: Path, key: str, raw: str, *, dry_run: bool = False) -> ConfigSet:
    """Validate then write `key: value` into the YAML config at `path` atomically, keeping its comments."""

    from runner.config.load import parse_yaml_text
    from runner.config.edit import set_in_text
    from runner.fsutil import atomic_write

    check_key(key)
    value = parse_value(raw)
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read config {path}: {exc}") from None
    parse_yaml_text(text, path)  # a file that is not valid YAML is refused as every command refuses it
    new_text = set_in_text(text, key.split("."), value, str(path))
    data = parse_yaml_text(new_text, path)
    validate_layer(data, str(path), key=key, key_label=f"config set {key} {raw}")
    if _get(data, key.split(".")) != value:  # what every command will read back is what was set
        raise InvalidInput(f"config key {key!r}: {raw!r} does not survive a round trip through YAML; quote it")
    if not dry_run:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        atomic_write(path, new_text, mode=mode)
    return ConfigSet(key=key, value=value, file=str(path), dry_run=dry_run)


def _get(tree: Any, parts: list[str]) -> Any:
    for part in parts:
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def validate(root: Path | None, config_path: Path | None = None) -> ConfigValidation:
    """Load every layer (raising InvalidInput on the first bad key) and list the files read."""
    from runner.config.load import load_config, user_config_path

    load_config(root, config_path=config_path)
    files = []
    if user_config_path().is_file():
        files.append(str(user_config_path()))
    project = config_path or (root / ".codex" / "config.yaml" if root else None)
    if project is not None and Path(project).is_file():
        files.append(str(project))
    return ConfigValidation(valid=True, files=files)
