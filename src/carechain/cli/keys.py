"""carechain keys: key pairs (HPKE), generated and published; backed up t-of-n, released by
holders, recovered on a new device."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..crypto import KeyPair
from ..keystore import load_key_pair, save_key_pair
from .common import (
    ADDRESS,
    SUITES,
    Connected,
    chain_options,
    key_option,
    role_client,
)


@click.group()
def keys() -> None:
    """Encryption key pairs (HPKE): generate, publish, back up, recover."""


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


def _holders_options(function: Any) -> Any:
    """--holder (repeated) and --threshold: who holds a share, and how many are needed."""
    holder = click.option(
        "--holder",
        "holders",
        type=ADDRESS,
        multiple=True,
        required=True,
        help="an address that holds one share (repeat: a relative, your GP, a guardian...)",
    )
    threshold = click.option(
        "--threshold", type=int, default=2, show_default=True, help="shares needed to recover"
    )
    return holder(threshold(function))


def _echo_escrow(view: Any) -> None:
    click.echo(
        f"epoch {view.epoch}: {view.threshold} of {len(view.holders)} shares needed "
        f"({', '.join(view.holders)})"
    )


@keys.command("backup", cls=Connected)
@chain_options
@key_option
@_holders_options
def keys_backup(account: Any, key: Path, holders: tuple[str, ...], threshold: int) -> None:
    """Back up the record key in KEY: split it into one share per --holder, --threshold of
    them needed to recover it, each sealed to the holder's published key (on IPFS), with an
    on-chain commitment per share. Holders need published keys first."""
    from ..patient import Patient

    with role_client(Patient, account, key) as patient:
        _echo_escrow(patient.back_up_key(list(holders), threshold))


@keys.command("reshare", cls=Connected)
@chain_options
@key_option
@_holders_options
def keys_reshare(account: Any, key: Path, holders: tuple[str, ...], threshold: int) -> None:
    """Replace the holders of an existing backup (say, one you no longer trust) without
    recovering: new shares, a new epoch; the old shares are never released again."""
    from ..errors import KeyNotFoundError
    from ..model import EscrowKind
    from ..patient import Patient

    with role_client(Patient, account, key) as patient:
        if patient.contracts.escrow.escrow(patient.address, EscrowKind.BACKUP) is None:
            raise KeyNotFoundError("you have no backup to re-share: use carechain keys backup")
        _echo_escrow(patient.back_up_key(list(holders), threshold))


@keys.command("release", cls=Connected)
@chain_options
@click.argument("patient", type=ADDRESS)
@key_option
def keys_release(account: Any, patient: str, key: Path) -> None:
    """As a holder, release your share of PATIENT's backup to the new device named in the
    patient's open recovery request (refused if there is none). Confirm with the patient
    by another channel first."""
    from ..records import Party

    with role_client(Party, account, key) as holder:
        digest = holder.release_backup_share(patient)
    click.echo(f"released your share to {patient}'s new device (0x{digest.hex()})")


@keys.group("recover")
def keys_recover() -> None:
    """Recover a lost record key on a new device, with the holders' shares."""


@keys_recover.command("start", cls=Connected)
@chain_options
@click.option(
    "--device",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="the new device's key file (carechain keys generate)",
)
@click.option(
    "--hours",
    type=click.IntRange(1, 168),
    default=24,
    show_default=True,
    help="how long the request stays open for holders to release",
)
def keys_recover_start(account: Any, device: Path, hours: int) -> None:
    """Ask your backup's holders for their shares, sealed to the --device key; your
    account (not the lost key) signs the request. Prints the request id."""
    from ..patient import Patient

    with role_client(Patient, account, device, published=False) as patient:
        request_id = patient.request_recovery(hours * 3600)
    click.echo(f"0x{request_id.hex()}")


@keys_recover.command("finish", cls=Connected)
@chain_options
@click.option(
    "--device",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="the new device's key file (the one recover start named)",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="where to write the recovered (old) key, mode 0600",
)
@click.option(
    "--rotate/--no-rotate",
    default=True,
    show_default=True,
    help="make the --device key your record key (re-wrap, publish, back up again)",
)
def keys_recover_finish(account: Any, device: Path, out: Path, rotate: bool) -> None:
    """Rebuild your lost key from the released shares (each checked against its on-chain
    commitment) into --out; then, with --rotate, re-wrap your records' data keys to the
    --device key, publish it in place of the old one, close the request and back the new
    key up to the same holders."""
    from ..model import EscrowKind
    from ..patient import Patient

    with role_client(Patient, account, device, published=False) as patient:
        recovered = patient.recover_key()
        save_key_pair(recovered, out)
        click.echo(f"recovered your {recovered.suite.name} key into {out}")
        if not rotate:
            return
        backup = patient.contracts.escrow.escrow(patient.address, EscrowKind.BACKUP)
        patient.rotate_key(recovered)
        patient.close_recovery()
        click.echo(f"your record key is now the one in {device}; the old one is replaced")
        if backup is not None:
            _echo_escrow(patient.back_up_key(backup.holders, backup.threshold))
