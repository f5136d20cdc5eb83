"""carechain emergency: break-glass, and emergency escrow that lets it open records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import ADDRESS, Connected, chain_options, hex32, key_option, role_client


@click.group()
def emergency() -> None:
    """Break-glass access, and the emergency escrow that lets it open records."""


@emergency.command("enroll", cls=Connected)
@chain_options
@key_option
@click.option(
    "--institution",
    "institutions",
    type=ADDRESS,
    multiple=True,
    required=True,
    help="an emergency institution the governor admitted (repeat)",
)
@click.option(
    "--threshold",
    type=int,
    default=2,
    show_default=True,
    help="how many institutions must release their shares to open a record",
)
def emergency_enroll(
    account: Any, key: Path, institutions: tuple[str, ...], threshold: int
) -> None:
    """As a patient, let emergency clinicians open your records during an open
    break-glass: each record's data key is split among --institution (--threshold needed):
    your records so far now, new ones by the hospital that anchors them. Run it again to
    replace the institutions."""
    from ..patient import Patient

    with role_client(Patient, account, key) as patient:
        view = patient.enroll_emergency(list(institutions), threshold)
    click.echo(
        f"enrolled (epoch {view.epoch}): {view.threshold} of {len(view.holders)} institutions "
        "release shares of your records' keys, only during an open break-glass"
    )


@emergency.command("opt-out", cls=Connected)
@chain_options
def emergency_opt_out(account: Any) -> None:
    """As a patient, opt out of emergency escrow: break-glass then authorises a clinician
    but opens nothing (only the hospital that wrote a record can serve it in an emergency)."""
    from ..model import EscrowKind
    from ..onchain import Contracts

    Contracts.load().escrow.remove(account, EscrowKind.EMERGENCY)
    click.echo("opted out: institutions release nothing more; new records are not escrowed")


@emergency.command("open", cls=Connected)
@chain_options
@click.argument("patient", type=ADDRESS)
@click.option(
    "--reason", required=True, help="a reason code, e.g. unconscious-in-ED (no free text)"
)
@click.option(
    "--hours",
    type=click.FloatRange(0.01, 24),
    default=1,
    show_default=True,
    help="how long the emergency access stays open",
)
def emergency_open(account: Any, patient: str, reason: str, hours: float) -> None:
    """As a provider's clinician, open break-glass access to PATIENT's records (evented,
    reviewed by an auditor). Prints the access id."""
    from ..onchain import Contracts

    access_id = Contracts.load().consent.open_break_glass(
        account, patient, reason, int(hours * 3600)
    )
    click.echo(f"0x{access_id.hex()}")


@emergency.command("close", cls=Connected)
@chain_options
@click.argument("access_id")
def emergency_close(account: Any, access_id: str) -> None:
    """End break-glass ACCESS_ID now (its patient, a guardian, its clinician or an auditor)."""
    from ..onchain import Contracts

    Contracts.load().consent.close_break_glass(account, hex32(access_id))
    click.echo(f"closed {access_id}")


@emergency.command("release", cls=Connected)
@chain_options
@click.argument("patient", type=ADDRESS)
@click.argument("access_id")
@key_option
def emergency_release(account: Any, patient: str, access_id: str, key: Path) -> None:
    """As an emergency institution, release your shares of the keys of PATIENT's records to
    the clinician of break-glass ACCESS_ID — refused unless it is open, for PATIENT."""
    from ..records import Party

    with role_client(Party, account, key) as institution:
        release = institution.release_emergency_share(patient, hex32(access_id))
    click.echo(
        f"released your shares of {release.records} record(s) for {access_id} "
        f"(0x{release.digest.hex()})"
    )
    for problem in release.left_out:
        click.echo(f"left out {problem}", err=True)


@emergency.command("read", cls=Connected)
@chain_options
@click.argument("record_id")
@click.argument("access_id")
@key_option
def emergency_read(account: Any, record_id: str, access_id: str, key: Path) -> None:
    """As the clinician of open break-glass ACCESS_ID, read RECORD_ID with the shares of its
    key the institutions released to you; the read is receipted on the patient's trail.
    Prints the FHIR JSON."""
    from ..fhir import dumps as fhir_dumps
    from ..records import Party

    with role_client(Party, account, key) as clinician:
        opened = clinician.read_in_emergency(hex32(record_id), hex32(access_id))
        clinician.receipts.flush()
    click.echo(fhir_dumps(opened.resource, indent=2))


@emergency.command("log", cls=Connected)
@chain_options
def emergency_log(account: Any) -> None:
    """As a patient, every emergency release to a clinician: the break-glass, its clinician,
    the auditor's verdict, and which institution released its shares."""
    from ..model import EscrowKind
    from ..onchain import Contracts

    contracts = Contracts.load()
    for release in contracts.escrow.releases(str(account.address), EscrowKind.EMERGENCY):
        access = contracts.consent.break_glass_by_id(release.request_id)
        verdict = access.verdict.upper() if access.verdict == "unjustified" else access.verdict
        click.echo(
            f"0x{release.request_id.hex()} clinician {access.clinician} "
            f"({verdict}): shares from institution {release.index} {release.holder} "
            f"(block {release.block})"
        )
