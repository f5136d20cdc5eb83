"""What every command group shares: the connected command (``--rpc``, ``--account``), the
one way a command gets a client (contracts, IPFS, key pair), parameter types, money, and
progress on stderr."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from ..crypto import KemSuite
from ..model import DEFAULT_RPC_URL, ROLES, ClaimStatus, Purpose, Scope

SUITES = {"x25519": KemSuite.X25519, "hybrid": KemSuite.MLKEM768_X25519}
#: Claim statuses as --status takes them.
CLAIM_STATUSES = [s.name.lower() for s in ClaimStatus if s is not ClaimStatus.NONE]


def passphrase(prompt: str) -> str:
    """A keystore's passphrase: CARECHAIN_PASSPHRASE if set (scripts), else asked for."""
    import os

    return os.environ.get("CARECHAIN_PASSPHRASE") or click.prompt(prompt, hide_input=True)


class Connected(click.Command):
    """A command that runs against a node (``--rpc``) as an account (``--account``): its
    function gets the account, which signs locally, as ``account``. The node is used for
    this command only."""

    def invoke(self, ctx: click.Context) -> Any:
        from ..onchain.rpc import using
        from ..onchain.signer import load_account

        with using(ctx.params.pop("rpc")):
            ctx.params["account"] = load_account(ctx.params.pop("account_name"), passphrase)
            return super().invoke(ctx)


def chain_options(function: Any) -> Any:
    """``--rpc`` and ``--account``, the options of every :class:`Connected` command."""
    rpc = click.option(
        "--rpc",
        envvar="CARECHAIN_RPC_URL",
        default=DEFAULT_RPC_URL,
        show_default=True,
        help="the Ethereum node's JSON-RPC URL (or CARECHAIN_RPC_URL)",
    )
    account = click.option(
        "--account",
        "account_name",
        required=True,
        help="TEST::n (a local test chain's n-th funded account), a keystore file, or an "
        "account alias (its passphrase from CARECHAIN_PASSPHRASE, else asked for)",
    )
    return rpc(account(function))


key_option = click.option(
    "--key", required=True, type=click.Path(exists=True, path_type=Path), help="key file"
)
purpose_option = click.option(
    "--purpose",
    type=click.Choice([p.name.lower() for p in Purpose]),
    default="treatment",
    show_default=True,
    help="why you read or share: treatment, payment, research, …",
)
scope_option = click.option(
    "--scope", default="all", show_default=True, help="all | category:<name> | record:0x<id>"
)
role_argument = click.argument("role", type=click.Choice(list(ROLES)))


@contextmanager
def role_client(
    kind: type, account: Any, key: Path | None = None, published: bool = True
) -> Iterator[Any]:
    """A role client (``Hospital``, ``Patient``, ``Insurer``, ``Party``...) for ``account``:
    the deployment for the node's chain, IPFS, and the key pair in ``key`` (if the role
    needs one). The one way a command gets what it works with.

    A key file that is not the key the account published is refused (another person's
    key, or an old one: it would open nothing, and a hospital's re-run-safe record ids are
    derived from its key, so anchoring with another key anchors copies); ``published``
    False skips that for the commands whose key is new by design (recovering onto a new
    device's key). An account with no key published yet may use any key."""
    from ..keystore import load_key_pair
    from ..onchain import Contracts

    with open_ipfs() as ipfs:
        contracts = Contracts.load()
        if key is None:
            yield kind(account, contracts, ipfs)
            return
        pair = load_key_pair(key)
        client = kind(account, contracts, ipfs, pair)
        if published:
            current = contracts.keys.is_current(client.address, pair.suite, pair.public_key)
            if current is False:
                raise click.ClickException(
                    f"{key} is not the key {client.address} published; use "
                    "the key file you published for this account (`carechain whoami` shows "
                    "the account; `carechain keys publish` replaces its key)"
                )
        yield client


@contextmanager
def progress_bar(description: str) -> Iterator[Any]:
    """A progress callback for the SDK, drawn as a bar on stderr (gone when done)."""
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextmanager
def open_ipfs() -> Iterator[Any]:
    from ..ipfs import IPFSClient
    from ..kubo import KuboNode
    from ..settings import get_settings

    settings = get_settings()
    managed = KuboNode(settings.state_dir / "kubo")
    # the node another carechain process (a portal, a long command) runs on this machine's
    # repository is used as it is: a second daemon cannot take the repository's lock
    api = settings.ipfs_api or managed.running_api()
    if api:
        with IPFSClient(api, timeout=settings.ipfs_timeout) as client:
            yield client
    else:
        with managed as node:
            yield node.client


class _Address(click.ParamType):
    """An Ethereum address: 0x and 40 hex digits. Mixed case must be a valid EIP-55
    checksum, so a mistyped character is caught instead of sending to a wrong address."""

    name = "address"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

        text = str(value).strip()
        if not is_hex_address(text):
            self.fail(f"{text!r} is not an address (0x followed by 40 hex digits)", param, ctx)
        digits = text[2:]
        if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(text):
            self.fail(
                f"{text} fails its EIP-55 checksum: a character was mistyped; copy the address "
                "again (or write it all in lower case to skip the check)",
                param,
                ctx,
            )
        return to_checksum_address(text)


ADDRESS = _Address()


class _Days(click.ParamType):
    """A period in days, from an hour (0.042) to a hundred years: no negative, NaN or
    astronomical periods."""

    name = "days"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        import math

        try:
            days = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of days", param, ctx)
        if not (math.isfinite(days) and 1 / 24 <= days <= 36_500):
            self.fail(f"{value} days: a period must be from 0.042 (an hour) to 36500", param, ctx)
        return days


DAYS = _Days()


def next_block_time() -> int:
    """The time the next block will carry, at the earliest (see ``Node.next_block_time``)."""
    from ..onchain import current

    return current().next_block_time()


def hex32(value: str) -> bytes:
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not hex") from exc
    if len(raw) != 32:
        raise click.BadParameter(f"{value!r} is not 32 bytes")
    return raw


def parse_scope(text: str) -> Any:
    from ..fhir import Category

    kind, _, value = text.partition(":")
    if kind == "all" and not value:
        return Scope.all()
    if kind == "category" and value.upper() in Category.__members__:
        return Scope.category(Category[value.upper()])
    if kind == "record" and value:
        return Scope.record(hex32(value))
    raise click.BadParameter(
        f"{text!r}: use all, category:<{'|'.join(c.name.lower() for c in Category)}> "
        "or record:0x<id>"
    )


def units(claims: Any, text: str, allow_zero: bool = False) -> int:
    """``12.50`` in token units (e.g. 12500000 for a 6-decimal stablecoin)."""
    from ..errors import ConfigurationError
    from ..worker import to_units

    try:
        value = to_units(text, claims.decimals)
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc)) from None
    if value == 0 and not allow_zero:
        raise click.BadParameter(f"{text} is not a positive amount in whole token units")
    return value


def money(claims: Any, units: int) -> str:
    return f"{units / 10**claims.decimals:,.2f}"


def echo_escrow(claims: Any, insurer: str) -> None:
    balance, reserved = claims.escrow(insurer)
    click.echo(f"escrow {money(claims, balance)} (reserved {money(claims, reserved)})")
