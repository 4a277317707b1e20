"""Observe deployed environments: live status per env; a failing one means MAINTAINING + a patch task."""

from __future__ import annotations

from pathlib import Path

from runner.deploy.base import EnvStatus

CRASH_LOOP_RESTARTS = 3  # restarts at or past this count mean a crash loop, even if it is up right now


def environment_statuses(provider, envs: list[str]) -> list[EnvStatus]:
    """One live status per configured environment."""
    return [provider.status(env) for env in envs]


def issue_of(status: EnvStatus) -> str | None:
    """Why this environment needs attention, or None (an env never deployed is not an issue)."""
    if status.state == "absent":
        return None
    if status.state == "restarting" or status.restarts >= CRASH_LOOP_RESTARTS:
        return f"crash loop in {status.env}: {status.restarts} restarts ({status.state})"
    if status.health == "unhealthy":
        return f"health check failing in {status.env}: {status.detail}"
    return None


def react(store, statuses: list[EnvStatus]) -> list[dict]:
    """For each issue: audit it, propose one `patch` task (not twice), move OBSERVING → MAINTAINING."""
    from runner.state import lifecycle
    from runner.state.models import Task

    issues = [(s, why) for s in statuses if (why := issue_of(s))]
    if not issues:
        return []
    out: list[dict] = []
    open_titles = {
        t.title for t in store.list_tasks() if t.type == "patch" and t.status in ("pending", "running")
    }
    for status, why in issues:
        title = f"Fix {status.env}: {'crash loop' if 'crash loop' in why else 'failing health check'}"
        entry = {"env": status.env, "issue": why, "commit": status.commit, "task": None}
        if title not in open_titles:
            task = Task(
                type="patch",
                title=title,
                priority=0,
                description=f"Observed on {status.env} (commit {(status.commit or '?')[:12]}): {why}.\n"
                "Find the cause, fix it, and keep the tests passing.",
                error_context=why[:2000],
            )
            store.add_task(
                task, actor="runner", event="task.proposed", details={"source": "observe", "env": status.env}
            )
            open_titles.add(title)
            entry["task"] = task.id
        store.audit("observe.issue", details={k: v for k, v in entry.items()})
        out.append(entry)
    if store.has_plan() and store.lifecycle_state() == "OBSERVING":
        lifecycle.transition(store, "MAINTAINING", reason=issues[0][1][:200])
    return out


def render_status(statuses: list[EnvStatus]) -> list[str]:
    lines = []
    for s in statuses:
        up = f"up {_human(s.uptime_s)}" if s.uptime_s is not None else s.state
        commit = (s.commit or "-")[:12]
        lines.append(
            f"{s.env:<10} {s.health:<9} {up:<12} restarts={s.restarts} commit={commit} {s.url or ''}".rstrip()
        )
    return lines


def _human(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def repo_provider(repo: Path, cfg):
    """The configured provider (no secrets: observing never needs them)."""
    from runner.deploy.service import make_provider

    return make_provider(repo, cfg)
