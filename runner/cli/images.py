"""`codex-sandbox images build|list`: parse, call sandbox.docker.images, render."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli.context import get_app

app = typer.Typer(no_args_is_help=True)


@app.command("build")
def build(
    ctx: typer.Context,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", "-k", metavar="KIND", help="Image kind (base, codex, python); repeatable."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the tagged image exists.")] = False,
) -> None:
    """Build the sandbox images that are missing or out of date."""
    from runner.errors import InvalidInput
    from sandbox.docker.images import IMAGE_KINDS, ensure_images

    a = get_app(ctx)
    bad = [k for k in kind or [] if k not in IMAGE_KINDS]
    if bad:
        raise InvalidInput(f"unknown image kind {bad[0]!r} (expected one of {', '.join(IMAGE_KINDS)})")
    base_image = a.config.sandbox.base_image
    if a.json or a.quiet:
        tags = ensure_images(kind or None, base_image=base_image, force=force)
    else:
        tags = _build_with_progress(a, kind or None, base_image, force)
    a.emit(tags, human=lambda: [a.console.print(f"{k}\t{t}") for k, t in tags.items()])


def _build_with_progress(a, kinds, base_image: str, force: bool) -> dict[str, str]:
    from rich.markup import escape
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from sandbox.docker.images import ensure_images

    if not a.err_console.is_terminal:  # CI logs: a line per milestone instead of a live display

        def log(kind: str, event: str, message: str) -> None:
            if event != "step":
                a.err_console.print(f"{kind}: {event} {message}")

        return ensure_images(kinds, base_image=base_image, progress=log, force=force)
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[kind]:<7}"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=a.err_console, transient=False) as progress:
        tasks: dict[str, int] = {}

        def report(kind: str, event: str, message: str) -> None:
            if kind not in tasks:
                tasks[kind] = progress.add_task("", kind=kind, total=1)
            text = escape(message[:100])
            if event == "cached":
                progress.update(tasks[kind], description=f"up to date  {text}", completed=1)
            elif event == "done":
                progress.update(tasks[kind], description=f"built  {text}", completed=1)
            else:
                progress.update(tasks[kind], description=text)

        return ensure_images(kinds, base_image=base_image, progress=report, force=force)


@app.command("list")
def list_cmd(ctx: typer.Context) -> None:
    """Show each image kind, its current tag and whether it is built."""
    from dataclasses import asdict

    from sandbox.docker.images import list_images

    a = get_app(ctx)
    infos = list_images(base_image=a.config.sandbox.base_image)

    def human() -> None:
        from rich import box
        from rich.table import Table

        table = Table(box=box.SIMPLE)
        for name in ("kind", "built", "size", "created", "tag"):
            table.add_column(name, no_wrap=True)
        for i in infos:
            size = f"{i.size / 1e6:.0f}M" if i.size else "-"
            table.add_row(
                i.kind, "yes" if i.built else "no", size, (i.created or "-")[:16].replace("T", " "), i.tag
            )
        a.console.print(table)

    a.emit([asdict(i) for i in infos], human=human)
