"""carechain consent: grant, deny, revoke, sign, relay, list, export and import consent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..model import SIGNATURE_TTL, Purpose, SignedConsent, utc_minutes
from .common import (
    ADDRESS,
    DAYS,
    Connected,
    chain_options,
    hex32,
    key_option,
    next_block_time,
    parse_scope,
    purpose_option,
    role_client,
    scope_option,
)


@click.group()
def consent() -> None:
    """Grant, deny, revoke, sign, relay, list, export and import consent."""


def consent_terms(function: Any) -> Any:
    """GRANTEE and what a consent says (--scope, --purpose, --days), and the patient's --key:
    the options `consent grant` and `consent sign` share."""
    for option in reversed(
        [
            click.argument("grantee", type=ADDRESS),
            scope_option,
            purpose_option,
            click.option(
                "--days",
                type=DAYS,
                default=30,
                show_default=True,
                help="how many days the consent lasts from now",
            ),
            key_option,
        ]
    ):
        function = option(function)
    return function


@consent.command("grant", cls=Connected)
@chain_options
@consent_terms
@click.option(
    "--deny",
    is_flag=True,
    help="record a refusal instead of a permission (it overrides a permission)",
)
def consent_grant(
    account: Any, grantee: str, scope: str, purpose: str, days: float, key: Path, deny: bool
) -> None:
    """Let GRANTEE read your records in --scope for --purpose during --days (as the patient).

    Data keys of the records already in scope are wrapped to GRANTEE's published key and
    published on IPFS; --deny instead refuses that scope inside a wider grant."""

    from ..patient import Patient

    until = next_block_time() + int(days * 86400)
    with role_client(Patient, account, key) as patient:
        if deny:
            grant_id = patient.deny_access(
                grantee, parse_scope(scope), Purpose[purpose.upper()], until
            )
        else:
            grant_id, _ = patient.grant_access(
                grantee, parse_scope(scope), Purpose[purpose.upper()], until
            )
    click.echo(f"consent 0x{grant_id.hex()} {'denies' if deny else 'grants'} {grantee}")


@consent.command("revoke", cls=Connected)
@chain_options
@click.argument("grant_id")
def consent_revoke(account: Any, grant_id: str) -> None:
    """Withdraw consent GRANT_ID (as the patient or a guardian)."""
    from ..onchain import Contracts

    Contracts.load().consent.revoke(account, hex32(grant_id))
    click.echo(f"revoked 0x{hex32(grant_id).hex()}")


@consent.command("list", cls=Connected)
@chain_options
@click.option(
    "--patient", default=None, type=ADDRESS, help="whose consents (default: the account's own)"
)
def consent_list(account: Any, patient: str | None) -> None:
    """List the consents of PATIENT (default: the account)."""
    from ..onchain import Contracts

    for c in Contracts.load().consent.consents(patient=patient or account.address):
        state = "revoked" if c.revoked else ("active" if c.active else "inactive")
        kind = "deny" if c.deny else "permit"
        click.echo(
            f"0x{c.grant_id.hex()} {kind} {c.grantee} {c.scope.describe()} "
            f"{c.purpose.name.lower()} until {utc_minutes(c.end)} [{state}]"
        )


@consent.command("export", cls=Connected)
@chain_options
@click.argument("grant_id")
def consent_export(account: Any, grant_id: str) -> None:
    """Print consent GRANT_ID as a FHIR R4 Consent resource."""
    from ..fhir_consent import to_fhir_consent
    from ..onchain import Contracts

    wanted = hex32(grant_id)
    for c in Contracts.load().consent.consents(patient=account.address):
        if c.grant_id == wanted:
            click.echo(json.dumps(to_fhir_consent(c), indent=2))
            return
    raise click.ClickException(f"no consent 0x{wanted.hex()} of {account.address}")


@consent.command("import", cls=Connected)
@chain_options
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@key_option
def consent_import(account: Any, file: Path, key: Path) -> None:
    """Grant (or deny) what the FHIR Consent in FILE says (as the patient)."""
    from ..fhir_consent import from_fhir_consent
    from ..patient import Patient

    grantee, scope, purpose, end, deny = from_fhir_consent(json.loads(file.read_text()))
    with role_client(Patient, account, key) as patient:
        if deny:
            grant_id = patient.deny_access(grantee, scope, purpose, end)
        else:
            grant_id, _ = patient.grant_access(grantee, scope, purpose, end)
    click.echo(f"consent 0x{grant_id.hex()} from {file}")


@consent.command("sign", cls=Connected)
@chain_options
@consent_terms
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="where to write the signed consent (JSON), for a relayer to send",
)
def consent_sign(
    account: Any, grantee: str, scope: str, purpose: str, days: float, key: Path, out: Path
) -> None:
    """Sign a consent for a relayer (you need no ETH); writes the payload to --out."""

    from ..patient import Patient

    now = next_block_time()
    with role_client(Patient, account, key) as patient:
        signed = patient.sign_access(
            grantee, parse_scope(scope), Purpose[purpose.upper()], now + int(days * 86400)
        )
    out.write_text(signed.to_json() + "\n")
    click.echo(
        f"signed consent written to {out}; it can be relayed for {SIGNATURE_TTL // 60} minutes, "
        "and not after any later decision of yours about the same consent"
    )


@consent.command("relay", cls=Connected)
@chain_options
@click.argument("payload", type=click.Path(exists=True, path_type=Path))
def consent_relay(account: Any, payload: Path) -> None:
    """Submit a patient's signed consent from PAYLOAD (anyone may; you pay the gas)."""
    from ..onchain import Contracts

    grant_id = Contracts.load().consent.relay(account, SignedConsent.from_json(payload.read_text()))
    click.echo(f"relayed consent 0x{grant_id.hex()}")
