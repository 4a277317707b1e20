"""`config show|set|validate`: the layered configuration."""

from pathlib import Path

import typer

from runner.cli.context import get_app

app = typer.Typer()


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Show every effective value and the layer it came from."""
    from runner.ops.config_ops import show as show_values

    a = get_app(ctx)
    out = show_values(a.loaded_config)

    def human() -> None:
        width = max(len(k) for k in out.values)
        for key, item in out.values.items():
            a.console.print(f"{key:<{width}}  {_shown(item.value):<28}  # {item.source}", markup=False)

    a.emit(out, human=human)


def _shown(value) -> str:
    """A value for the table: a long list or mapping as its size (`config show --json` has it whole)."""
    text = repr(value)
    if len(text) > 100 and isinstance(value, list | dict):
        return f"<{len(value)} {'items' if isinstance(value, list) else 'keys'}; see --json>"
    return text


# A value may start with "-" (`config set sandbox.pool_size -3`): it is a value to validate, not an option.
@app.command("set", context_settings={"ignore_unknown_options": True})
def set_(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Dotted key, e.g. sandbox.pool_size."),
    value: str = typer.Argument(..., help="Value (YAML: 3, true, null, [a, b], text)."),
    user: bool = typer.Option(False, "--user", help="Write ~/.codex/config.yaml instead of the project file."),
) -> None:
    """Validate and write one value to the project config (.codex/config.yaml) atomically."""
    from runner.config.load import user_config_path
    from runner.ops.config_ops import set_value

    a = get_app(ctx)
    if user:
        path = user_config_path()
    elif a.config_path is not None:
        path = Path(a.config_path)
    else:
        path = a.repo_root() / ".codex" / "config.yaml"
    out = set_value(path, key, value, dry_run=a.dry_run)
    a.emit(out, human=lambda: a.console.print(
        f"{'would set' if a.dry_run else 'set'} {out.key} = {out.value!r} in {out.file}", markup=False))


@app.command("validate")
def validate(ctx: typer.Context) -> None:
    """Check every config layer; exit 2 naming the first bad key."""
    from runner.ops.config_ops import validate as validate_config

    a = get_app(ctx)
    out = validate_config(a.repo_root(required=False), a.config_path)
    a.emit(out, human=lambda: a.console.print(
        "config OK" + (f" ({', '.join(out.files)})" if out.files else " (defaults only)"), markup=False))
