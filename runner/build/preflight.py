"""What a build checks before it spends anything: a refusal here leaves the task as it was, no attempt counted.

Checked in the order of their cost, each naming the fix: the repository has a commit and a branch to
merge into; the checkout of that branch is not dirty where the task's target files are; the Docker
engine answers; the codex image is built; the model can be called (a key, when the endpoint needs one).
The config is already valid by then: it was loaded and validated at the CLI edge.
"""

from __future__ import annotations

from pathlib import Path

from runner.errors import InvalidInput, RunnerError

__all__ = ["DirtyTarget", "check_model_access", "check_repo", "check_services", "check_target_clean",
           "has_commits"]


class DirtyTarget(RunnerError):
    """The merge target's checkout has uncommitted work where the task writes (exit 1, nothing spent)."""

    def __init__(self, message: str, *, worktree: Path, paths: list[str]):
        self.worktree, self.paths = worktree, list(paths)
        super().__init__(message)


def _git(root: Path, *args: str):
    from sandbox.git.plumbing import git_trusted

    return git_trusted(root, *args, check=False)


def _tip(root: Path, ref: str) -> str | None:
    proc = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def has_commits(root: Path) -> bool:
    """Whether the repository has any commit at all (a fresh `git init` has none)."""
    return bool(_git(root, "rev-list", "-n", "1", "--all").stdout.strip())


def no_commit_message(root: Path) -> str:
    return (f"the repository {root} has no commit yet: make a first commit "
            "(`git add -A && git commit -m initial`), then run this again")


def check_repo(root: Path, configured: str | None) -> str:
    """The integration branch (configured, else the branch checked out) once it exists with a commit."""
    if not has_commits(root):
        raise InvalidInput(no_commit_message(root))
    if configured:
        name = configured.removeprefix("refs/heads/")
        if _tip(root, f"refs/heads/{name}") is None:
            raise InvalidInput(f"the integration branch {name!r} (build.integration_branch) does not exist in "
                               f"{root}: create it (`git branch {name}`) or change build.integration_branch")
        return name
    head = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD")
    if head.returncode != 0:
        raise InvalidInput(f"HEAD is detached in {root}: check out the branch to build on (`git switch <branch>`) "
                           "or set build.integration_branch")
    name = head.stdout.decode().strip()
    if _tip(root, f"refs/heads/{name}") is None:
        raise InvalidInput(f"the branch {name!r} checked out in {root} has no commit yet: commit on it, "
                           "or switch to a branch that has one")
    return name


def check_target_clean(root: Path, branch: str, target_files: list[str], *, task_id: str) -> None:
    """Refuse (DirtyTarget, naming the paths and what is wrong with each) when the merge would have to
    overwrite uncommitted work of the user's at one of the task's target files — the same test the
    merge makes (`sandbox.git.branch_move.collisions`), asked before the model is called."""
    from sandbox.git.branch_move import collisions, no_driver_flags, tree_entries
    from sandbox.git.integrate import checked_out_in

    paths = sorted({p.strip().strip("/") for p in target_files if p.strip().strip("/")})
    wt = checked_out_in(root, f"refs/heads/{branch}") if paths else None
    if wt is None:
        return  # not checked out anywhere: the merge moves a ref and writes no files
    tracked = tree_entries(root, f"refs/heads/{branch}", paths)
    clash = collisions(wt, paths, tracked, no_driver_flags(root))
    if not clash:
        return
    what = ", ".join(f"{p} ({'uncommitted changes' if p in tracked else 'untracked or ignored file in the way'})"
                     for p in clash[:10]) + (" ..." if len(clash) > 10 else "")
    raise DirtyTarget(f"{branch} is checked out in {wt} with work of yours where task {task_id} writes: {what}; "
                      "commit, move or stash it, then run the build again (nothing was spent, the task is "
                      "unchanged)", worktree=wt, paths=clash)


def check_services(image: str | None, base_image: str) -> str:
    """The engine answers and the codex image is built; returns the image tag (errors name the fix)."""
    from sandbox.docker.client import get_client
    from sandbox.errors import ImageError

    client = get_client()  # EngineUnavailable (exit 4) names the engine it could not reach
    if image is None:
        from runner.build.result import codex_image

        return codex_image(base_image)  # ImageError: "... run `codex-sandbox images build`"
    from docker.errors import ImageNotFound

    try:
        client.images.get(image)
    except ImageNotFound:
        raise ImageError(f"image {image} is not in the Docker engine; build or pull it first") from None
    return image


def check_model_access(llm, api_key: str | None) -> None:
    """The live model can be called: OpenAI's API needs a key (a local endpoint or replay needs none)."""
    if llm.mode == "live" and not api_key and "api.openai.com" in llm.base_url:
        raise InvalidInput(
            f"no API key: set {llm.api_key_env} (llm.api_key_env), or point llm.base_url at a local "
            "endpoint, or use llm.mode: replay; `make demo` needs no key"
        )
