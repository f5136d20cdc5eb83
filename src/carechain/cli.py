"""The ``carechain`` command line.

Offline commands (keys, FHIR validation, CIDs) work anywhere. Commands that touch the chain
take Ape's ``--network`` and ``--account`` options and read ``deployments/<network>.json``;
commands that touch IPFS use ``CARECHAIN_IPFS_API`` if set, else start the project's
managed Kubo node for the duration of the command.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from .crypto import KemSuite, KeyPair
from .errors import CarechainError
from .fhir import category_for, describe, parse_resource
from .keystore import load_key_pair, save_key_pair
from .unixfs import compute_cid

_SUITES = {"x25519": KemSuite.X25519, "hybrid": KemSuite.MLKEM768_X25519}


class _Group(click.Group):
    """Prints carechain errors as one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CarechainError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(package_name="carechain")
def main() -> None:
    """carechain: encrypted FHIR records on IPFS, anchored and shared on Ethereum."""


# ------------------------------------------------------------------------------ keys


@main.group()
def keys() -> None:
    """Encryption key pairs (HPKE)."""


@keys.command("generate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--suite",
    type=click.Choice(sorted(_SUITES)),
    default="hybrid",
    show_default=True,
    help="hybrid = ML-KEM-768 + X25519 (post-quantum); x25519 = classic",
)
def keys_generate(path: Path, suite: str) -> None:
    """Create a key pair in PATH (mode 0600). Keep it secret; never commit it."""
    key_pair = KeyPair.generate(_SUITES[suite])
    save_key_pair(key_pair, path)
    click.echo(f"wrote {key_pair.suite.name} key pair to {path}")
    click.echo(f"public key: {key_pair.public_key[:16].hex()}… ({len(key_pair.public_key)} bytes)")


# ------------------------------------------------------------------------------ FHIR


@main.group()
def fhir() -> None:
    """FHIR R4 records."""


@fhir.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def fhir_validate(files: tuple[Path, ...]) -> None:
    """Check that FILES are valid FHIR R4; exits 1 on the first invalid one."""
    for path in files:
        resource = parse_resource(path.read_bytes())
        click.echo(f"{path}: valid {describe(resource)} ({category_for(resource).name})")


@main.command("cid")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
def cid(file: Path) -> None:
    """The CID carechain (and Kubo) give FILE's bytes, computed locally."""
    click.echo(compute_cid(file.read_bytes()))


# ------------------------------------------------------------------------------ chain


def _connected(function: Any) -> Any:
    """Wrap a command so it runs connected to an Ape network with an Ape account."""
    from ape.cli import ConnectedProviderCommand, account_option

    return click.command(cls=ConnectedProviderCommand, name=function.__name__.split("_", 1)[1])(
        account_option()(function)
    )


@contextmanager
def _ipfs() -> Iterator[Any]:
    from .ipfs import IPFSClient
    from .kubo import KuboNode
    from .settings import get_settings

    settings = get_settings()
    if settings.ipfs_api:
        with IPFSClient(settings.ipfs_api, timeout=settings.ipfs_timeout) as client:
            yield client
    else:
        with KuboNode(settings.state_dir / "kubo") as node:
            yield node.client


@main.group()
def admin() -> None:
    """Governance: admit and remove parties (governor only)."""


def admin_admit(account: Any, role: str, address: str) -> None:
    """Admit ADDRESS to ROLE (provider, insurer, auditor)."""
    from .chain import Contracts

    Contracts.load().registry.admit(account, role, address)
    click.echo(f"admitted {address} as {role}")


def admin_remove(account: Any, role: str, address: str) -> None:
    """Remove ADDRESS from ROLE."""
    from .chain import Contracts

    Contracts.load().registry.remove(account, role, address)
    click.echo(f"removed {address} from {role}")


def keys_publish(account: Any, key: Path) -> None:
    """Publish the public half of the key pair in KEY to the KeyDirectory."""
    from .chain import Contracts

    pair = load_key_pair(key)
    Contracts.load().keys.publish(account, pair.suite, pair.public_key)
    click.echo(f"published {pair.suite.name} key for {account.address}")


def records_anchor(account: Any, patient: str, key: Path, files: tuple[Path, ...]) -> None:
    """Encrypt FHIR FILES for PATIENT, store them on IPFS and anchor them (as a provider)."""
    from .chain import Contracts
    from .hospital import Hospital

    resources = [json.loads(path.read_bytes()) for path in files]
    with _ipfs() as ipfs:
        hospital = Hospital(account, Contracts.load(), ipfs, load_key_pair(key))
        refs = hospital.anchor_records([(patient, r) for r in resources])
    for path, ref in zip(files, refs, strict=True):
        click.echo(
            f"{path}: record {ref.record_id_hex} v{ref.version} {ref.cid} ({ref.gas_used:,} gas)"
        )


def records_list(account: Any, patient: str | None) -> None:
    """List the records about PATIENT (default: the account)."""
    from .chain import Contracts

    registry = Contracts.load().registry
    for version in registry.records_of(patient or account.address):
        head = registry.head(version.record_id)
        flag = " entered-in-error" if head.retracted else ""
        click.echo(
            f"0x{version.record_id.hex()} v{version.version} {head.category.name} "
            f"by {head.author}{flag}"
        )


def records_read(account: Any, record_id: str, key: Path, version: int | None) -> None:
    """Fetch, verify and decrypt RECORD_ID with the key pair in KEY; prints the FHIR JSON."""
    from .chain import Contracts
    from .records import fetch_and_open

    with _ipfs() as ipfs:
        opened = fetch_and_open(
            Contracts.load(), ipfs, load_key_pair(key), bytes.fromhex(record_id[2:]), version
        )
    click.echo(json.dumps(opened.resource, indent=2))


def _register_connected_commands() -> None:
    role = click.argument("role", type=click.Choice(["provider", "insurer", "auditor"]))
    address = click.argument("address")
    key_option = click.option(
        "--key", required=True, type=click.Path(exists=True, path_type=Path), help="key file"
    )
    admin.add_command(_connected(role(address(admin_admit))))
    admin.add_command(_connected(role(address(admin_remove))))
    keys.add_command(_connected(key_option(keys_publish)))

    @main.group()
    def records() -> None:
        """Anchor, list and read records."""

    files = click.argument(
        "files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
    )
    records.add_command(
        _connected(click.option("--patient", required=True)(key_option(files(records_anchor))))
    )
    records.add_command(_connected(click.option("--patient", default=None)(records_list)))
    records.add_command(
        _connected(
            click.argument("record_id")(
                key_option(click.option("--version", type=int, default=None)(records_read))
            )
        )
    )


_register_connected_commands()
