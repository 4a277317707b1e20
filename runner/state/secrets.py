"""The local encrypted secret store: Fernet (AES-128-CBC + HMAC) under a scrypt-derived key.

Values never leave this module except through `get`/`subset`, which the deploy step calls
for the names it declares; nothing here logs or prints a value.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

from runner.errors import InvalidInput

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
PASSWORD_ENV = "CODEX_MASTER_PASSWORD"
# scrypt cost: ~50 ms here; stored in the file so it can be raised later without breaking old files.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


def _atomic_write(path: Path, text: str, mode: int) -> None:
    """Temp file in the same directory (created with `mode`), fsync, rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def default_path(root: Path) -> Path:
    return Path(root) / ".codex" / "secrets.enc"


def check_name(name: str) -> str:
    """Secret names are env var names (they are injected as such)."""
    if not NAME_RE.match(name or ""):
        raise InvalidInput(f"invalid secret name {name!r}: use letters, digits and _ (an env var name)")
    return name


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    key = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode("utf-8"))
    return base64.urlsafe_b64encode(key)


class SecretStore:
    """An encrypted name → value map in one file; every write is atomic (temp file + rename)."""

    def __init__(self, path: Path, password: str):
        if not password:
            raise InvalidInput("empty master password")
        self.path = Path(path)
        self._password = password
        self._salt: bytes | None = None
        self._values: dict[str, str] = self._load()

    def __repr__(self) -> str:  # never show values
        return f"SecretStore({str(self.path)!r}, names={self.names()})"

    def _load(self) -> dict[str, str]:
        from cryptography.fernet import Fernet, InvalidToken

        if not self.path.exists():
            return {}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            salt = base64.b64decode(doc["salt"])
            kdf = doc["kdf"]
            token = doc["token"].encode()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"secret store {self.path} is not readable: {type(exc).__name__}") from None
        key = _derive(self._password, salt, kdf["n"], kdf["r"], kdf["p"])
        try:
            plain = Fernet(key).decrypt(token)
        except InvalidToken:
            raise InvalidInput(
                f"wrong master password for {self.path} (or the file was tampered with)"
            ) from None
        self._salt = salt
        return json.loads(plain)

    def _save(self) -> None:
        from cryptography.fernet import Fernet

        salt = self._salt or os.urandom(16)
        self._salt = salt
        key = _derive(self._password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        token = Fernet(key).encrypt(json.dumps(self._values, sort_keys=True).encode())
        doc = {
            "version": 1,
            "cipher": "fernet",
            "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": base64.b64encode(salt).decode(),
            "token": token.decode(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.parent.name == ".codex":  # never let `git add -A` commit the store (the deploy gate blocks it)
            from runner.fsutil import ensure_git_excluded

            ensure_git_excluded(self.path.parent.parent)
        _atomic_write(self.path, json.dumps(doc, indent=1) + "\n", 0o600)

    def names(self) -> list[str]:
        return sorted(self._values)

    def set(self, name: str, value: str) -> None:
        check_name(name)
        if value is None or value == "":
            raise InvalidInput(f"empty value for secret {name}")
        self._values[name] = value
        self._save()

    def remove(self, name: str) -> None:
        check_name(name)
        if name not in self._values:
            raise InvalidInput(f"no secret named {name}")
        del self._values[name]
        self._save()

    def get(self, name: str) -> str:
        if name not in self._values:
            raise InvalidInput(f"no secret named {name} (add it with `codex-sandbox secrets set {name}`)")
        return self._values[name]

    def subset(self, names: list[str]) -> dict[str, str]:
        """Exactly the named secrets (for one container's env); a missing one is an error."""
        return {name: self.get(check_name(name)) for name in names}


def open_store(
    root: Path, password: str | None = None, *, environ: dict[str, str] | None = None
) -> SecretStore:
    """Open the repo's store with `password` or $CODEX_MASTER_PASSWORD."""
    env = os.environ if environ is None else environ
    password = password or env.get(PASSWORD_ENV)
    if not password:
        raise InvalidInput(f"no master password: set {PASSWORD_ENV} or run on a terminal to be prompted")
    return SecretStore(default_path(root), password)


def redact(text: str, values: list[str] | dict[str, str]) -> str:
    """Replace every occurrence of a secret value with ***."""
    vals = values.values() if isinstance(values, dict) else values
    for value in sorted((v for v in vals if v and len(v) >= 4), key=len, reverse=True):
        text = text.replace(value, "***")
    return text
