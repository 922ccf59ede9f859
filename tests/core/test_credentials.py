"""The credential store of ``qa serve`` (qa/core/credentials.py) and the ``qa auth`` commands:
hashes, never secrets, on disk; a file of mode 0600 written whole; clear errors."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from qa.cli import main
from qa.core.credentials import CredentialStore, auth_file_for, is_loopback
from qa.core.errors import CredentialError


def test_tokens_and_users_round_trip_stored_as_hashes(tmp_path: Path) -> None:
    path = auth_file_for(tmp_path / "idx")
    assert path == tmp_path / "idx-auth" / "auth.json"
    store = CredentialStore(path)
    assert not store.has_any() and store.token_name("qa_anything") is None
    token = store.create_token("ci")
    store.add_user("ann", "correct horse")
    assert token.startswith("qa_") and len(token) > 40
    again = CredentialStore(path)  # read back from the file
    assert again.has_any() and [t.name for t in again.tokens()] == ["ci"] and again.users() == ["ann"]
    assert again.token_name(token) == "ci"
    assert again.token_name(token + "x") is None and again.token_name("") is None
    assert again.check_user("ann", "correct horse")
    assert not again.check_user("ann", "correct horsE") and not again.check_user("bob", "correct horse")
    text = path.read_text()
    assert token not in text and token[3:] not in text and "correct horse" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["auth.json"]  # no temporary file left


def test_revoking_takes_effect_in_a_store_already_open(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    serving = CredentialStore(path)
    token = CredentialStore(path).create_token("ci")
    assert serving.token_name(token) == "ci"
    CredentialStore(path).revoke_token("ci")
    assert serving.token_name(token) is None and not serving.has_any()


def test_duplicates_unknown_names_and_bad_names_are_clear_errors(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "auth.json")
    store.create_token("ci")
    with pytest.raises(CredentialError, match="a token named 'ci' already exists"):
        store.create_token("ci")
    with pytest.raises(CredentialError, match="no token named 'nope'"):
        store.revoke_token("nope")
    with pytest.raises(CredentialError, match="no user named 'nope'"):
        store.remove_user("nope")
    with pytest.raises(CredentialError, match="not usable"):
        store.add_user("../x", "pw")
    with pytest.raises(CredentialError, match="empty password"):
        store.add_user("ann", "")


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.5", "::", "example.org"))


def test_the_auth_commands(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    where = ["--index", str(tmp_path / "idx")]
    assert main(["auth", "token", "create", "ci", *where]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert token.startswith("qa_") and "shown only now" in out.err and token not in out.err
    assert main(["auth", "token", "create", "ci", *where]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["auth", "token", "list", *where]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("ci\tcreated ") and token not in listed
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret words\n"))
    assert main(["auth", "user", "add", "ann", "--password-stdin", *where]) == 0
    assert main(["auth", "user", "list", *where]) == 0
    assert capsys.readouterr().out == "ann\tcollections default\n"
    store = CredentialStore(tmp_path / "idx-auth" / "auth.json")
    assert store.token_name(token) == "ci" and store.check_user("ann", "s3cret words")
    assert main(["auth", "token", "revoke", "ci", *where]) == 0
    assert main(["auth", "user", "remove", "ann", *where]) == 0
    assert main(["auth", "token", "revoke", "ci", *where]) == 1
    assert "no token named 'ci'" in capsys.readouterr().err
    assert not store.has_any()
    # --auth-file moves the file
    other = tmp_path / "elsewhere" / "creds.json"
    assert main(["auth", "token", "create", "x", "--auth-file", str(other)]) == 0
    assert CredentialStore(other).token_name(capsys.readouterr().out.strip()) == "x"
