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


def records_read(
    account: Any, record_id: str, key: Path, version: int | None, purpose: str
) -> None:
    """Fetch, verify and decrypt RECORD_ID with the key pair in KEY; prints the FHIR JSON.

    The record's patient and author read directly; anyone else needs the patient's consent
    for --purpose, and their read is logged as a signed, anchored access receipt."""
    from .chain import Contracts, Purpose
    from .records import Party

    with _ipfs() as ipfs:
        reader = Party(account, Contracts.load(), ipfs, load_key_pair(key))
        opened = reader.read_record(_hex32(record_id), version, Purpose[purpose.upper()])
        if reader.receipts.pending:
            reader.receipts.flush()
    click.echo(json.dumps(opened.resource, indent=2))


def _hex32(value: str) -> bytes:
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not hex") from exc
    if len(raw) != 32:
        raise click.BadParameter(f"{value!r} is not 32 bytes")
    return raw


def _scope(text: str) -> Any:
    from .chain import Scope
    from .fhir import Category

    kind, _, value = text.partition(":")
    if kind == "all" and not value:
        return Scope.all()
    if kind == "category" and value.upper() in Category.__members__:
        return Scope.category(Category[value.upper()])
    if kind == "record" and value:
        return Scope.record(_hex32(value))
    raise click.BadParameter(
        f"{text!r}: use all, category:<{'|'.join(c.name.lower() for c in Category)}> "
        "or record:0x<id>"
    )


def consent_grant(
    account: Any, grantee: str, scope: str, purpose: str, days: float, key: Path, deny: bool
) -> None:
    """Let GRANTEE read your records in --scope for --purpose during --days (as the patient).

    Data keys of the records already in scope are wrapped to GRANTEE's published key and
    published on IPFS; --deny instead refuses that scope inside a wider grant."""
    from ape import chain

    from .chain import Contracts, Purpose
    from .patient import Patient

    until = chain.blocks.head.timestamp + int(days * 86400)
    with _ipfs() as ipfs:
        patient = Patient(account, Contracts.load(), ipfs, load_key_pair(key))
        if deny:
            grant_id = patient.deny_access(grantee, _scope(scope), Purpose[purpose.upper()], until)
        else:
            grant_id, _ = patient.grant_access(
                grantee, _scope(scope), Purpose[purpose.upper()], until
            )
    click.echo(f"consent 0x{grant_id.hex()} {'denies' if deny else 'grants'} {grantee}")


def consent_revoke(account: Any, grant_id: str) -> None:
    """Withdraw consent GRANT_ID (as the patient or a guardian)."""
    from .chain import Contracts

    Contracts.load().consent.revoke(account, _hex32(grant_id))
    click.echo(f"revoked 0x{_hex32(grant_id).hex()}")


def consent_list(account: Any, patient: str | None) -> None:
    """List the consents of PATIENT (default: the account)."""
    from .chain import Contracts

    for c in Contracts.load().consent.consents(patient=patient or account.address):
        state = "revoked" if c.revoked else ("active" if c.active else "inactive")
        kind = "deny" if c.deny else "permit"
        click.echo(
            f"0x{c.grant_id.hex()} {kind} {c.grantee} {c.scope.describe()} "
            f"{c.purpose.name.lower()} until {c.end} [{state}]"
        )


def consent_export(account: Any, grant_id: str) -> None:
    """Print consent GRANT_ID as a FHIR R4 Consent resource."""
    from .chain import Contracts
    from .fhir_consent import to_fhir_consent

    wanted = _hex32(grant_id)
    for c in Contracts.load().consent.consents(patient=account.address):
        if c.grant_id == wanted:
            click.echo(json.dumps(to_fhir_consent(c), indent=2))
            return
    raise click.ClickException(f"no consent 0x{wanted.hex()} of {account.address}")


def consent_import(account: Any, file: Path, key: Path) -> None:
    """Grant (or deny) what the FHIR Consent in FILE says (as the patient)."""
    from .chain import Contracts
    from .fhir_consent import from_fhir_consent
    from .patient import Patient

    grantee, scope, purpose, end, deny = from_fhir_consent(json.loads(file.read_text()))
    with _ipfs() as ipfs:
        patient = Patient(account, Contracts.load(), ipfs, load_key_pair(key))
        if deny:
            grant_id = patient.deny_access(grantee, scope, purpose, end)
        else:
            grant_id, _ = patient.grant_access(grantee, scope, purpose, end)
    click.echo(f"consent 0x{grant_id.hex()} from {file}")


def consent_sign(
    account: Any, grantee: str, scope: str, purpose: str, days: float, key: Path, out: Path
) -> None:
    """Sign a consent for a relayer (you need no ETH); writes the payload to --out."""
    from ape import chain

    from .chain import Contracts, Purpose
    from .patient import Patient

    now = chain.blocks.head.timestamp
    with _ipfs() as ipfs:
        patient = Patient(account, Contracts.load(), ipfs, load_key_pair(key))
        signed = patient.sign_access(
            grantee, _scope(scope), Purpose[purpose.upper()], now + int(days * 86400), now + 86400
        )
    out.write_text(signed.to_json() + "\n")
    click.echo(f"signed consent written to {out}; valid for relaying for 24 hours")


def consent_relay(account: Any, payload: Path) -> None:
    """Submit a patient's signed consent from PAYLOAD (anyone may; you pay the gas)."""
    from .chain import Contracts, SignedConsent

    grant_id = Contracts.load().consent.relay(account, SignedConsent.from_json(payload.read_text()))
    click.echo(f"relayed consent 0x{grant_id.hex()}")


def audit_trail(account: Any, key: Path) -> None:
    """Every anchored read of your records, each receipt verified (as the patient)."""
    from .chain import Contracts
    from .patient import Patient

    with _ipfs() as ipfs:
        patient = Patient(account, Contracts.load(), ipfs, load_key_pair(key))
        trail = patient.audit_trail()
    for entry in trail:
        r = entry.receipt
        ok = "verified" if entry.signature_valid and entry.in_anchored_batch else "INVALID"
        click.echo(
            f"{r.read_at} {r.reader} read 0x{r.record_id.hex()} v{r.version} "
            f"for {r.purpose.name.lower()} [{ok}]"
        )


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
    purposes = click.Choice(["treatment", "payment", "research", "emergency"])
    purpose_option = click.option(
        "--purpose", type=purposes, default="treatment", show_default=True
    )
    records.add_command(
        _connected(
            click.argument("record_id")(
                key_option(
                    purpose_option(click.option("--version", type=int, default=None)(records_read))
                )
            )
        )
    )

    @main.group()
    def consent() -> None:
        """Grant, deny, revoke, sign, relay, list, export and import consent."""

    scope_option = click.option(
        "--scope", default="all", show_default=True, help="all | category:<name> | record:0x<id>"
    )
    days_option = click.option("--days", type=float, default=30, show_default=True)
    grantee_arg = click.argument("grantee")
    consent.add_command(
        _connected(
            grantee_arg(
                scope_option(
                    purpose_option(
                        days_option(key_option(click.option("--deny", is_flag=True)(consent_grant)))
                    )
                )
            )
        )
    )
    consent.add_command(_connected(click.argument("grant_id")(consent_revoke)))
    consent.add_command(_connected(click.option("--patient", default=None)(consent_list)))
    consent.add_command(_connected(click.argument("grant_id")(consent_export)))
    consent.add_command(
        _connected(
            click.argument("file", type=click.Path(exists=True, path_type=Path))(
                key_option(consent_import)
            )
        )
    )
    consent.add_command(
        _connected(
            grantee_arg(
                scope_option(
                    purpose_option(
                        days_option(
                            key_option(
                                click.option(
                                    "--out", required=True, type=click.Path(path_type=Path)
                                )(consent_sign)
                            )
                        )
                    )
                )
            )
        )
    )
    consent.add_command(
        _connected(
            click.argument("payload", type=click.Path(exists=True, path_type=Path))(consent_relay)
        )
    )

    @main.group()
    def audit() -> None:
        """The read audit trail."""

    audit.add_command(_connected(key_option(audit_trail)))


_register_connected_commands()
