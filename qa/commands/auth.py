"""``qa auth``: the API tokens and browser-chat users that ``qa serve`` asks for (docs/guide/programs.md).

A token is printed once, when it is made, and stored only as a hash; a password is read without
echo (or from standard input with ``--password-stdin``) and stored only as a hash.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from qa.core.credentials import CredentialStore, auth_file_for
from qa.core.errors import CredentialError
from qa.core.paths import demo_index_dir


def register(commands: argparse._SubParsersAction) -> None:
    auth = commands.add_parser("auth", help="API tokens and browser-chat logins for qa serve")
    kinds = auth.add_subparsers(dest="kind", required=True)
    token = kinds.add_parser("token", help="API tokens (Authorization: Bearer)")
    token_actions = token.add_subparsers(dest="action", required=True)
    user = kinds.add_parser("user", help="logins of the browser chat")
    user_actions = user.add_subparsers(dest="action", required=True)

    def action(actions: argparse._SubParsersAction, name: str, help: str, run, named: bool = True):
        parser = actions.add_parser(name, help=help)
        if named:
            parser.add_argument("name", help="the token's or user's name")
        add_auth_args(parser)
        parser.set_defaults(run=run)
        return parser

    create = action(token_actions, "create", "make a token and print it (the only time it is shown)", _token_create)
    _collections_arg(create)
    action(
        token_actions, "list", "list the tokens' names, collections and when they were made", _token_list, named=False
    )
    action(token_actions, "revoke", "delete a token; requests with it are refused at once", _token_revoke)
    add = action(user_actions, "add", "add a browser-chat login (the password is asked for)", _user_add)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    _collections_arg(add)
    action(user_actions, "list", "list the users and their collections", _user_list, named=False)
    action(user_actions, "remove", "delete a user", _user_remove)


def _collections_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--collections",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=None,
        help="the collections it may see, comma-separated (default: default; '*': all); uploads go to the first",
    )


def add_auth_args(parser: argparse.ArgumentParser) -> None:
    """``--index`` and ``--auth-file``, as ``qa serve`` takes them."""
    parser.add_argument("--index", type=Path, default=None, help="index directory (default: the demo corpus's index)")
    parser.add_argument(
        "--auth-file", type=Path, default=None, help="credential file (default: INDEX-auth/auth.json beside the index)"
    )


def store_for(args: argparse.Namespace) -> CredentialStore:
    """The credentials ``qa serve`` with the same ``--index`` and ``--auth-file`` reads."""
    return CredentialStore(args.auth_file or auth_file_for(args.index or demo_index_dir()))


def _token_create(args: argparse.Namespace) -> int:
    store = store_for(args)
    token = store.create_token(args.name, args.collections)
    print(token)
    print(
        f"qa: token {args.name!r} created in {store.path}; it is shown only now. "
        "Send it as the header 'Authorization: Bearer TOKEN'.",
        file=sys.stderr,
    )
    return 0


def _token_list(args: argparse.Namespace) -> int:
    tokens = store_for(args).tokens()
    for token in tokens:
        print(f"{token.name}\tcreated {token.created}\tcollections {','.join(token.collections)}")
    if not tokens:
        print("qa: no tokens", file=sys.stderr)
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    store_for(args).revoke_token(args.name)
    print(f"qa: token {args.name!r} revoked", file=sys.stderr)
    return 0


def _user_add(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise CredentialError("the two passwords differ")
    store = store_for(args)
    store.add_user(args.name, password, args.collections)
    print(f"qa: user {args.name!r} added in {store.path}", file=sys.stderr)
    return 0


def _user_list(args: argparse.Namespace) -> int:
    store = store_for(args)
    users = store.users()
    for name in users:
        print(f"{name}\tcollections {','.join(store.user_collections(name))}")
    if not users:
        print("qa: no users", file=sys.stderr)
    return 0


def _user_remove(args: argparse.Namespace) -> int:
    store_for(args).remove_user(args.name)
    print(f"qa: user {args.name!r} removed", file=sys.stderr)
    return 0
