"""`.gitignore` rules taken from the BASE commit's objects (never from the hostile tree), applied in Python."""

from __future__ import annotations

from pathlib import Path

from sandbox.git.plumbing import iter_blobs


class IgnoreRules:
    """Git's precedence: a deeper `.gitignore` wins over a shallower one, `info/exclude` comes last."""

    def __init__(self, specs: dict[str, object], exclude: object | None = None):
        self.specs = specs
        self.exclude = exclude

    @classmethod
    def from_base(cls, git_dir: Path, base: dict[str, tuple[str, str]]) -> IgnoreRules:
        import pathspec

        files = {p: oid for p, (mode, oid) in base.items()
                 if (p == ".gitignore" or p.endswith("/.gitignore")) and mode in ("100644", "100755")}
        by_oid: dict[str, list[str]] = {}
        for p, oid in files.items():
            by_oid.setdefault(oid, []).append(p)
        specs: dict[str, object] = {}
        for oid, data in iter_blobs(git_dir, by_oid):
            lines = data.decode("utf-8", "replace").splitlines()
            for p in by_oid[oid]:
                specs[p.rpartition("/")[0]] = pathspec.GitIgnoreSpec.from_lines(lines)
        exclude = None
        info = git_dir / "info" / "exclude"  # the host's own repository file: trusted
        if info.is_file():
            exclude = pathspec.GitIgnoreSpec.from_lines(info.read_text(errors="replace").splitlines())
        return cls(specs, exclude)

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """True if git would ignore this untracked path (its parent directories are not ignored)."""
        parts = rel.split("/")
        suffix = "/" if is_dir else ""
        for i in range(len(parts) - 1, -1, -1):
            spec = self.specs.get("/".join(parts[:i]))
            if spec is None:
                continue
            verdict = spec.check_file("/".join(parts[i:]) + suffix).include
            if verdict is not None:
                return verdict
        if self.exclude is not None:
            return bool(self.exclude.check_file(rel + suffix).include)
        return False
