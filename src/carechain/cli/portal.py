"""carechain portal: the local web pages for a patient, a clinician or an insurer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from .common import Connected, chain_options, role_client

ROLE_NAMES = ("patient", "clinician", "insurer", "pharmacy", "regulator")
#: Roles whose pages decrypt, and so need the key file.
KEYED = ("patient", "clinician", "insurer")


@click.command("portal", cls=Connected)
@chain_options
@click.option("--role", type=click.Choice(ROLE_NAMES), required=True, help="whose pages")
@click.option(
    "--key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="key file (patient, clinician, insurer: the key that decrypts)",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0: a free port"
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="insurer: the settlement worker's journal, to decide its manual queue "
    "[default: .carechain/insurer-worker.sqlite if it exists]",
)
@click.pass_context
def portal(
    ctx: click.Context, account: Any, role: str, key: Path | None, port: int, db: Path | None
) -> None:
    """Serve ROLE's pages on 127.0.0.1 for the account (and key) given, until Ctrl-C.

    Prints the address to open: it holds a secret made for this launch, which logs your
    browser in (a cookie for this session only); nothing else on this machine or on the web
    can drive the pages without it. Records are decrypted here, with KEY. A pharmacy or a
    regulator verifies scanned GS1 codes (and a regulator recalls), with no key file."""
    from ..hospital import Hospital
    from ..insurer import Insurer
    from ..names import AddressBook
    from ..patient import Patient
    from ..portal import Portal, PortalServer
    from ..settings import get_settings
    from ..trace import SupplyChainParty

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("portal: %(message)s"))
    logger = logging.getLogger("carechain.portal")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if ctx.find_root().meta.get("carechain.debug") else logging.INFO)
    logger.propagate = False

    if role in KEYED and key is None:
        raise click.UsageError(f"--role {role} needs --key (the key file that decrypts)")
    kind = {"patient": Patient, "clinician": Hospital, "insurer": Insurer}.get(
        role, SupplyChainParty
    )
    journal = None
    if role == "insurer":
        journal = db or get_settings().state_dir / "insurer-worker.sqlite"
        if db is not None and not db.exists():
            raise click.BadParameter(f"no worker journal at {db}", param_hint="--db")
    with role_client(kind, account, key if role in KEYED else None) as client:
        names = AddressBook.default()  # carechain names set: shown instead of addresses
        server = PortalServer(Portal(role, client, journal_path=journal, names=names), port)
        click.echo(server.url)
        click.echo(
            f"carechain portal: {role} pages for {client.address} on 127.0.0.1:{server.port}; "
            "open the address above in your browser (it logs you in). Ctrl-C stops.",
            err=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
