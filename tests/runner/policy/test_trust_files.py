"""security.trust on real diffs in temp repos: repository-shaped directories, `.git`/`gitdir:` files, tool-trust files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from runner.errors import InvalidInput, PolicyViolation
from runner.policy import Override, evaluate_changes
from runner.config.policy import TRUST_FILE
from runner.policy.gitchanges import staged_changeset
from runner.policy.trust import path_hits, repository_dirs
from sandbox.changeset import ChangeSet, FileChange
from tests.runner.policy.policy_support import check_staged, git, write

# The shape of the reported attack: a bare repository whose config runs a program on `git status`.
BARE = {
    "evil/HEAD": "ref: refs/heads/main\n",
    "evil/config": "[core]\n\tbare = false\n\tworktree = ..\n\tfsmonitor = \"sh -c 'touch /tmp/pwned'\"\n",
    "evil/objects/info/packs": "\n",
    "evil/refs/heads/main": "0" * 40 + "\n",
}
# One sample per policies/trust.yaml entry (a new entry without a sample fails the test below).
SAMPLES = {
    "git-lfs": (".lfsconfig", "[lfs]\n\turl = https://lfs.example.invalid/repo\n"),
    "git-attributes-driver": (".gitattributes", "* text=auto\n*.dat filter=crypt\n"),
    "git-submodules": (".gitmodules", '[submodule "x"]\n\tpath = x\n\turl = https://example.invalid/x.git\n'),
    "git-config-include": ("tools/.gitconfig", "[core]\n\tpager = less\n"),
    "git-hooks": (".husky/pre-commit", "npm test\n"),
    "env-loader": (".envrc", "use flake\n"),
    "shell-rc": ("dotfiles/.zshrc", "alias ll='ls -l'\n"),
    "vscode-tasks": (".vscode/tasks.json", '{"version": "2.0.0", "tasks": []}\n'),
    "vscode-settings": (".vscode/settings.json", '{\n  "editor.formatOnSave": true,\n  "python.defaultInterpreterPath": "./t/py"\n}\n'),
    "jetbrains-run": (".idea/runConfigurations/App.xml", "<component name=\"ProjectRunConfigurationManager\"/>\n"),
    "editor-local-config": (".nvim.lua", "vim.cmd('echo 1')\n"),
    "devcontainer": (".devcontainer/devcontainer.json", '{"initializeCommand": "id"}\n'),
    "coding-agent": (".claude/settings.json", '{"hooks": {}}\n'),
    "repl-startup": (".pdbrc", "import os\n"),
    "package-registry": ("web/.yarnrc.yml", "yarnPath: .yarn/releases/yarn.cjs\n"),
    "package-manager-code": (".pnpmfile.cjs", "module.exports = {}\n"),
    "python-env": ("pyvenv.cfg", "home = /usr/bin\n"),
    "build-bootstrap": (".cargo/config.toml", '[build]\nrustc-wrapper = "./w.sh"\n'),
    "rust-toolchain-path": ("rust-toolchain.toml", '[toolchain]\npath = "/opt/toolchain"\n'),
    "gradle-jvm": ("gradle.properties", "version=1.0\norg.gradle.jvmargs=-javaagent:agent.jar\n"),
}
# Look-alikes that must pass: names git and the tools would not act on.
BENIGN = {
    "docs/refs/index.md": "# refs\n",  # a directory named refs/
    "docs/HEAD": "Head of documentation\n",  # a HEAD file without objects/ and refs/
    "notes/HEAD": "the head of the list\n",  # HEAD, objects/ and refs/, but HEAD is no ref
    "notes/objects/a.md": "x\n",
    "notes/refs/b.md": "y\n",
    "config/config": "[core]\nfsmonitor = true\n",  # an app's config/ (no HEAD beside it)
    "config/settings.yaml": "debug: false\n",
    "web/src/hooks/useCounter.ts": "export const useCounter = () => 0;\n",  # React hooks
    ".vscode/extensions.json": '{"recommendations": ["ms-python.python"]}\n',
    ".vscode/settings.json": '{"editor.formatOnSave": true, "python.analysis.extraPaths": ["src"]}\n',
    ".gitattributes": "* text=auto\n*.py diff=python\n*.png binary\n",
    "rust-toolchain.toml": '[toolchain]\nchannel = "1.80"\n',
    "gradle.properties": "version=1.0\n",
    "src/pre-commit.md": "how we review\n",
    "husky.md": "a dog\n",
}


def trust(report):
    return [f for f in report.findings if f.check == "security.trust"]


def by_rule(report, rule):
    return {f.file for f in trust(report) if f.rule == rule}


def hash_object(repo: Path, data: bytes) -> str:
    return subprocess.run(["git", "-C", str(repo), "hash-object", "-w", "--stdin"], input=data, check=True,
                          capture_output=True).stdout.decode().strip()  # fmt: skip


def added(repo: Path, path: str, data: bytes) -> ChangeSet:
    """A change set git's own commands refuse to build (a `.git` path): real blobs, a hand-made file list."""
    head = git(repo, "rev-parse", "HEAD")
    change = FileChange(path=path, status="added", new_blob=hash_object(repo, data), new_mode="100644",
                        lines_added=data.count(b"\n"), size=len(data))  # fmt: skip
    return ChangeSet(base_commit=head, tree=git(repo, "rev-parse", "HEAD^{tree}"), files=[change])


def test_bare_repository_shaped_directory_is_blocked_naming_it(repo):
    report = check_staged(repo, BARE)
    shaped = [f for f in trust(report) if f.rule == "trust.repository-shaped"]
    assert [f.file for f in shaped] == ["evil"] and shaped[0].blocking
    assert "evil/ is shaped like a git repository" in shaped[0].message and "git status" in shaped[0].message
    config = [f for f in trust(report) if f.rule == "trust.repository-config"]
    assert [(f.file, f.line) for f in config] == [("evil/config", 3)]
    assert "core.worktree" in config[0].message and "core.fsmonitor" in config[0].message
    assert report.decision == "block" and report.gates["security.trust"] == "block"
    assert report.gates["security"] == "block"


def test_the_shape_is_gits_own_rule(repo, tmp_path):
    """Every layout git's discovery opens is reported; layouts it does not open are not (checked against git)."""
    layouts = {
        "symref": {"HEAD": "ref: refs/heads/main\n", "objects/x": "", "refs/x": ""},
        "detached": {"HEAD": "a" * 40 + "\n", "objects/x": "", "refs/x": ""},
        "spaced": {"HEAD": "ref:\t refs/heads/x\n", "objects/x": "", "refs/x": ""},
        "commondir": {"HEAD": "ref: refs/heads/main\n", "commondir": "../symref\n"},
        "exec-objects": {"HEAD": "ref: refs/heads/main\n", "objects": "#!/bin/sh\n", "refs/x": ""},
        "link-head": {"objects/x": "", "refs/x": ""},
        "no-ref": {"HEAD": "main\n", "objects/x": "", "refs/x": ""},
        "short-oid": {"HEAD": "abc123\n", "objects/x": "", "refs/x": ""},
        "no-objects": {"HEAD": "ref: refs/heads/main\n", "refs/x": ""},
        "plain-objects": {"HEAD": "ref: refs/heads/main\n", "objects": "x\n", "refs/x": ""},
        "head-dir": {"HEAD/x": "ref: refs/heads/main\n", "objects/x": "", "refs/x": ""},
    }
    files = {f"l/{name}/{rel}": text for name, layout in layouts.items() for rel, text in layout.items()}
    write(repo, files)
    os.chmod(repo / "l/exec-objects/objects", 0o755)
    os.symlink("refs/heads/main", repo / "l/link-head/HEAD")
    git(repo, "add", "-A")
    found = {d.path.removeprefix("l/") for d in repository_dirs(repo, staged_changeset(repo))}
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(repo / "l")}
    for name in layouts:  # no config here runs anything: only discovery is asked
        opened = subprocess.run(["git", "rev-parse", "--git-dir"], check=False, cwd=repo / "l" / name, env=env,
                                capture_output=True, text=True).returncode == 0  # fmt: skip
        assert (name in found) == opened, (name, opened)
    assert found == {"symref", "detached", "spaced", "commondir", "exec-objects", "link-head"}


def test_dot_git_anywhere_is_blocked(repo):
    for path in ("vendor/lib/.git", "vendor/lib/.GIT"):
        report = evaluate_changes(repo, added(repo, path, b"gitdir: /home/user/other/.git\n"))
        assert by_rule(report, "trust.gitdir") == {path} and report.decision == "block"


def test_gitdir_link_file_is_blocked(repo):
    report = check_staged(repo, {"vendor/lib/link": "gitdir: ../../.git/modules/lib\n"})
    (f,) = trust(report)
    assert (f.rule, f.file, f.blocking) == ("trust.gitdir", "vendor/lib/link", True)
    assert "gitdir:" in f.message


def test_every_table_entry_has_a_sample():
    ids = [t["id"] for t in yaml.safe_load(TRUST_FILE.read_text())["tool_files"]]
    assert sorted(ids) == sorted(SAMPLES) and len(set(ids)) == len(ids)


@pytest.mark.parametrize("entry", sorted(SAMPLES))
def test_each_tool_trust_class_is_blocked(repo, entry):
    path, text = SAMPLES[entry]
    report = check_staged(repo, {path: text})
    (f,) = [f for f in trust(report) if f.rule == "trust.tool-config"]
    assert f.file == path and f.blocking and f"[{entry}:" in f.message
    assert report.decision == "block" and report.gates["security.trust"] == "block"


def test_line_rules_point_at_the_added_line(repo):
    report = check_staged(repo, {".gitattributes": SAMPLES["git-attributes-driver"][1],
                                 ".vscode/settings.json": SAMPLES["vscode-settings"][1]})  # fmt: skip
    assert {(f.file, f.line) for f in trust(report)} == {(".gitattributes", 2), (".vscode/settings.json", 3)}


def test_only_added_lines_count(repo):
    write(repo, {".gitattributes": "*.dat filter=crypt\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the user's own driver")
    report = check_staged(repo, {".gitattributes": "*.dat filter=crypt\n*.md text\n"})
    assert trust(report) == [] and report.gates["security.trust"] == "pass"


def test_case_insensitive_names(repo):
    report = check_staged(repo, {".VSCode/Tasks.json": "{}\n", "sub/.EnvRC": "x\n"})
    assert by_rule(report, "trust.tool-config") == {".VSCode/Tasks.json", "sub/.EnvRC"}


def test_benign_look_alikes_pass(repo):
    report = check_staged(repo, BENIGN)
    assert trust(report) == [], [(f.rule, f.file) for f in trust(report)]
    assert report.gates["security.trust"] == "pass" and report.decision == "pass", report.findings


def test_a_task_target_is_allowed_with_a_warning(repo):
    report = check_staged(repo, {".envrc": "use flake\n"}, target_files=[".envrc"])
    (f,) = trust(report)
    assert not f.blocking and f.severity == "warning" and "the task targets this path" in f.message
    assert report.decision == "warn" and report.gates["security.trust"] == "warn"
    fixture = {f"tests/fixtures/{k}": v for k, v in BARE.items()}
    report = check_staged(repo, fixture, target_files=["tests/fixtures/", ".envrc"])
    assert by_rule(report, "trust.repository-shaped") == {"tests/fixtures/evil"}
    assert not any(f.blocking for f in trust(report)) and report.decision == "warn"


def test_a_human_override_passes_it(repo):
    overrides = [Override(rule="trust.repository-shaped:evil", reason="a fixture we want", by="Ann"),
                 Override(rule="trust.repository-config:evil/config", reason="same", by="Ann")]  # fmt: skip
    report = check_staged(repo, BARE, overrides=overrides, actor="human")
    assert report.decision == "warn" and all(f.overridden for f in trust(report))
    assert [o["matched"] for o in report.overrides] == [["evil:-"], ["evil/config:3"]]
    with pytest.raises(PolicyViolation, match="never override"):
        evaluate_changes(repo, staged_changeset(repo), overrides=overrides)


def test_a_repository_fixture_already_in_the_base(repo):
    """Editing inside a committed fixture is a note; adding a program to its config still blocks."""
    fixture = {k: v for k, v in BARE.items() if k != "evil/config"} | {"evil/config": "[core]\n\tbare = true\n"}
    write(repo, fixture)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "fixture")
    report = check_staged(repo, {"evil/refs/heads/dev": "1" * 40 + "\n"})
    (f,) = trust(report)
    assert f.rule == "trust.repository-shaped" and f.pre_existing and not f.blocking
    assert report.decision == "pass"
    report = check_staged(repo, {"evil/config": "[core]\n\tbare = true\n[core]\n\tpager = sh -c id\n"})
    assert [(f.rule, f.file, f.line, f.blocking) for f in trust(report) if not f.pre_existing] == [
        ("trust.repository-config", "evil/config", 4, True)]


def test_deleting_a_trust_file_passes(repo):
    write(repo, {".envrc": "use flake\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "envrc")
    (repo / ".envrc").unlink()
    git(repo, "add", "-A")
    report = evaluate_changes(repo, staged_changeset(repo))
    assert trust(report) == []


def test_config_disables_entries_adds_a_table_or_turns_it_off(repo):
    write(repo, {"policy/trust-extra.yaml": "tool_files:\n  - id: tilt\n    paths: [Tiltfile]\n    why: tilt up runs it\n"})
    files = {".envrc": "use flake\n", "Tiltfile": "local('id')\n"}
    config = {"security": {"trust": {"disabled": ["env-loader"], "table": "policy/trust-extra.yaml"}}}
    report = check_staged(repo, files, config=config)
    assert by_rule(report, "trust.tool-config") == {"Tiltfile"}
    report = check_staged(repo, files, config={"security": {"trust": {"enabled": False}}})
    assert trust(report) == [] and report.gates["security.trust"] == "skipped"
    report = check_staged(repo, files, config={"security": {"trust": {"blocking": False}}})
    assert trust(report) and not any(f.blocking for f in trust(report)) and report.decision == "warn"


def test_a_bad_extra_table_is_one_line(repo):
    write(repo, {"bad.yaml": "tool_files:\n  - id: x\n    paths: [a]\n    why: y\n    lines: '('\n"})
    with pytest.raises(InvalidInput, match="tool-trust table .*bad.yaml.*regex"):
        check_staged(repo, {"a": "1\n"}, config={"security": {"trust": {"table": "bad.yaml"}}})


@pytest.mark.parametrize(("path", "pattern", "hit"), [
    (".husky/pre-commit", ".husky/", True), ("web/.husky/_/h", ".husky/", True), (".husky", ".husky/", False),
    ("docs/husky.md", ".husky/", False), ("a/.vscode/tasks.json", ".vscode/tasks.json", True),
    ("tasks.json", ".vscode/tasks.json", False), ("x.code-workspace", "*.code-workspace", True),
    ("a/.cargo/config", "/.cargo/config", False), (".cargo/config", "/.cargo/config", True),
])  # fmt: skip
def test_path_patterns(path, pattern, hit):
    assert path_hits(path, pattern) is hit
