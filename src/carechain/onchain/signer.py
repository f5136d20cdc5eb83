"""Whatever signs: an eth-account key, or (in tests and ``ape run`` scripts) an Ape test
account, which carries its key. Everything the runtime sends is signed here, locally; keys
never travel to the node."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ..errors import ConfigurationError

#: The mnemonic of anvil's (and Ape's) funded test accounts; ``TEST::n`` is its n-th.
TEST_MNEMONIC = "test test test test test test test test test test test junk"


@runtime_checkable
class Signer(Protocol):
    """The one protocol for anything that signs (eth-account's ``LocalAccount`` is one)."""

    @property
    def address(self) -> str:  # pragma: no cover - a protocol
        """The account's checksummed address."""
        ...

    def sign_transaction(self, transaction_dict: dict[str, Any]) -> Any:  # pragma: no cover
        """Sign a transaction; the result has ``raw_transaction`` and ``hash``."""
        ...

    def sign_message(self, signable_message: Any) -> Any:  # pragma: no cover
        """Sign an EIP-191/EIP-712 message; the result has ``signature`` (65 bytes)."""
        ...


@functools.cache
def _from_key(key: str) -> LocalAccount:
    return Account.from_key(key)


def as_signer(account: Any) -> Signer:
    """``account`` as a :class:`Signer`: an eth-account account as it is; anything holding its
    ``private_key`` (Ape's test accounts) through eth-account. Refuses, with what to do, an
    account whose key is out of reach (a hardware wallet, a locked keystore)."""
    if isinstance(account, LocalAccount):
        return account
    key = getattr(account, "private_key", None)
    if key is not None:
        return _from_key(key if isinstance(key, str) else "0x" + bytes(key).hex())
    raise ConfigurationError(
        f"cannot sign with {account!r}: carechain signs with a local key (an eth-account "
        "account, a keystore file opened with --account, or a test account)"
    )


def local_test_account(index: int) -> LocalAccount:
    """The ``index``-th funded account of anvil's test mnemonic (``TEST::index``)."""
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(TEST_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def new_keystore(password: str, work: int = 2**12) -> tuple[str, dict[str, Any]]:
    """A new account, encrypted with ``password`` as a keystore (Web3 Secret Storage, the
    format geth and Ape read): returns its address and the keystore. ``work`` is scrypt's
    cost (a consortium sealer's key file, unlocked once at start-up)."""
    account = Account.create()
    return str(account.address), dict(Account.encrypt(account.key, password, iterations=work))


def sign_typed(account: Any, signable: Any) -> bytes:
    """``account``'s 65-byte (r, s, v) signature over an EIP-712 message."""
    return bytes(as_signer(account).sign_message(signable).signature)


def keystore_path(reference: str) -> Path | None:
    """The keystore file an ``--account`` names: a path, or the alias of an account kept
    where Ape keeps them (``$APE_DATA_FOLDER/accounts/<alias>.json``, by default under
    ``~/.ape``); None if there is none."""
    path = Path(reference).expanduser()
    if path.is_file():
        return path
    folder = Path(os.environ.get("APE_DATA_FOLDER") or Path.home() / ".ape")
    path = folder / "accounts" / f"{reference}.json"
    return path if path.is_file() else None


def load_account(reference: str, passphrase: Callable[[str], str]) -> LocalAccount:
    """The account an ``--account`` names: ``TEST::n`` (the n-th funded account of a local
    test chain), or a keystore (a file, or an alias; see :func:`keystore_path`) opened with
    the passphrase ``passphrase(prompt)`` returns."""
    if reference.upper().startswith("TEST::"):
        index = reference[6:]
        if not index.isdigit():
            raise ConfigurationError(f"{reference!r}: a test account is TEST::<number>")
        return local_test_account(int(index))
    path = keystore_path(reference)
    if path is None:
        raise ConfigurationError(
            f"no account {reference!r}: name a keystore file, an account alias, or TEST::n "
            "(a local test chain's funded accounts)"
        )
    try:
        keystore = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path} is not a keystore file ({exc})") from exc
    try:
        key = Account.decrypt(keystore, passphrase(f"passphrase for {path.name}"))
    except ValueError as exc:
        raise ConfigurationError(f"cannot open {path}: wrong passphrase ({exc})") from exc
    return Account.from_key(key)
