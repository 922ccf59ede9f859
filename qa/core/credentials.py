"""The credentials of ``qa serve``: API tokens and browser-chat users, kept hashed in one JSON file.

The file is ``auth.json`` in the folder ``INDEX-auth`` beside the index (``auth_file_for``). A token
is 32 random bytes, shown once when it is made; only a salted SHA-256 of it is stored. A password
is stored as a salted scrypt hash. Every comparison is constant-time (``hmac.compare_digest``). The
file is written whole to a temporary file (mode 0600) and renamed over the old one, and it is read
again whenever it changes, so a revoked token stops working without a restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.core.errors import CredentialError
from qa.core.types import ALL_COLLECTIONS, DEFAULT_COLLECTION, check_collection

AUTH_FILE = "auth.json"
TOKEN_PREFIX = "qa_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~50 ms a check, 16 MB of memory


def auth_file_for(index_root: Path) -> Path:
    """Where the credentials of the index at ``index_root`` live: ``INDEX-auth/auth.json`` beside it."""
    root = Path(index_root)
    return root.with_name(root.name + "-auth") / AUTH_FILE


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a ``--host`` value) only listens to this computer."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class TokenInfo:
    name: str
    created: str
    collections: tuple[str, ...] = (DEFAULT_COLLECTION,)


def check_grants(collections: list[str] | tuple[str, ...] | None) -> list[str]:
    """Collections to grant (``*``: all of them); the default: ``["default"]``. BadCollection names a bad one."""
    names = list(dict.fromkeys(collections or [DEFAULT_COLLECTION]))
    return [name if name == ALL_COLLECTIONS else check_collection(name) for name in names]


def grants_of(entry: dict[str, Any]) -> frozenset[str] | None:
    """The collections a token or user entry may see; None: all of them (``*``). Entries written
    before collections existed see ``default``."""
    names = entry.get("collections") or [DEFAULT_COLLECTION]
    return None if ALL_COLLECTIONS in names else frozenset(names)


def _check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise CredentialError(
            f"{what} name {name!r} is not usable: use 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def _token_hash(salt: str, token: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + token.encode("utf-8")).hexdigest()


def _password_hash(salt: str, password: str, n: int, r: int, p: int) -> str:
    return hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=n, r=r, p=p, dklen=32).hex()


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class CredentialStore:
    """The tokens and users of one ``auth.json``; a missing file holds none."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._data: dict[str, list[dict[str, Any]]] = {"tokens": [], "users": []}

    # --- reading ---

    def _load(self) -> dict[str, list[dict[str, Any]]]:
        """The file's contents, read again only when it changed (size or modification time)."""
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._seen, self._data = None, {"tokens": [], "users": []}
                return self._data
            except OSError as exc:
                raise CredentialError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
            seen = (stat.st_mtime_ns, stat.st_size)
            if seen != self._seen:
                try:
                    data = json.loads(self.path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise CredentialError(f"cannot read the credentials in {self.path}: {exc}") from exc
                self._data = {"tokens": list(data.get("tokens", [])), "users": list(data.get("users", []))}
                self._seen = seen
            return self._data

    def tokens(self) -> list[TokenInfo]:
        return [
            TokenInfo(t["name"], t.get("created", ""), tuple(t.get("collections") or [DEFAULT_COLLECTION]))
            for t in self._load()["tokens"]
        ]

    def users(self) -> list[str]:
        return [u["name"] for u in self._load()["users"]]

    def user_collections(self, name: str) -> tuple[str, ...]:
        """The collections granted to user ``name`` (in the order granted); ``("default",)`` for an unknown one."""
        for entry in self._load()["users"]:
            if entry["name"] == name:
                return tuple(entry.get("collections") or [DEFAULT_COLLECTION])
        return (DEFAULT_COLLECTION,)

    def token_collections(self, name: str) -> tuple[str, ...]:
        """The collections granted to token ``name`` (in the order granted)."""
        for entry in self._load()["tokens"]:
            if entry["name"] == name:
                return tuple(entry.get("collections") or [DEFAULT_COLLECTION])
        return (DEFAULT_COLLECTION,)

    def has_any(self) -> bool:
        data = self._load()
        return bool(data["tokens"] or data["users"])

    def token_name(self, token: str) -> str | None:
        """The name of the token ``token``, None when it is not one of ours."""
        found = None
        for entry in self._load()["tokens"]:  # every entry is compared: the time says nothing
            if hmac.compare_digest(_token_hash(entry["salt"], token), entry["sha256"]):
                found = entry["name"]
        return found

    def check_user(self, name: str, password: str) -> bool:
        """Whether ``password`` is the password of user ``name``."""
        for entry in self._load()["users"]:
            if hmac.compare_digest(entry["name"].encode("utf-8"), name.encode("utf-8")):
                given = _password_hash(entry["salt"], password, entry["n"], entry["r"], entry["p"])
                return hmac.compare_digest(given, entry["scrypt"])
        return False

    # --- changing ---

    def create_token(self, name: str, collections: list[str] | None = None) -> str:
        """A new token named ``name``, granted ``collections`` (default ``["default"]``; ``*``: all);
        the returned secret is stored only as a hash."""
        _check_name(name, "token")
        granted = check_grants(collections)
        data = self._copy()
        if any(t["name"] == name for t in data["tokens"]):
            raise CredentialError(f"a token named {name!r} already exists; revoke it first or choose another name")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        data["tokens"].append(
            {
                "name": name,
                "salt": salt,
                "sha256": _token_hash(salt, token),
                "created": _now(),
                "collections": granted,
            }
        )
        self._write(data)
        return token

    def revoke_token(self, name: str) -> None:
        data = self._copy()
        kept = [t for t in data["tokens"] if t["name"] != name]
        if len(kept) == len(data["tokens"]):
            raise CredentialError(f"no token named {name!r} in {self.path}")
        data["tokens"] = kept
        self._write(data)

    def add_user(self, name: str, password: str, collections: list[str] | None = None) -> None:
        _check_name(name, "user")
        granted = check_grants(collections)
        if not password:
            raise CredentialError("empty password")
        data = self._copy()
        if any(u["name"] == name for u in data["users"]):
            raise CredentialError(f"a user named {name!r} already exists; remove it first or choose another name")
        salt = secrets.token_hex(16)
        hashed = _password_hash(salt, password, **_SCRYPT)
        data["users"].append(
            {"name": name, "salt": salt, "scrypt": hashed, **_SCRYPT, "created": _now(), "collections": granted}
        )
        self._write(data)

    def remove_user(self, name: str) -> None:
        data = self._copy()
        kept = [u for u in data["users"] if u["name"] != name]
        if len(kept) == len(data["users"]):
            raise CredentialError(f"no user named {name!r} in {self.path}")
        data["users"] = kept
        self._write(data)

    def _copy(self) -> dict[str, list[dict[str, Any]]]:
        data = self._load()
        return {"tokens": list(data["tokens"]), "users": list(data["users"])}

    def _write(self, data: dict[str, Any]) -> None:
        """The whole file, atomically: a temporary file of mode 0600 in the same folder, renamed."""
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(prefix=".auth-", suffix=".tmp", dir=folder)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        with self._lock:
            stat = self.path.stat()
            self._seen, self._data = (stat.st_mtime_ns, stat.st_size), data
