"""carechain insurer: the settlement worker — run it, watch it, decide its manual queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .common import (
    Connected,
    chain_options,
    hex32,
    key_option,
    role_client,
)


def _default_db() -> Path:
    from ..settings import get_settings

    return get_settings().state_dir / "insurer-worker.sqlite"


db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="the worker's SQLite journal [default: .carechain/insurer-worker.sqlite]",
)


@click.group()
def insurer() -> None:
    """The insurer's settlement worker: run it, watch it, decide its manual queue."""


@insurer.command("worker", cls=Connected)
@chain_options
@key_option
@click.option(
    "--rules",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="the adjudication rules (TOML; see examples/insurer-rules.toml)",
)
@db_option
@click.option(
    "--from-block",
    type=int,
    default=None,
    help="first block to read on a new journal [default: the deployment's block]",
)
@click.option("--until-idle", is_flag=True, help="exit once nothing is left to do")
def insurer_worker(
    account: Any,
    key: Path,
    rules: Path,
    db: Path | None,
    from_block: int | None,
    until_idle: bool,
) -> None:
    """Follow this insurer's claims, adjudicate them by the RULES file and settle them in
    batches, exactly once. Logs one JSON object per line on stderr; Ctrl-C (or SIGTERM)
    finishes the current step and stops. Restart it any time: it resumes from its journal."""
    import logging

    from ..insurer import Insurer
    from ..worker import Journal, JsonFormatter, Rules, Worker

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("carechain.worker")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    parsed = Rules.load(rules)
    journal = Journal(db or _default_db())
    try:
        with role_client(Insurer, account, key) as client:
            worker = Worker(client, parsed, journal, start_block=from_block)
            logger.info(
                "started",
                extra={
                    "fields": {
                        "insurer": client.address,
                        "db": str(journal.path),
                        "confirmations": parsed.confirmations,
                        "batch_size": parsed.batch_size,
                    }
                },
            )
            worker.run(until_idle=until_idle)
    finally:
        journal.close()


@insurer.command("status")
@db_option
@click.option("--json", "as_json", is_flag=True, help="print the status as JSON")
def insurer_status(db: Path | None, as_json: bool) -> None:
    """Where the worker is: cursor, lag, queue sizes, transactions in flight, totals paid."""
    from rich.console import Console
    from rich.table import Table

    status = _journal(db).status()
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    scale = 10 ** status["decimals"]
    table = Table(title=f"insurer worker {status['insurer']}", show_header=False)
    last = status["last_step"]
    rows = [
        ("chain", str(status["chain_id"])),
        ("cursor (last safe block read)", str(status["cursor"])),
        ("head at last step", str(status["head"])),
        ("lag at last step (blocks)", str(status["lag"])),
        ("last step", time_ago(last) if last else "never"),
        ("manual queue", str(status["manual_queue"])),
        ("transactions in flight", str(status["in_flight"])),
        ("claims paid", f"{status['paid_count']} ({status['paid_total'] / scale:,.2f})"),
        ("reorgs handled", str(status["reorgs"])),
        ("fee replacements", str(status["replacements"])),
    ]
    # paid claims have their own row above, with the total
    rows += [
        (f"claims {state}", str(n))
        for state, n in sorted(status["claims"].items())
        if state != "paid"
    ]
    unanchored = status["unanchored_receipts"]
    rows.append(("receipt batches not anchored", str(len(unanchored))))
    for batch in unanchored:
        state = "retrying" if batch["retrying"] else "NOT ANCHORED, gave up"
        rows.append(
            (
                f"  receipts {batch['root'][:10]}…",
                f"{batch['count']} reads of {batch['patient']}: {state} after "
                f"{batch['attempts']} attempts ({batch['error']})",
            )
        )
    if status["last_error"]:
        rows.append(("last error", status["last_error"]))
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


def time_ago(timestamp: float) -> str:
    """``12 s ago`` for a Unix time."""
    import time

    return f"{time.time() - timestamp:,.0f} s ago"


def _journal(db: Path | None) -> Any:
    from ..errors import ConfigurationError
    from ..worker import Journal

    path = db or _default_db()
    if not path.exists():
        raise ConfigurationError(
            f"no worker journal at {path}; start the worker first (carechain insurer worker) "
            "or pass --db"
        )
    return Journal(path)


@insurer.command("queue")
@db_option
def insurer_queue(db: Path | None) -> None:
    """Claims the rules sent to a human, with the reason each is there."""
    from rich.console import Console
    from rich.table import Table

    journal = _journal(db)
    scale = 10 ** int(journal.get("decimals", "0") or 0)
    rows = journal.claims("manual")
    if not rows:
        click.echo("the manual queue is empty")
        return
    table = Table(title=f"manual queue ({len(rows)})")
    # ids and addresses whole: `insurer decide` takes the claim id as printed
    table.add_column("claim", no_wrap=True, min_width=66)
    table.add_column("policy")
    table.add_column("amount")
    table.add_column("provider", no_wrap=True, min_width=42)
    table.add_column("why")
    for row in rows:
        table.add_row(
            row["claim_id"],
            str(row["policy_id"]),
            f"{row['amount'] / scale:,.2f}",
            row["provider"],
            row["note"] or "",
        )
    Console(width=200).print(table)


@insurer.command("decide")
@click.argument("claim_id")
@db_option
@click.option("--approve", "amount", default=None, help="approve this amount, e.g. 820.00")
@click.option("--deny", "reason", default=None, help="deny with this reason code")
def insurer_decide(claim_id: str, db: Path | None, amount: str | None, reason: str | None) -> None:
    """Decide a claim in the manual queue; the running worker sends it on its next step."""
    from ..errors import CarechainError
    from ..worker import to_units

    if (amount is None) == (reason is None):
        raise click.UsageError("give exactly one of --approve AMOUNT or --deny REASON")
    journal = _journal(db)
    claim_id = "0x" + hex32(claim_id).hex()
    units = None
    if amount is not None:
        try:
            units = to_units(amount, int(journal.get("decimals", "0") or 0))
        except CarechainError as exc:
            raise click.BadParameter(str(exc)) from None
        row = journal.claim(claim_id)
        if row is not None and not 0 < units <= row["amount"]:
            raise click.BadParameter(f"{amount} is not between 0 and the amount claimed")
    journal.decide_manually(claim_id, units, reason)
    click.echo(
        f"{claim_id}: {'approve ' + amount if amount else 'deny (' + str(reason) + ')'}"
        " recorded; the worker sends it on its next step"
    )
