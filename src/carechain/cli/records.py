"""carechain records: anchor, list and read records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import CarechainError, ChainUnavailableError, IPFSUnavailableError
from ..fhir import dumps as fhir_dumps
from ..fhir import loads as fhir_loads
from ..fhir import logical_id
from ..model import Purpose
from .common import (
    ADDRESS,
    Connected,
    chain_options,
    hex32,
    key_option,
    progress_bar,
    purpose_option,
    role_client,
)


@click.group()
def records() -> None:
    """Anchor, list and read records."""


@records.command("anchor", cls=Connected)
@chain_options
@click.option(
    "--patient",
    required=True,
    type=ADDRESS,
    help="the patient's address (records list: default, the account's own)",
)
@key_option
@click.option(
    "--idempotent/--new-ids",
    default=True,
    show_default=True,
    help="derive record ids from the FHIR ids (a re-run anchors nothing twice), or use "
    "fresh random ids",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def records_anchor(
    account: Any, patient: str, key: Path, files: tuple[Path, ...], idempotent: bool
) -> None:
    """Encrypt FHIR FILES for PATIENT, store them on IPFS and anchor them (as a provider).

    By default the record ids are derived from each resource's FHIR id with a key only this
    hospital holds, so running the same command again (say, after it was interrupted)
    anchors nothing twice: what is already on-chain is reported as "already anchored".
    --new-ids anchors every file as a new record under a random id."""
    from ..hospital import Hospital

    resources = [fhir_loads(path.read_bytes()) for path in files]
    if idempotent:  # all or nothing, named before any work is done
        missing = [str(f) for f, r in zip(files, resources, strict=True) if not logical_id(r)]
        if missing:
            raise CarechainError(
                f"{', '.join(missing)}: no FHIR id, so nothing was anchored; give each "
                "resource an id (re-running then anchors nothing twice), or pass --new-ids"
            )
    with (
        role_client(Hospital, account, key) as hospital,
        progress_bar("anchoring records") as progress,
    ):
        try:
            refs = hospital.anchor_records(
                [(patient, r) for r in resources], idempotent=idempotent, progress=progress
            )
        except (CarechainError, KeyboardInterrupt) as exc:
            if idempotent:
                ids = [hospital.record_id_for(patient, r) for r in resources]
            else:  # random ids are anchored in input order
                ids = [ref.record_id for ref in getattr(exc, "anchored", [])]
            transient = isinstance(
                exc, KeyboardInterrupt | ChainUnavailableError | IPFSUnavailableError
            )
            _report_partial(files, ids, getattr(exc, "anchored", []), idempotent, transient)
            raise
    for path, ref in zip(files, refs, strict=True):
        _echo_anchored(path, ref)


def _echo_anchored(path: Path, ref: Any) -> None:
    done = "already anchored" if ref.existing else f"{ref.gas_used:,} gas"
    click.echo(f"{path}: record {ref.record_id_hex} v{ref.version} {ref.cid} ({done})")


def _report_partial(
    files: tuple[Path, ...],
    ids: list[bytes],
    anchored: list[Any],
    idempotent: bool,
    transient: bool = True,
) -> None:
    """What an interrupted or failed bulk anchor completed: those records on stdout (they
    are anchored), a count and what to do on stderr. A re-run is advised as it is only
    when the stop was an interruption or a node that did not answer; an error in the input
    or a refusal (the line that follows says which) must be fixed first, and with nothing
    anchored there is nothing to count."""
    refs = {ref.record_id: ref for ref in anchored}
    done = [(path, refs[i]) for path, i in zip(files, ids, strict=False) if i in refs]
    for path, ref in done:
        _echo_anchored(path, ref)
    if not transient and not done:
        return
    if idempotent:
        again = "run the same command again: what is anchored is skipped"
    else:
        again = "anchor only the files not listed (a re-run with --new-ids would duplicate)"
    if not transient:
        again = f"fix what the next line says, then {again}"
    click.echo(f"stopped: {len(done)} of {len(files)} files were anchored; {again}", err=True)


@records.command("list", cls=Connected)
@chain_options
@click.option(
    "--patient",
    default=None,
    type=ADDRESS,
    help="the patient's address (records list: default, the account's own)",
)
def records_list(account: Any, patient: str | None) -> None:
    """List the records about PATIENT (default: the account)."""
    from ..onchain import Contracts

    registry = Contracts.load().registry
    versions = registry.records_of(patient or account.address)
    for version, head in zip(
        versions, registry.heads([v.record_id for v in versions]), strict=True
    ):
        flag = " entered-in-error" if head.retracted else ""
        click.echo(
            f"0x{version.record_id.hex()} v{version.version} {head.category.name} "
            f"by {head.author}{flag}"
        )


@records.command("read", cls=Connected)
@chain_options
@click.argument("record_id")
@key_option
@purpose_option
@click.option(
    "--version", type=int, default=None, help="which version to read (default: the latest)"
)
def records_read(
    account: Any, record_id: str, key: Path, version: int | None, purpose: str
) -> None:
    """Fetch, verify and decrypt RECORD_ID with the key pair in KEY; prints the FHIR JSON.

    The record's patient and author read directly; anyone else needs the patient's consent
    for --purpose, and their read is logged as a signed, anchored access receipt. Device
    readings in it are checked against the chain: an untrusted one refuses the read, or
    with CARECHAIN_UNTRUSTED_READINGS=mark is marked and named on stderr."""
    from ..records import Party

    with role_client(Party, account, key) as reader:
        opened = reader.read_record(hex32(record_id), version, Purpose[purpose.upper()])
        if reader.receipts.pending:
            reader.receipts.flush()
    click.echo(fhir_dumps(opened.resource, indent=2))
    # Device readings were checked on the read (refused by default if any failed); with
    # CARECHAIN_UNTRUSTED_READINGS=mark the untrusted ones are marked in the JSON and named
    # here, on stderr, so a pipe gets the record alone.
    for index, verdict in opened.readings:
        if not verdict.trusted:
            click.echo(f"reading {index} is NOT trusted: {verdict.words()}", err=True)
    if opened.readings and all(v.trusted for _, v in opened.readings):
        click.echo(f"{len(opened.readings)} device reading(s), all trusted", err=True)
