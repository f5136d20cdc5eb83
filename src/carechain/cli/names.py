"""carechain names: this machine's address book (names shown instead of addresses)."""

from __future__ import annotations

import click

from .common import ADDRESS


@click.group()
def names() -> None:
    """Names for the addresses you deal with, kept on this machine only (never sent to the
    chain or IPFS): the portal shows them instead of 0x1234…abcd."""


@names.command("set")
@click.argument("address", type=ADDRESS)
@click.argument("name")
def names_set(address: str, name: str) -> None:
    """Call ADDRESS by NAME (up to 40 characters) on this machine."""
    from ..names import AddressBook

    book = AddressBook.default()
    book.set(address, name)
    click.echo(f"{address} is now shown as {book.name(address)!r} ({book.path})")


@names.command("list")
def names_list() -> None:
    """Every name of this machine's address book."""
    from ..names import AddressBook

    book = AddressBook.default()
    if not book.names:
        click.echo("no names yet (carechain names set 0x… 'St Mary's Hospital')", err=True)
    for address, name in book.names.items():
        click.echo(f"{address}  {name}")


@names.command("remove")
@click.argument("address", type=ADDRESS)
def names_remove(address: str) -> None:
    """Forget the name of ADDRESS."""
    from ..names import AddressBook

    if not AddressBook.default().remove(address):
        raise click.ClickException(f"{address} has no name here (carechain names list)")
    click.echo(f"{address} has no name any more")
