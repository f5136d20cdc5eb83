"""carechain trials: clinical trials registered before they start, and rewards for taking
part. ``list``, ``show`` and ``verify`` are for anyone (no account needed); the sponsor
registers, amends, reads, posts results, funds and attests; a participant enrols,
withdraws and claims."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from .common import (
    ADDRESS,
    DAYS,
    Connected,
    chain_options,
    hex32,
    key_option,
    money,
    open_ipfs,
    parse_scope,
    role_client,
    units,
)


class _Viewing(click.Command):
    """A read-only command against a node (``--rpc``): nothing is signed, no account."""

    def invoke(self, ctx: click.Context) -> Any:
        from ..onchain.rpc import using

        with using(ctx.params.pop("rpc")):
            return super().invoke(ctx)


def _rpc_option(function: Any) -> Any:
    from ..model import DEFAULT_RPC_URL

    return click.option(
        "--rpc",
        envvar="CARECHAIN_RPC_URL",
        default=DEFAULT_RPC_URL,
        show_default=True,
        help="the Ethereum node's JSON-RPC URL (or CARECHAIN_RPC_URL)",
    )(function)


def _when(seconds: int) -> str:
    if not seconds:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _fhir_file(path: Path) -> dict[str, Any]:
    from ..fhir import loads

    data = loads(path.read_text())
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path} does not hold a FHIR resource (a JSON object)")
    return data


trial_argument = click.argument("trial_id", type=click.IntRange(min=1))


@click.group()
def trials() -> None:
    """Clinical trials: registered before enrolment, outcome switches flagged, results
    checked, participants rewarded for consented, receipted data."""


# --------------------------------------------------------------------------- anyone


@trials.command("list", cls=_Viewing)
@_rpc_option
def trials_list() -> None:
    """Every registered trial: its status (overdue when results are late), enrolment, and
    how many times its primary outcomes were switched after enrolment began."""
    from rich.console import Console
    from rich.table import Table

    from ..onchain import Contracts

    contracts = Contracts.load()
    now = contracts.node.head_timestamp()
    table = Table("trial", "sponsor", "status", "enrolled", "version", "outcome switches", "due")
    for trial_id in range(1, contracts.trials.count() + 1):
        trial = contracts.trials.trial(trial_id)
        if trial is None:
            continue
        status = trial.status(now)
        switches = str(trial.outcome_switches) if trial.outcome_switches else "none"
        table.add_row(
            str(trial_id),
            trial.sponsor,
            status.upper() if status == "overdue" else status,
            f"{trial.enrolled}/{trial.planned_enrolment}",
            str(trial.version),
            f"[bold red]{switches}[/]" if trial.outcome_switches else switches,
            _when(trial.results_due),
        )
    Console(width=200).print(table)


def _report(trial_id: int) -> Any:
    from ..onchain import Contracts
    from ..trials import inspect_trial

    with open_ipfs() as ipfs:
        return inspect_trial(Contracts.load(), ipfs, trial_id)


@trials.command("show", cls=_Viewing)
@_rpc_option
@trial_argument
@click.option("--json", "as_json", is_flag=True, help="the report as JSON on stdout")
def trials_show(trial_id: int, as_json: bool) -> None:
    """TRIAL_ID's versions (with their reasons, in chain order against the first enrolment),
    its outcomes (was each registered before enrolment began?), results and flags."""
    report = _report(trial_id)
    if as_json:
        click.echo(json.dumps(_as_json(report), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    trial = report.trial
    console = Console(width=200)
    console.print(
        f"trial {trial_id} by {trial.sponsor}: {trial.status(report.now)}, "
        f"{trial.enrolled}/{trial.planned_enrolment} enrolled "
        f"(first {_when(trial.first_enrolment_at)}), "
        f"scope {trial.scope.describe()}, ends {_when(trial.ends_at)}, "
        f"results due {_when(trial.results_due)}"
    )
    versions = Table("version", "registered", "before enrolment", "primary outcomes", "reason")
    for v in report.versions:
        primary = "; ".join(v.primary) if v.primary is not None else f"unreadable: {v.problem}"
        flag = " [bold red]OUTCOME SWITCH[/]" if v.version.outcome_switch else ""
        versions.add_row(
            f"{v.version.number}{flag}",
            _when(v.version.registered_at),
            "yes" if v.before_enrolment else "no",
            primary,
            v.reason or "(registration)",
        )
    console.print(versions)
    outcomes = Table("outcome", "kind", "registered before enrolment began?", "first in version")
    for check in report.outcomes:
        if check.registered_before_enrolment:
            answer = "yes"
        elif check.registered_as:
            answer = f"[bold red]no: it was {check.registered_as}[/]"
        else:
            answer = "[bold red]no[/]"
        outcomes.add_row(check.name, check.kind, answer, str(check.first_version))
    console.print(outcomes)
    if trial.results_at:
        console.print(f"results posted {_when(trial.results_at)}: 0x{trial.results_digest.hex()}")
    for flag in report.flags:
        console.print(f"[bold red]{flag}[/]")


def _as_json(report: Any) -> dict[str, Any]:
    trial = report.trial
    return {
        "trial": trial.trial_id,
        "sponsor": trial.sponsor,
        "status": trial.status(report.now),
        "enrolled": trial.enrolled,
        "planned_enrolment": trial.planned_enrolment,
        "first_enrolment_at": trial.first_enrolment_at,
        "results_due": trial.results_due,
        "results_digest": "0x" + trial.results_digest.hex() if trial.results_at else None,
        "versions": [
            {
                "version": v.version.number,
                "registered_at": v.version.registered_at,
                "before_enrolment": v.before_enrolment,
                "outcome_switch": v.version.outcome_switch,
                "reason": v.reason,
                "primary": v.primary,
                "secondary": v.secondary,
            }
            for v in report.versions
        ],
        "outcomes": [
            {
                "name": c.name,
                "kind": c.kind,
                "registered_as_at_enrolment": c.registered_as or None,
                "registered_before_enrolment": c.registered_before_enrolment,
            }
            for c in report.outcomes
        ],
        "flags": report.flags,
    }


@trials.command("verify", cls=_Viewing)
@_rpc_option
@trial_argument
def trials_verify(trial_id: int) -> None:
    """Check TRIAL_ID from the chain and the documents whose digests it holds: every outcome
    registered before enrolment began, no outcome switch, results on time and naming the
    registered outcomes. Exit code 1 when anything is flagged."""
    report = _report(trial_id)
    for check in report.outcomes:
        answer = (
            "registered before enrolment began"
            if check.registered_before_enrolment
            else (
                f"NOT registered as {check.kind} before enrolment began"
                + (f" (it was {check.registered_as})" if check.registered_as else "")
            )
        )
        click.echo(f"{check.kind} outcome {check.name!r}: {answer}")
    click.echo(
        "primary outcomes unchanged since enrolment began (chain)"
        if report.primary_unchanged_since_enrolment
        else f"primary outcomes switched {report.trial.outcome_switches} time(s) after "
        "enrolment began (chain)"
    )
    for flag in report.flags:
        click.secho(flag, fg="red")
    if report.flags:
        raise SystemExit(1)
    click.echo(f"trial {trial_id}: nothing flagged")


# --------------------------------------------------------------------------- sponsor


@trials.command("register", cls=Connected)
@chain_options
@key_option
@click.option(
    "--study",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="the FHIR ResearchStudy (outcome measures as objectives), JSON",
)
@click.option(
    "--protocol",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="the protocol document (public: it goes on IPFS unencrypted)",
)
@click.option("--planned", type=click.IntRange(min=1), required=True, help="participants wanted")
@click.option("--enrol-days", type=DAYS, required=True, help="enrolment closes after this")
@click.option("--days", type=DAYS, required=True, help="the trial ends after this")
@click.option("--results-days", type=DAYS, required=True, help="results are due after this")
@click.option(
    "--scope",
    default="all",
    show_default=True,
    help="what the enrolment consent covers: all | category:<name>",
)
@click.option(
    "--per-contribution",
    default="0",
    show_default=True,
    help="tokens per receipted research read of a record version",
)
@click.option(
    "--per-milestone", default="0", show_default=True, help="tokens per milestone you attest"
)
@click.option("--cap", default="0", show_default=True, help="most tokens one participant earns")
def trials_register(
    account: Any,
    key: Path,
    study: Path,
    protocol: Path,
    planned: int,
    enrol_days: float,
    days: float,
    results_days: float,
    scope: str,
    per_contribution: str,
    per_milestone: str,
    cap: str,
) -> None:
    """As a sponsor, register a trial. Prints its id."""
    from ..trials import Sponsor

    with role_client(Sponsor, account, key) as sponsor:
        now = sponsor.contracts.node.next_block_time()
        claims = sponsor.contracts.claims
        trial_id = sponsor.register_trial(
            _fhir_file(study),
            protocol.read_bytes(),
            planned,
            now + int(enrol_days * 86400),
            now + int(days * 86400),
            now + int(results_days * 86400),
            parse_scope(scope),
            units(claims, per_contribution, allow_zero=True),
            units(claims, per_milestone, allow_zero=True),
            units(claims, cap, allow_zero=True),
        )
    click.echo(str(trial_id))


@trials.command("amend", cls=Connected)
@chain_options
@key_option
@trial_argument
@click.option(
    "--study",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="the amended FHIR ResearchStudy (JSON)",
)
@click.option(
    "--protocol",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="a new protocol document (default: keep the current one)",
)
@click.option("--reason", required=True, help="why (public, at most 256 bytes)")
def trials_amend(
    account: Any, key: Path, trial_id: int, study: Path, protocol: Path | None, reason: str
) -> None:
    """As its sponsor, amend TRIAL_ID: a new version with a public reason. Changing the
    primary outcomes after enrolment began is flagged as an outcome switch, for good."""
    from ..trials import Sponsor

    with role_client(Sponsor, account, key) as sponsor:
        version, switched = sponsor.amend_trial(
            trial_id, _fhir_file(study), reason, protocol.read_bytes() if protocol else None
        )
    click.echo(f"trial {trial_id} version {version}")
    if switched:
        click.secho(
            "flagged as an OUTCOME SWITCH: the primary outcomes changed after enrolment began",
            fg="red",
            err=True,
        )


@trials.command("read", cls=Connected)
@chain_options
@key_option
@click.argument("record_id")
def trials_read(account: Any, key: Path, record_id: str) -> None:
    """As a sponsor, read a participant's RECORD_ID under their research consent (refused
    outside it); the read is receipted on their trail. Prints the FHIR JSON."""
    from ..fhir import dumps as fhir_dumps
    from ..trials import Sponsor

    with role_client(Sponsor, account, key) as sponsor:
        opened = sponsor.read_for_trial(hex32(record_id))
        sponsor.receipts.flush()
    click.echo(fhir_dumps(opened.resource, indent=2))


@trials.command("results", cls=Connected)
@chain_options
@key_option
@trial_argument
@click.option(
    "--results",
    "results_file",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="the FHIR EvidenceReport: one section per outcome",
)
def trials_results(account: Any, key: Path, trial_id: int, results_file: Path) -> None:
    """As its sponsor, post TRIAL_ID's results (once). Reporting an outcome never registered,
    or omitting a primary one, is posted and flagged for every reader."""
    from ..trials import Sponsor

    with role_client(Sponsor, account, key) as sponsor:
        digest, findings = sponsor.post_results(trial_id, _fhir_file(results_file))
    click.echo(f"results posted: 0x{digest.hex()}")
    for finding in findings:
        click.secho(f"flagged: the results {finding}", fg="red", err=True)


@trials.command("fund", cls=Connected)
@chain_options
@key_option
@trial_argument
@click.argument("amount")
def trials_fund(account: Any, key: Path, trial_id: int, amount: str) -> None:
    """As its sponsor, add AMOUNT tokens to TRIAL_ID's reward escrow."""
    from ..trials import Sponsor

    with role_client(Sponsor, account, key) as sponsor:
        claims = sponsor.contracts.claims
        sponsor.fund_trial(trial_id, units(claims, amount))
        trial = sponsor.contracts.trials.trial(trial_id)
    click.echo(f"escrow {money(claims, trial.escrow)} (reserved {money(claims, trial.reserved)})")


@trials.command("attest", cls=Connected)
@chain_options
@key_option
@trial_argument
@click.argument("participant", type=ADDRESS)
@click.argument("milestone")
def trials_attest(account: Any, key: Path, trial_id: int, participant: str, milestone: str) -> None:
    """As its sponsor, attest that PARTICIPANT completed MILESTONE (a code such as
    week-12-visit); the reward is reserved for them to claim."""
    from ..trials import Sponsor

    with role_client(Sponsor, account, key) as sponsor:
        sponsor.attest_milestone(trial_id, participant, milestone)
    click.echo(f"attested {milestone} for {participant}")


# --------------------------------------------------------------------------- participants


@trials.command("enrol", cls=Connected)
@chain_options
@key_option
@trial_argument
def trials_enrol(account: Any, key: Path, trial_id: int) -> None:
    """As a patient, enrol in TRIAL_ID: consent to its sponsor (research, the trial's scope,
    until its end; your data keys in scope shared with it), then enrol."""
    from ..patient import Patient
    from ..trials import enrol

    with role_client(Patient, account, key) as patient:
        grant_id = enrol(patient, trial_id)
        trial = patient.contracts.trials.trial(trial_id)
    click.echo(
        f"enrolled in trial {trial_id}: consent 0x{grant_id.hex()} lets {trial.sponsor} read "
        f"{trial.scope.describe()} for research until {_when(trial.ends_at)}"
    )


@trials.command("withdraw", cls=Connected)
@chain_options
@key_option
@trial_argument
def trials_withdraw(account: Any, key: Path, trial_id: int) -> None:
    """As a participant, withdraw from TRIAL_ID: your consent is revoked and the withdrawal
    recorded. Rewards already earned stay claimable. The consent is shared by the sponsor's
    other trials over the same scope you are enrolled in: you are withdrawn from those too."""
    from ..patient import Patient
    from ..trials import withdraw

    with role_client(Patient, account, key) as patient:
        withdrawn = withdraw(patient, trial_id)
    click.echo(f"withdrawn from trial {trial_id}; earned rewards stay claimable")
    if len(withdrawn) > 1:
        others = ", ".join(str(t) for t in withdrawn[1:])
        click.echo(f"also withdrawn from trial(s) {others}: they stood on the same consent")


@trials.command("claim", cls=Connected)
@chain_options
@key_option
@trial_argument
def trials_claim(account: Any, key: Path, trial_id: int) -> None:
    """As a participant, claim your rewards in TRIAL_ID: one per record version the sponsor
    read under your consent (proven by its receipts on your trail), and attested milestones."""
    from ..patient import Patient
    from ..trials import claim_rewards

    with role_client(Patient, account, key) as patient:
        outcome = claim_rewards(patient, trial_id)
        claims = patient.contracts.claims
    click.echo(
        f"paid {money(claims, outcome.paid)} tokens: {outcome.contributions} contributions, "
        f"{money(claims, outcome.milestones)} for milestones"
    )
    for refusal in outcome.refused:
        click.secho(f"not paid: {refusal}", fg="yellow", err=True)
