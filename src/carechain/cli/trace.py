"""carechain trace: medicines (GS1 codes) and medical devices (UDI) — custody, recalls,
verification."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from .common import (
    ADDRESS,
    Connected,
    chain_options,
    role_client,
)


@click.group()
def trace() -> None:
    """Medicines (GS1 codes) and medical devices (UDI): custody, recalls, verification."""


@contextmanager
def _supply_chain(account: Any) -> Iterator[Any]:
    from ..trace import SupplyChainParty

    with role_client(SupplyChainParty, account) as party:
        yield party


def _gs1(text: str) -> Any:
    from ..errors import InvalidRecordError
    from ..trace import parse_gs1

    try:
        return parse_gs1(text)
    except InvalidRecordError as exc:
        raise click.BadParameter(str(exc)) from None


def _udi(text: str) -> Any:
    from ..errors import InvalidRecordError
    from ..trace import parse_udi

    try:
        return parse_udi(text)
    except InvalidRecordError as exc:
        raise click.BadParameter(str(exc)) from None


@trace.command("prefix", cls=Connected)
@chain_options
@click.argument("prefix")
@click.option("--to", default=None, type=ADDRESS, help="the manufacturer to assign it to")
@click.option("--revoke", is_flag=True, help="take the prefix away")
def trace_prefix(account: Any, prefix: str, to: str | None, revoke: bool) -> None:
    """(Governor) Assign the GS1 company PREFIX (6 to 12 digits, leading zeros included) to
    the manufacturer TO, who alone may then register GTINs and device UDIs under it; or
    --revoke it. Without either, show who owns it."""
    from ..onchain import Contracts

    if not (prefix.isascii() and prefix.isdigit() and 6 <= len(prefix) <= 12):
        raise click.BadParameter(f"a GS1 company prefix is 6 to 12 digits, got {prefix!r}")
    trace = Contracts.load().trace
    if trace is None:
        raise click.UsageError("this deployment has no Traceability contract; redeploy")
    if to and revoke:
        raise click.UsageError("give --to MANUFACTURER or --revoke, not both")
    if to:
        trace.assign_company_prefix(account, prefix, to)
        click.echo(f"company prefix {prefix} assigned to {to}")
    elif revoke:
        trace.revoke_company_prefix(account, prefix)
        click.echo(f"company prefix {prefix} revoked")
    else:
        # Any GTIN under the prefix names it: pad with zeros to 13 digits, indicator 0.
        owned, owner = trace.company_prefix_of(int(("0" + prefix).ljust(13, "0") + "0"))
        click.echo(f"company prefix {owned} belongs to {owner}" if owned else "not assigned")


@trace.command("register", cls=Connected)
@chain_options
@click.argument("code")
@click.option("--first", type=int, required=True, help="the first serial number of the segment")
@click.option("--last", type=int, required=True, help="the last serial number of the segment")
@click.option(
    "--certificate",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="the batch's certificate of analysis (a file; its hash goes on-chain)",
)
def trace_register(account: Any, code: str, first: int, last: int, certificate: Path) -> None:
    """(Manufacturer) Register the batch CODE names ((01) GTIN, (17) expiry, (10) lot) with
    serials FIRST..LAST and its certificate of analysis."""
    gs1 = _gs1(code)
    with _supply_chain(account) as party:
        batch_id = party.register_batch(gs1, first, last, certificate.read_bytes())
    click.echo(f"batch 0x{batch_id.hex()}: {last - first + 1:,} units of {gs1.element_string()}")


@trace.command("ship", cls=Connected)
@chain_options
@click.argument("code")
@click.option("--first", type=int, required=True, help="the first serial number of the segment")
@click.option("--last", type=int, required=True, help="the last serial number of the segment")
@click.option("--to", required=True, type=ADDRESS, help="the address the units are offered to")
def trace_ship(account: Any, code: str, first: int, last: int, to: str) -> None:
    """(Holder) Offer serials FIRST..LAST of CODE's batch to TO; TO accepts them."""
    gs1 = _gs1(code)
    with _supply_chain(account) as party:
        batch_id = party.trace.batch_id(gs1.gtin_number, gs1.lot_bytes)
        party.ship(batch_id, first, last, to)
    click.echo(f"offered {last - first + 1:,} units to {to}; they run `carechain trace accept`")


@trace.command("accept", cls=Connected)
@chain_options
@click.argument("code")
def trace_accept(account: Any, code: str) -> None:
    """(Receiver) Accept every range of CODE's batch offered to you."""
    gs1 = _gs1(code)
    with _supply_chain(account) as party:
        units = party.accept_all(party.trace.batch_id(gs1.gtin_number, gs1.lot_bytes))
    click.echo(f"accepted {units:,} units" if units else "nothing is offered to you")


@trace.command("dispense", cls=Connected)
@chain_options
@click.argument("code")
def trace_dispense(account: Any, code: str) -> None:
    """(Pharmacy or hospital) Dispense the unit CODE names (with its (21) serial)."""
    with _supply_chain(account) as party:
        party.dispense(_gs1(code))
    click.echo("dispensed (no patient is recorded)")


@trace.command("recall", cls=Connected)
@chain_options
@click.argument("code")
@click.option("--reason", required=True, help="why the batch is recalled (a reason code)")
def trace_recall(account: Any, code: str, reason: str) -> None:
    """(Manufacturer or regulator) Recall CODE's batch; lists every holder to contact."""
    gs1 = _gs1(code)
    with _supply_chain(account) as party:
        holders = party.recall(party.trace.batch_id(gs1.gtin_number, gs1.lot_bytes), reason)
    click.echo(f"recalled; {len(holders)} parties hold or are receiving units:")
    for holder in holders:
        click.echo(f"  {holder}")


@trace.command("verify", cls=Connected)
@chain_options
@click.argument("code")
def trace_verify(account: Any, code: str) -> None:
    """Is the unit CODE names genuine, where has it been, is it recalled? Exits 2 if it is
    not genuine, recalled, expired or already dispensed."""
    with _supply_chain(account) as party:
        result = party.verify(_gs1(code))
    if not result.genuine:
        click.secho("NOT GENUINE: no such unit was ever registered", fg="red")
        sys.exit(2)
    flags = [n for n in ("recalled", "expired", "dispensed") if getattr(result, n)]
    click.echo(
        f"genuine; held by {result.holder}"
        + (f", offered to {result.offered_to}" if result.offered_to else "")
    )
    for line in result.history:
        click.echo(f"  {line}")
    if flags:
        click.secho(f"DO NOT USE: {', '.join(flags)}", fg="red")
        sys.exit(2)


@trace.command("device", cls=Connected)
@chain_options
@click.argument("udi")
@click.argument(
    "action", type=click.Choice(["register", "assign", "service", "decommission", "history"])
)
@click.option("--to", default=None, type=ADDRESS, help="the hospital (assign)")
@click.option(
    "--kind",
    type=click.Choice(["maintenance", "calibration", "quality-check"]),
    help="what kind of device (e.g. infusion-pump)",
)
@click.option("--failed", is_flag=True, help="the check failed (service)")
@click.option(
    "--document",
    type=click.Path(exists=True, path_type=Path),
    help="the device's instructions for use (a file; its hash goes on-chain)",
)
@click.option("--reason", default=None, help="why (decommission)")
def trace_device(
    account: Any,
    udi: str,
    action: str,
    to: str | None,
    kind: str | None,
    failed: bool,
    document: Path | None,
    reason: str | None,
) -> None:
    """Devices by UDI: register (the manufacturer owning the DI's company prefix,
    --document), assign (--to hospital), service (--kind, --document report, --failed),
    decommission (--reason), history."""
    _udi(udi)
    with _supply_chain(account) as party:
        if action == "register":
            if document is None:
                raise click.UsageError("register needs --document")
            party.register_device(udi, document.read_bytes())
        elif action == "assign":
            if not to:
                raise click.UsageError("assign needs --to HOSPITAL")
            party.assign_device(udi, to)
        elif action == "service":
            if document is None or kind is None:
                raise click.UsageError("service needs --kind and --document (the report)")
            party.log_service(udi, kind, not failed, document.read_bytes())
        elif action == "decommission":
            party.decommission(udi, reason or "end-of-life")
        for line in party.device_history(udi):
            click.echo(line)
