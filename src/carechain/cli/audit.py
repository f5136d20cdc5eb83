"""carechain audit: the read audit trail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import (
    Connected,
    chain_options,
    key_option,
    role_client,
)


@click.group()
def audit() -> None:
    """The read audit trail."""


@audit.command("trail", cls=Connected)
@chain_options
@key_option
def audit_trail(account: Any, key: Path) -> None:
    """Every anchored read of your records, each receipt verified (as the patient). Entries
    that do not verify are listed and flagged, never hidden: anyone can anchor a batch under
    your address, and a bad batch does not hide the genuine reads."""
    from rich.console import Console
    from rich.table import Table

    from ..patient import Patient

    with role_client(Patient, account, key) as patient:
        trail = patient.audit_trail()
    from datetime import UTC, datetime

    table = Table(title="audit trail")
    for name in ("when", "reader", "record", "purpose"):
        table.add_column(name, no_wrap=True)
    table.add_column("check")  # the only column that wraps: what is wrong, in words
    for entry in trail:
        when = datetime.fromtimestamp(entry.when, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        check = "verified" if entry.verified else f"FLAGGED: {entry.problem}"
        r = entry.receipt
        if r is None:
            table.add_row(when, entry.reader, f"batch 0x{entry.root.hex()[:16]}…", "", check)
        else:
            table.add_row(
                when, r.reader, f"0x{r.record_id.hex()} v{r.version}", r.purpose.name.lower(), check
            )
    Console(width=200).print(table)
    flagged = sum(not e.verified for e in trail)
    click.echo(f"{len(trail) - flagged} reads verified, {flagged} entries flagged")
