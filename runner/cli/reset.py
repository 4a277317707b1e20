"""`reset`: the manual FAILED → IDLE reset."""

import typer

from runner.cli.context import get_app


def reset(ctx: typer.Context) -> None:
    """Reset a FAILED repo to IDLE (tasks, plans and history are kept)."""
    from runner.state import lifecycle
    from runner.state.session import command_session
    from runner.state.views import ResetResult

    a = get_app(ctx)
    with command_session(a.repo_root(), "reset", command="reset", info=a.info) as s:
        before = s.store.lifecycle_state()
        if a.dry_run:
            out = ResetResult(from_state=before, state=before, checkpoint=None)
        else:
            cp = lifecycle.transition(s.store, "IDLE", reason="manual reset")
            out = ResetResult(from_state=before, state="IDLE", checkpoint=cp)
    a.emit(out, human=lambda: a.console.print(
        f"{'would reset' if a.dry_run else 'reset'} {out.from_state} → IDLE"))
