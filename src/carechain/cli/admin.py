"""carechain whoami and carechain admin: who you are on-chain; governance."""

from __future__ import annotations

from typing import Any

import click

from ..model import ROLES
from .common import (
    ADDRESS,
    Connected,
    chain_options,
    money,
    role_argument,
)


@click.group()
def admin() -> None:
    """Governance: admit and remove parties (governor only)."""


@click.command("whoami", cls=Connected)
@chain_options
def main_whoami(account: Any) -> None:
    """Your account's address, the roles it holds, whether it published an encryption key,
    and its settlement-token balance."""
    from ..errors import KeyNotFoundError
    from ..onchain import Contracts

    contracts = Contracts.load()
    registry = contracts.registry
    roles = [name for name in ROLES if registry.has_role(name, account.address)]
    if registry.has_role_id(bytes(32), account.address):
        roles.insert(0, "governor")
    try:
        suite, _ = contracts.reader_key(account.address)
        key = f"published ({suite.name})"
    except KeyNotFoundError:
        key = "not published (carechain keys publish --key FILE)"
    claims = contracts.claims
    click.echo(account.address)
    click.echo(f"  roles:   {', '.join(roles) or 'none (a patient needs none)'}", err=True)
    click.echo(f"  key:     {key}", err=True)
    click.echo(f"  tokens:  {money(claims, claims.balance_of(account.address))}", err=True)


@admin.command("admit", cls=Connected)
@chain_options
@role_argument
@click.argument("address", type=ADDRESS)
def admin_admit(account: Any, role: str, address: str) -> None:
    """Admit ADDRESS to ROLE (hospitals are providers)."""
    from ..onchain import Contracts

    Contracts.load().registry.admit(account, role, address)
    click.echo(f"admitted {address} as {role}")


@admin.command("remove", cls=Connected)
@chain_options
@role_argument
@click.argument("address", type=ADDRESS)
def admin_remove(account: Any, role: str, address: str) -> None:
    """Remove ADDRESS from ROLE."""
    from ..onchain import Contracts

    Contracts.load().registry.remove(account, role, address)
    click.echo(f"removed {address} from {role}")
