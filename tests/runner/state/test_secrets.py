"""The encrypted secret store and its CLI."""

from __future__ import annotations

import json
import os
import stat

import pytest

from runner.cli.main import main
from runner.errors import InvalidInput
from runner.state.secrets import SecretStore, default_path, open_store, redact

FAKE = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"  # obviously fake, realistic in shape


def test_roundtrip_and_file_holds_no_plaintext(tmp_path):
    path = tmp_path / "secrets.enc"
    store = SecretStore(path, "correct horse")
    store.set("STRIPE_KEY", FAKE)
    store.set("DB_URL", "postgres://u:p@db/app")
    assert FAKE not in path.read_text() and "STRIPE_KEY" not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = SecretStore(path, "correct horse")
    assert again.names() == ["DB_URL", "STRIPE_KEY"]
    assert again.subset(["STRIPE_KEY"]) == {"STRIPE_KEY": FAKE}
    again.remove("DB_URL")
    assert SecretStore(path, "correct horse").names() == ["STRIPE_KEY"]
    assert FAKE not in repr(again)


def test_wrong_password_and_tamper_are_one_clear_error(tmp_path):
    path = tmp_path / "secrets.enc"
    SecretStore(path, "right").set("A_KEY", FAKE)
    with pytest.raises(InvalidInput, match="wrong master password"):
        SecretStore(path, "wrong")
    doc = json.loads(path.read_text())
    doc["token"] = doc["token"][:-6] + ("A" if doc["token"][-6] != "A" else "B") + doc["token"][-5:]
    path.write_text(json.dumps(doc))
    with pytest.raises(InvalidInput):
        SecretStore(path, "right")


def test_bad_names_and_missing_secret(tmp_path):
    store = SecretStore(tmp_path / "s.enc", "pw")
    with pytest.raises(InvalidInput):
        store.set("bad-name", "x")
    with pytest.raises(InvalidInput, match="no secret named NOPE"):
        store.subset(["NOPE"])


def test_redact():
    assert redact(f"token={FAKE} end", [FAKE]) == "token=*** end"


def test_cli_set_list_rm_never_prints_values(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    monkeypatch.setenv("CODEX_MASTER_PASSWORD", "pw-for-tests")
    monkeypatch.setattr("sys.stdin", _Stdin(FAKE + "\n"))
    assert main(["secrets", "set", "API_TOKEN", "--value-stdin"]) == 0
    assert main(["--json", "secrets", "list"]) == 0
    out, err = capsys.readouterr()
    assert FAKE not in out + err
    assert json.loads(out)["secrets"] == ["API_TOKEN"]
    assert open_store(repo).get("API_TOKEN") == FAKE
    assert default_path(repo).is_file()
    assert main(["secrets", "rm", "API_TOKEN"]) == 0
    assert open_store(repo).names() == []
    monkeypatch.setenv("CODEX_MASTER_PASSWORD", "not-it")
    monkeypatch.setattr("sys.stdin", _Stdin("v\n"))
    assert main(["secrets", "set", "OTHER", "--value-stdin"]) == 2
    assert "wrong master password" in capsys.readouterr().err


def test_cli_without_password_or_terminal_exits_2(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    monkeypatch.setattr("sys.stdin", _Stdin(""))
    assert main(["secrets", "list"]) == 2
    assert "CODEX_MASTER_PASSWORD" in capsys.readouterr().err
    assert not os.path.exists(default_path(repo))


class _Stdin:
    def __init__(self, text):
        self._text = text

    def read(self):
        return self._text

    def isatty(self):
        return False
