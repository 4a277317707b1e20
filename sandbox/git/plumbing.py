"""Git plumbing with the repository pinned by the host: no hooks, filters, fsmonitor or foreign config."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from sandbox.errors import WorktreeError
from sandbox.tools import find_tool

GIT_TIMEOUT_S = 300
# Flags on every pinned call; the repo's own config is trusted, but nothing may run code or read attributes.
SAFE_FLAGS = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "core.attributesFile=/dev/null",
    "-c", "core.untrackedCache=false",
    "-c", "diff.external=",
    "-c", "submodule.recurse=false",
    "-c", "commit.gpgSign=false",
    "-c", "protocol.allow=never",
)
# Variables that would redirect git away from what the host pinned.
_DROP_PREFIXES = ("GIT_",)
_KEEP = {"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
         "GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"}


def git_exe() -> str:
    """The git program (beside the interpreter, else on PATH); WorktreeError when there is none."""
    exe = find_tool("git")
    if exe is None:
        raise WorktreeError("git not found on PATH: install git (apt-get install git)")
    return exe


def pinned_env(git_dir: Path, *, index: Path | None = None) -> dict[str, str]:
    """Environment for git against `git_dir` only: no system/global config, no inherited GIT_* redirections."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP_PREFIXES) or k in _KEEP}
    env.update(
        GIT_DIR=str(git_dir),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_ATTR_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
        GIT_NO_REPLACE_OBJECTS="1",
        LC_ALL="C",
    )
    env.pop("PAGER", None)
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    return env


def trusted_env() -> dict[str, str]:
    """Environment for git in the user's own repository (their config applies, our redirections do not leak)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP_PREFIXES) or k in _KEEP}
    env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    return env


def git_pinned(git_dir: Path, *args: str, index: Path | None = None, input: bytes | None = None,
               check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """Run `git <args>` against the host-pinned git dir; cwd is the git dir, never a worktree."""
    return _run([git_exe(), *SAFE_FLAGS, *args], env=pinned_env(git_dir, index=index), cwd=git_dir,
                input=input, check=check)


def git_trusted(repo: Path, *args: str, input: bytes | None = None, check: bool = True,
                flags: tuple[str, ...] = (), env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run git in the user's own (trusted) repository, hooks off; `flags` go before the subcommand."""
    repo = Path(repo).resolve()
    return _run([git_exe(), "-c", "core.hooksPath=/dev/null", *flags, "-C", str(repo), *args],
                env={**trusted_env(), **(env or {})}, cwd=repo, input=input, check=check)


def _run(cmd: list[str], *, env, cwd, input, check) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, input=input, capture_output=True, check=False,
                              timeout=GIT_TIMEOUT_S, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise WorktreeError(f"git timed out: {' '.join(cmd[:6])} ...") from exc
    except OSError as exc:
        raise WorktreeError(f"cannot run git: {exc}") from exc
    if check and proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise WorktreeError(f"git {_name(cmd)} failed ({proc.returncode}): {' | '.join(tail)}")
    return proc


def _name(cmd: list[str]) -> str:
    skip = False
    for part in cmd[1:]:
        if skip:
            skip = False
            continue
        if part in ("-c", "-C"):
            skip = True
            continue
        if not part.startswith("-"):
            return part
    return "?"


def common_git_dir(repo: Path) -> Path:
    """The repository's common git dir (shared by all its worktrees), asked of the user's own repo."""
    out = git_trusted(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout
    return Path(out.decode().strip()).resolve()


def ls_tree(git_dir: Path, treeish: str) -> dict[str, tuple[str, str]]:
    """Every entry of a commit's tree, recursively: path -> (mode, oid)."""
    out = git_pinned(git_dir, "ls-tree", "-r", "-z", "--full-tree", treeish).stdout
    entries: dict[str, tuple[str, str]] = {}
    for rec in out.split(b"\0"):
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        mode, _type, oid = meta.decode().split(" ")
        entries[path.decode("utf-8", "surrogateescape")] = (mode, oid)
    return entries


def iter_blobs(git_dir: Path, oids: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """Stream blob contents in the order asked, through one `git cat-file --batch`."""
    wanted = list(oids)
    if not wanted:
        return
    proc = subprocess.Popen([git_exe(), *SAFE_FLAGS, "cat-file", "--batch"], env=pinned_env(git_dir), cwd=git_dir,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def feed() -> None:  # a thread, so a full stdout pipe never deadlocks against our writes
        try:
            for oid in wanted:
                proc.stdin.write(oid.encode() + b"\n")
            proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        for oid in wanted:
            header = proc.stdout.readline().split()
            if len(header) != 3:
                raise WorktreeError(f"object {oid} missing from the repository")
            size = int(header[2])
            data = proc.stdout.read(size)
            proc.stdout.read(1)
            yield oid, data
    finally:
        proc.kill() if proc.poll() is None else None
        proc.stdout.close()
        proc.wait()
        writer.join(timeout=5)


def hash_files(git_dir: Path, paths: list[Path]) -> list[str]:
    """Write host-private files as blobs (no filters) and return their ids, in order."""
    if not paths:
        return []
    data = b"".join(os.fsencode(p) + b"\n" for p in paths)
    out = git_pinned(git_dir, "hash-object", "-w", "--no-filters", "--stdin-paths", input=data).stdout
    oids = out.decode().split()
    if len(oids) != len(paths):
        raise WorktreeError("git hash-object returned the wrong number of ids")
    return oids
