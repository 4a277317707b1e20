"""security.trust: what a change adds that git or another tool would open, run or trust on entry.

A merged tree is entered by shells whose prompt runs `git status`, opened by editors and used by
package managers; none of them asks who wrote these files. Four rules:

- trust.repository-shaped: a directory git's discovery would open as a repository (its rule in
  setup.c, `is_git_directory`: a HEAD that is a ref, and objects/ + refs/ or a commondir file). A git
  command run inside it obeys that directory's config and hooks instead of the user's repository.
- trust.repository-config: keys in such a directory's `config` that run a program or move the work tree.
- trust.gitdir: a `.git` entry (or an alias of one) anywhere, or a file whose content is a `gitdir:` link.
- trust.tool-config: a path of policies/trust.yaml (direnv, hook managers, editor tasks, registries...).

A path the task targets is allowed and reported as a warning; a human can override a block as usual.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from runner.errors import InvalidInput
from runner.policy.blobs import StagedFile, added_line_numbers, read_blobs
from runner.config.policy import TRUST_FILE, ToolFile, TrustPolicy
from runner.policy.models import Finding
from runner.policy.safety import in_targets
from sandbox.changeset import ChangeSet, FileChange
from sandbox.tree.pathnames import is_dotgit

CHECK = "security.trust"
TREE, LINK, GITLINK, PLAIN = "040000", "120000", "160000", "100644"

# Git config keys that run a program, or point git at another work tree, hook directory or config file.
RISKY_GIT_KEYS = (
    "core.fsmonitor", "core.worktree", "core.hookspath", "core.sshcommand", "core.pager", "core.editor",
    "core.askpass", "core.gitproxy", "core.alternaterefscommand", "core.attributesfile", "sequence.editor",
    "diff.external", "diff.*.command", "diff.*.textconv", "merge.*.driver", "filter.*.clean", "filter.*.smudge",
    "filter.*.process", "include.path", "includeif.*.path", "credential.helper", "credential.*.helper",
    "gpg.program", "gpg.*.program", "uploadpack.packobjectshook", "remote.*.uploadpack", "remote.*.receivepack",
    "pager.*", "hook.*.command", "difftool.*.cmd", "mergetool.*.cmd", "browser.*.cmd", "man.*.cmd", "web.browser",
)  # fmt: skip
_SECTION = re.compile(r'^\s*\[\s*([^\]\s"]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\](.*)$')
_KEY = re.compile(r"^\s*([A-Za-z][A-Za-z0-9-]*)\s*(?:=|[#;]|$)")
_OID = re.compile(rb"[0-9a-fA-F]{40}")

Listing = dict[str, tuple[str, str]]  # entry name -> (mode, object id)


@lru_cache(maxsize=8)
def _tables(extra: str | None, stamp: float) -> tuple[ToolFile, ...]:
    import yaml
    from pydantic import ValidationError

    out: list[ToolFile] = []
    for path in [TRUST_FILE, Path(extra) if extra else None]:
        if path is None or not path.is_file():
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            out += [ToolFile.model_validate(item) for item in data.get("tool_files") or []]
        except (yaml.YAMLError, ValidationError, AttributeError) as exc:
            raise InvalidInput(f"tool-trust table {path}: {' '.join(str(exc).split())[:300]}") from None
    return tuple(out)


def load_tool_files(repo: Path, policy: TrustPolicy) -> list[ToolFile]:
    """policies/trust.yaml plus the repo's extra table, without the disabled ids."""
    extra = (Path(repo) / policy.table) if policy.table else None
    stamp = extra.stat().st_mtime if extra and extra.is_file() else 0.0
    return [t for t in _tables(str(extra) if extra else None, stamp) if t.id not in policy.disabled]


def path_hits(path: str, pattern: str) -> bool:
    """A trust.yaml pattern against a repo path: see the header of policies/trust.yaml."""
    parts = path.casefold().split("/")
    pat = pattern.strip().casefold()
    anchored, under = pat.startswith("/"), pat.endswith("/")
    want = [p for p in pat.strip("/").split("/") if p]
    if not want:
        return False
    # `dir/` needs something below the directory; a plain pattern must end the path
    starts = range(len(parts) - len(want)) if under else [len(parts) - len(want)]
    return any(i >= 0 and (i == 0 or not anchored) and
               all(fnmatch.fnmatchcase(parts[i + j], w) for j, w in enumerate(want)) for i in starts)  # fmt: skip


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return [""] + ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _parse_tree(data: bytes, hash_len: int) -> Listing:
    out: Listing = {}
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        name = data[space + 1 : nul].decode("utf-8", errors="surrogateescape")
        out[name] = (data[pos:space].decode().zfill(6), data[nul + 1 : nul + 1 + hash_len].hex())
        pos = nul + 1 + hash_len
    return out


def _listings(repo: Path, tree: str | None, dirs: set[str]) -> dict[str, Listing]:
    """The entries of each of `dirs` (closed under parents) in `tree`, one object-DB read per depth."""
    if not tree or not dirs:
        return {}
    hash_len, ids, out = len(tree) // 2, {"": tree}, {}
    for depth in range(max((d.count("/") + 1 if d else 0) for d in dirs) + 1):
        level = [d for d in dirs if (d.count("/") + 1 if d else 0) == depth and d in ids]
        if not level:
            break
        data = read_blobs(repo, [ids[d] for d in level])
        for d in level:
            out[d] = _parse_tree(data[ids[d]], hash_len)
            for name, (mode, oid) in out[d].items():
                child = f"{d}/{name}" if d else name
                if mode == TREE and child in dirs:
                    ids[child] = oid
    return out


def _tree_of(repo: Path, rev: str) -> str | None:
    """The tree of a base commit (or a base that is itself a tree, such as the empty tree)."""
    if not rev:
        return None
    data = read_blobs(repo, [rev])[rev]
    return data[5:data.index(b"\n")].decode() if data.startswith(b"tree ") else rev


def _overlay(listings: dict[str, Listing], files: list[FileChange]) -> dict[str, Listing]:
    """Listings with the change applied (a path-mode change set's tree does not hold its files)."""
    out = {d: dict(entries) for d, entries in listings.items()}
    for f in files:
        for d in _ancestors(f.path)[1:]:
            out.setdefault(_parent(d), {}).setdefault(PurePosixPath(d).name, (TREE, ""))
        entries = out.setdefault(_parent(f.path), {})
        if f.status == "deleted":
            entries.pop(PurePosixPath(f.path).name, None)
        else:
            entries[PurePosixPath(f.path).name] = (f.new_mode or PLAIN, f.new_blob or "")
    return out


def _candidate(entries: Listing) -> tuple[tuple[str, str], str] | None:
    """(HEAD entry, what else makes it a git dir) when only HEAD's content is left to check."""
    names = {n.casefold(): v for n, v in entries.items()}  # a case-insensitive filesystem opens `head` as HEAD
    head = names.get("head")
    if head is None or head[0] in (TREE, GITLINK):
        return None
    if "commondir" in names and names["commondir"][0] != TREE:
        return head, "HEAD names a ref and a commondir file points git at objects/ and refs/ elsewhere"
    if all(n in names and names[n][0] != PLAIN for n in ("objects", "refs")):
        hooks = " and a hooks/ directory" if names.get("hooks", ("",))[0] == TREE else ""
        return head, f"HEAD names a ref, with objects/ and refs/{hooks}"
    return None


def valid_head(mode: str, data: bytes) -> bool:
    """git's validate_headref: a symlink into refs/, `ref: refs/...`, or an object id."""
    if mode == LINK:
        return data.startswith(b"refs/")
    data = data[:255]
    if data.startswith(b"ref:"):
        return data[4:].lstrip(b" \t\n\r\v\f").startswith(b"refs/")
    return _OID.match(data) is not None


def risky_config_keys(text: str) -> list[tuple[str, int]]:
    """(section.key, line) of every git config key in RISKY_GIT_KEYS."""
    found, section = [], ""
    for number, line in enumerate(text.splitlines(), start=1):
        m = _SECTION.match(line)
        if m:
            name, sub, line = m.groups()
            section = name.lower() + (f".{sub.lower()}" if sub is not None else "")
        k = _KEY.match(line)
        if k and section:
            key = f"{section}.{k.group(1).lower()}"
            if any(fnmatch.fnmatchcase(key, p) for p in RISKY_GIT_KEYS):
                found.append((key, number))
    return found


@dataclass(frozen=True)
class RepoDir:
    """A directory of the new tree that git's discovery would open as a repository."""

    path: str
    why: str
    entries: Listing
    pre_existing: bool  # it already was one at the base commit


def repository_dirs(repo: Path, changes: ChangeSet) -> list[RepoDir]:
    """Every directory holding a changed path that git would open as a repository after the change."""
    dirs = {a for f in changes.files for a in _ancestors(f.path)}
    new = _overlay(_listings(repo, changes.tree, dirs), changes.files)
    shaped = {d: c for d in sorted(dirs) if d in new and (c := _candidate(new[d]))}
    if not shaped:
        return []
    base = _listings(repo, _tree_of(repo, changes.base_commit), {a for d in shaped for a in [*_ancestors(d), d]})
    before = {d: c for d in shaped if d in base and (c := _candidate(base[d]))}
    heads = read_blobs(repo, [head[1] for head, _ in [*shaped.values(), *before.values()] if head[1]])

    def opens(candidate: tuple[tuple[str, str], str] | None) -> bool:
        return candidate is not None and valid_head(candidate[0][0], heads.get(candidate[0][1], b""))

    return [RepoDir(d, c[1], new[d], opens(before.get(d))) for d, c in shaped.items() if opens(c)]


class _Findings:
    """Findings of this check: blocking unless the task targets the path or it was there before."""

    def __init__(self, policy: TrustPolicy, target_files: list[str] | None):
        self.policy, self.targets = policy, target_files or []
        self.items: list[Finding] = []

    def add(self, rule: str, path: str, message: str, line: int | None = None, pre: bool = False) -> None:
        targeted = bool(self.targets) and (in_targets(path, self.targets) or in_targets(path + "/", self.targets))
        block = self.policy.blocking and not targeted and not pre
        note = "; allowed: the task targets this path" if targeted else ""
        self.items.append(Finding(gate="security", check=CHECK, rule=rule, file=path, line=line, pre_existing=pre,
                                  severity="error" if block else "warning", blocking=block, message=message + note))  # fmt: skip


def _repository_findings(repo: Path, changes: ChangeSet, staged: dict[str, StagedFile], out: _Findings) -> None:
    for rd in repository_dirs(repo, changes):
        where = rd.path or "."
        out.add("trust.repository-shaped", where, f"{where}/ is shaped like a git repository ({rd.why}): a git "
                "command run inside it, such as a shell prompt's `git status`, opens it as one and runs what its "
                "config and hooks name" + (" (it already was before this change)" if rd.pre_existing else ""),
                pre=rd.pre_existing)  # fmt: skip
        name, oid = next(((n, v[1]) for n, v in rd.entries.items() if n.casefold() == "config" and v[0] != TREE),
                         ("", ""))  # fmt: skip
        if not name:
            continue
        path = f"{rd.path}/{name}" if rd.path else name
        f = staged.get(path)
        data = f.new if f else read_blobs(repo, [oid]).get(oid, b"") if oid else b""
        # a directory that only now became a repository makes its whole config count
        fresh = added_line_numbers(f.old if f else data, data) if rd.pre_existing else None
        keys = [(k, n) for k, n in risky_config_keys(data.decode("utf-8", errors="replace"))
                if fresh is None or n in fresh]  # fmt: skip
        if keys:
            out.add("trust.repository-config", path, f"the config of repository-shaped {where}/ sets "
                    f"{', '.join(k for k, _ in keys)}: git runs these programs, or works on the tree they name, "
                    "for a command run inside it", keys[0][1])  # fmt: skip


def _added_match(f: StagedFile | None, regex: str) -> int | None:
    """The first added line matching `regex`; 0 when the file cannot be read as lines (binary), so it counts."""
    if f is None:
        return None  # nothing readable was added (a gitlink)
    if f.binary:
        return 0
    rx, text = re.compile(regex), f.text.splitlines()
    return next((n for n in sorted(f.added_lines) if n <= len(text) and rx.search(text[n - 1])), None)


def _path_findings(repo: Path, changes: ChangeSet, staged: dict[str, StagedFile], policy: TrustPolicy,
                   out: _Findings) -> None:  # fmt: skip
    table = load_tool_files(repo, policy)
    for change in changes.files:
        if change.status == "deleted":
            continue
        path, f = change.path, staged.get(change.path)
        if any(is_dotgit(part) for part in path.split("/")):
            out.add("trust.gitdir", path, "a `.git` entry: git takes it as the repository of the directory holding it")
            continue
        if f is not None and f.new.lstrip()[:7].lower() == b"gitdir:":
            out.add("trust.gitdir", path, "a `gitdir:` link: named `.git`, it points git at another repository", 1)
            continue
        for entry in table:
            hit = next((p for p in entry.paths if path_hits(path, p)), None)
            line = _added_match(f, entry.lines) if hit and entry.lines else None
            if hit and (line is not None or not entry.lines):
                out.add("trust.tool-config", path, f"{entry.why} [{entry.id}: {hit}]", line or None)
                break


def trust_findings(repo: Path, changes: ChangeSet, files: list[StagedFile], policy: TrustPolicy,
                   target_files: list[str] | None) -> list[Finding]:  # fmt: skip
    """Every repository-shaped directory, `.git`/`gitdir:` file and tool-trust file the change adds or edits."""
    if not policy.enabled:
        return []
    staged = {f.path: f for f in files}
    out = _Findings(policy, target_files)
    _repository_findings(repo, changes, staged, out)
    _path_findings(repo, changes, staged, policy, out)
    return out.items
