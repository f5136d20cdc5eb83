"""carechain keys: key pairs (HPKE), generated and published."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..crypto import KeyPair
from ..keystore import load_key_pair, save_key_pair
from .common import (
    SUITES,
    Connected,
    chain_options,
    key_option,
)


@click.group()
def keys() -> None:
    """Encryption key pairs (HPKE)."""


@keys.command("generate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--suite",
    type=click.Choice(sorted(SUITES)),
    default="hybrid",
    show_default=True,
    help="hybrid = ML-KEM-768 + X25519 (post-quantum); x25519 = classic",
)
def keys_generate(path: Path, suite: str) -> None:
    """Create a key pair in PATH (mode 0600). Keep it secret; never commit it."""
    key_pair = KeyPair.generate(SUITES[suite])
    save_key_pair(key_pair, path)
    click.echo(f"wrote {key_pair.suite.name} key pair to {path}")
    click.echo(f"public key: {key_pair.public_key[:16].hex()}… ({len(key_pair.public_key)} bytes)")


@keys.command("publish", cls=Connected)
@chain_options
@key_option
def keys_publish(account: Any, key: Path) -> None:
    """Publish the public half of the key pair in KEY to the KeyDirectory."""
    from ..onchain import Contracts

    pair = load_key_pair(key)
    Contracts.load().keys.publish(account, pair.suite, pair.public_key)
    click.echo(f"published {pair.suite.name} key for {account.address}")
