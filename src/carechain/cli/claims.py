"""carechain claims: escrow, policies, submission, review, settlement, disputes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..fhir import dumps as fhir_dumps
from ..fhir import loads as fhir_loads
from ..model import ClaimStatus, PolicyTerms
from .common import (
    ADDRESS,
    CLAIM_STATUSES,
    DAYS,
    Connected,
    chain_options,
    echo_escrow,
    hex32,
    key_option,
    money,
    next_block_time,
    progress_bar,
    role_client,
    units,
)


@click.group()
def claims() -> None:
    """Insurance claims: escrow, policies, submission, review, settlement, disputes."""


@claims.command("fund", cls=Connected)
@chain_options
@click.argument("amount")
def claims_fund(account: Any, amount: str) -> None:
    """Deposit AMOUNT tokens into your escrow (as an insurer); AMOUNT like 1000.00."""
    from ..onchain import Contracts

    claims = Contracts.load().claims
    claims.deposit(account, units(claims, amount))
    echo_escrow(claims, account.address)


@claims.command("faucet", cls=Connected)
@chain_options
@click.argument("amount")
@click.option("--to", default=None, type=ADDRESS, help="who gets them")
def claims_faucet(account: Any, amount: str, to: str | None) -> None:
    """Mint AMOUNT test tokens to --to (default: you), on a local development chain only:
    the stablecoin `ape run deploy` deploys there has an open mint."""
    from ..onchain import Contracts

    claims = Contracts.load().claims
    receiver = to or account.address
    claims.mint_test_tokens(account, receiver, units(claims, amount))
    click.echo(
        f"minted {amount} test tokens to {receiver}; "
        f"it holds {money(claims, claims.balance_of(receiver))}"
    )


@claims.command("withdraw", cls=Connected)
@chain_options
@click.argument("amount")
def claims_withdraw(account: Any, amount: str) -> None:
    """Withdraw AMOUNT of escrow not reserved for approved claims (as an insurer)."""
    from ..onchain import Contracts

    claims = Contracts.load().claims
    claims.withdraw(account, units(claims, amount))
    echo_escrow(claims, account.address)


@claims.command("policy", cls=Connected)
@chain_options
@click.argument("patient", type=ADDRESS)
@click.option("--limit", required=True, help="most the insurer pays, e.g. 5000.00")
@click.option(
    "--deductible",
    default="0",
    show_default=True,
    help="what the patient pays first in a year, in tokens (e.g. 100.00)",
)
@click.option(
    "--copay-bps",
    type=click.IntRange(0, 10_000),
    default=0,
    show_default=True,
    help="the patient's share after the deductible, in basis points (1000 = 10%)",
)
@click.option("--cover", required=True, help="covered categories, e.g. observation,condition")
@click.option(
    "--days",
    type=DAYS,
    default=365,
    show_default=True,
    help="how many days the policy runs from today",
)
@click.option(
    "--auto-approve-below",
    default="0",
    show_default=True,
    help="claims below this amount, in tokens, are approved by the chain on submission (0: none)",
)
def claims_policy(
    account: Any,
    patient: str,
    limit: str,
    deductible: str,
    copay_bps: int,
    cover: str,
    days: float,
    auto_approve_below: str,
) -> None:
    """Issue a policy to PATIENT (as an insurer); prints its id."""

    from ..fhir import Category
    from ..onchain import Contracts

    claims = Contracts.load().claims
    try:
        covered = frozenset(Category[c.strip().upper()] for c in cover.split(",") if c.strip())
    except KeyError as exc:
        names = ", ".join(c.name.lower() for c in Category)
        raise click.BadParameter(f"unknown category {exc}; one of: {names}") from None
    now = next_block_time()
    terms = PolicyTerms(
        patient,
        units(claims, limit),
        units(claims, deductible, allow_zero=True),
        copay_bps,
        covered,
        now,
        now + int(days * 86400),
        units(claims, auto_approve_below, allow_zero=True),
    )
    policy_id = claims.issue_policy(account, terms)
    click.echo(f"policy {policy_id} issued to {patient}")


@claims.command("submit", cls=Connected)
@chain_options
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option("--policy", type=int, required=True, help="the policy number the claim is made under")
@click.option("--insurer", required=True, type=ADDRESS, help="the insurer's address")
@click.option("--record", multiple=True, required=True, help="evidence record id")
@click.option(
    "--service-date",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="the day of service, if the Claim does not say (item.servicedDate)",
)
@key_option
def claims_submit(
    account: Any,
    file: Path,
    policy: int,
    insurer: str,
    record: tuple[str, ...],
    service_date: Any,
    key: Path,
) -> None:
    """Submit the FHIR Claim in FILE citing --record ids as evidence (as a provider)."""
    from ..hospital import Hospital

    with role_client(Hospital, account, key) as hospital:
        claim_id, receipt = hospital.submit_claim(
            policy,
            insurer,
            fhir_loads(file.read_bytes()),
            [hex32(r) for r in record],
            service_date.date() if service_date else None,
        )
        view = hospital.contracts.claims.claim(claim_id)
    click.echo(f"claim 0x{claim_id.hex()} {view.status.name.lower()} ({receipt.gas_used:,} gas)")


@claims.command("draft", cls=Connected)
@chain_options
@click.argument("patient", type=ADDRESS)
@click.option("--insurer", required=True, type=ADDRESS, help="the insurer's address")
@click.option("--policy", type=int, required=True, help="the policy number the claim is made under")
@click.option("--record", multiple=True, required=True, help="evidence record id")
@click.option(
    "--item", multiple=True, required=True, help="CODE:DISPLAY:AMOUNT, e.g. 99213:Visit:120"
)
@click.option(
    "--service-date", type=click.DateTime(["%Y-%m-%d"]), default=None, help="default today"
)
def claims_draft(
    account: Any,
    patient: str,
    insurer: str,
    policy: int,
    record: tuple[str, ...],
    item: tuple[str, ...],
    service_date: Any,
) -> None:
    """Print a FHIR Claim from you (the provider) for PATIENT to submit with `claims submit`:
    each --item is CODE:DISPLAY:AMOUNT (a CPT code, its text, tokens like 120.00)."""
    from datetime import date

    from ..fhir_claims import build_claim
    from ..onchain import Contracts

    claims = Contracts.load().claims
    codes = []
    for text in item:
        code, _, rest = text.partition(":")
        display, _, amount = rest.rpartition(":")
        if not code or not display or not amount:
            raise click.BadParameter(f"{text!r}: write an item as CODE:DISPLAY:AMOUNT")
        codes.append((code, display, units(claims, amount)))
    day = service_date.date() if service_date else date.today()
    resource = build_claim(
        patient, account.address, insurer, policy, day, codes, [hex32(r) for r in record]
    )
    click.echo(fhir_dumps(resource, indent=2))


@claims.command("list", cls=Connected)
@chain_options
@click.option("--status", type=click.Choice(CLAIM_STATUSES), help="show only claims in this state")
def claims_list(account: Any, status: str | None) -> None:
    """Claims where you are the insurer, the patient or the provider."""
    from rich.console import Console
    from rich.table import Table

    from ..onchain import Contracts

    claims = Contracts.load().claims
    me = account.address
    views = {v.claim_id: v for v in claims.claims(provider=me)}
    for view in claims.claims_under(insurer=me) + claims.claims_under(patient=me):
        views[view.claim_id] = view
    wanted = ClaimStatus[status.upper()] if status else None
    table = Table("claim", "policy", "provider", "asked", "insurer pays", "patient owes", "status")
    for view in sorted(views.values(), key=lambda v: v.block):
        if wanted is not None and view.status is not wanted:
            continue
        table.add_row(
            f"0x{view.claim_id.hex()}",
            str(view.policy_id),
            view.provider,
            money(claims, view.amount),
            money(claims, view.approved),
            money(claims, view.patient_share),
            view.status.name.lower(),
        )
    Console(width=200).print(table)


@claims.command("show", cls=Connected)
@chain_options
@click.argument("claim_id")
def claims_show(account: Any, claim_id: str) -> None:
    """Print CLAIM_ID's outcome as a FHIR ClaimResponse."""
    from ..fhir_claims import claim_response
    from ..onchain import Contracts

    claims = Contracts.load().claims
    view = claims.claim(hex32(claim_id))
    insurer, patient = claims.parties_of_policy(view.policy_id)
    click.echo(fhir_dumps(claim_response(view, patient, insurer), indent=2))


@claims.command("evidence", cls=Connected)
@chain_options
@click.argument("claim_id")
@key_option
def claims_evidence(account: Any, claim_id: str, key: Path) -> None:
    """Decrypt CLAIM_ID's FHIR Claim and every record it cites (as the insurer); the record
    reads are consented for payment and logged in the patient's audit trail."""
    from ..insurer import Insurer

    with role_client(Insurer, account, key) as insurer:
        view = insurer.contracts.claims.claim(hex32(claim_id))
        _, patient = insurer.contracts.claims.parties_of_policy(view.policy_id)
        bundle = {
            "claim": insurer.open_claim(view, patient),
            "evidence": [r.resource for r in insurer.open_evidence(view)],
        }
        if insurer.receipts.pending:
            insurer.receipts.flush()
    click.echo(fhir_dumps(bundle, indent=2))


@claims.command("approve", cls=Connected)
@chain_options
@click.argument("claim_id")
@click.argument("amount")
def claims_approve(account: Any, claim_id: str, amount: str) -> None:
    """Approve AMOUNT of CLAIM_ID (as its insurer); the chain computes the shares."""
    from ..onchain import Contracts

    claims = Contracts.load().claims
    claims.approve(account, hex32(claim_id), units(claims, amount))
    view = claims.claim(hex32(claim_id))
    click.echo(
        f"approved: insurer pays {money(claims, view.approved)}, "
        f"patient owes {money(claims, view.patient_share)}"
    )


@claims.command("deny", cls=Connected)
@chain_options
@click.argument("claim_id")
@click.option(
    "--reason",
    required=True,
    help="why the claim is denied (a reason code; only its hash goes on-chain)",
)
def claims_deny(account: Any, claim_id: str, reason: str) -> None:
    """Deny CLAIM_ID with a --reason code (as its insurer)."""
    from ..onchain import Contracts

    Contracts.load().claims.deny(account, hex32(claim_id), reason)
    click.echo(f"denied 0x{hex32(claim_id).hex()} ({reason})")


@claims.command("settle", cls=Connected)
@chain_options
@click.argument("claim_ids", nargs=-1)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100),
    default=50,
    help="the most claims settled in one transaction",
)
def claims_settle(account: Any, claim_ids: tuple[str, ...], batch_size: int) -> None:
    """Pay CLAIM_IDS (default: every approved claim of yours) from escrow (as the insurer)."""
    from ..onchain import Contracts

    claims = Contracts.load().claims
    ids = [hex32(c) for c in claim_ids] or None
    with progress_bar("settling claims") as progress:
        receipts, count, paid = claims.settle_all(account, ids, batch_size, progress)
    if not receipts:
        click.echo("nothing to settle")
        return
    click.echo(f"paid {count} claims, {money(claims, paid)} in all")


@claims.command("dispute", cls=Connected)
@chain_options
@click.argument("claim_id")
def claims_dispute(account: Any, claim_id: str) -> None:
    """Dispute the denial of CLAIM_ID (as its provider or patient, within 14 days)."""
    from ..onchain import Contracts

    Contracts.load().claims.dispute(account, hex32(claim_id))
    click.echo(f"disputed 0x{hex32(claim_id).hex()}; an arbitrator will resolve it")


@claims.command("collect", cls=Connected)
@chain_options
@click.argument("to", type=ADDRESS)
def claims_collect(account: Any, to: str) -> None:
    """Collect, to address TO, the claim payments the token refused to send you (a provider
    on a token's blacklist, say): settlement deferred them, nothing was lost."""
    from ..onchain import Contracts

    claims = Contracts.load().claims
    owed = claims.owed_to(account.address)
    if not owed:
        raise click.ClickException("nothing is owed to you: every payment reached you")
    claims.withdraw_owed(account, to)
    click.echo(f"collected {money(claims, owed)} to {to}")


@claims.command("owed", cls=Connected)
@chain_options
def claims_owed(account: Any) -> None:
    """What you owe providers (deductible and co-pay) on approved and paid claims."""
    from ..onchain import Contracts

    claims = Contracts.load().claims
    click.echo(f"you owe {money(claims, claims.amount_owed(account.address))}")
