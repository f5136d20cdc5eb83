"""carechain network: the consortium network on this machine (one geth sealer and one Kubo
node per member institution, on loopback). See docs/consortium.md."""

from __future__ import annotations

from typing import Any

import click


@click.group()
def network() -> None:
    """The consortium network: start, stop, status, members joining and leaving."""


def _load() -> Any:
    from ..consortium import Network

    return Network.load()


def _how_to_use(net: Any) -> None:
    click.echo("point the CLI at a member's own nodes (each member talks only to its own):")
    for member in net.spec.members:
        click.echo(
            f"  {member.name:<11} export CARECHAIN_RPC_URL={net.rpc_url(member)} "
            f"CARECHAIN_IPFS_API={net.kubo_url(member)}   "
            f"# its account: --account TEST::{member.account}"
        )


@network.command("up")
@click.option(
    "--members", default=3, show_default=True, help="institutions (hospitals, then an insurer)"
)
@click.option("--period", default=1, show_default=True, help="seconds between blocks")
@click.option(
    "--replicate",
    default=None,
    help="members keeping a copy of every ciphertext (comma-separated; all by default)",
)
@click.option(
    "--base-port",
    default=8600,
    show_default=True,
    help="member i: chain RPC base+i, Kubo API base+300+i",
)
def network_up(members: int, period: int, replicate: str | None, base_port: int) -> None:
    """Start the network (create it the first time: genesis, keys, contracts, roles)."""
    from ..consortium import Network, NetworkSpec
    from ..errors import ConfigurationError

    try:
        net = Network.load()
        if net.spec.period != period or len(net.spec.members) != members:
            click.echo(
                f"(the network exists with {len(net.spec.members)} members and {net.spec.period} s "
                "blocks; `carechain network down --delete` first to make another)",
                err=True,
            )
    except ConfigurationError:
        names = replicate.split(",") if replicate else None
        spec = NetworkSpec.default(members, base_port, period, names)
        net = Network.create(spec)
    net.up(progress=lambda line: click.echo(line, err=True))
    click.echo(f"consortium up: {len(net.spec.members)} members, chain id {net.spec.chain_id}")
    _how_to_use(net)


@network.command("down")
@click.option(
    "--delete", is_flag=True, help="also delete the network's chain, IPFS data and deployment"
)
def network_down(delete: bool) -> None:
    """Stop every node and replicator of the network."""
    import shutil

    net = _load()
    net.down()
    click.echo("consortium stopped")
    if delete:
        shutil.rmtree(net.root)
        (net.deployments_dir / "consortium.json").unlink(missing_ok=True)
        click.echo(f"deleted {net.root}")


@network.command("status")
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
def network_status(as_json: bool) -> None:
    """Per member: chain height, peers, sealing, IPFS, pinned/expected records, lag."""
    import json

    rows = _load().status()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="consortium")
    for column in (
        "member",
        "RPC",
        "height",
        "peers",
        "sealing",
        "IPFS",
        "pinned/expected",
        "lag",
    ):
        table.add_column(column)
    for r in rows:
        pinned = "—" if not r["replicates"] else f"{r['pinned'] or 0} / {r['expected'] or 0}"
        table.add_row(
            r["member"], ":" + r["rpc"].rsplit(":", 1)[-1],
            "down" if r["height"] is None else str(r["height"]),
            "—" if r["peers"] is None else str(r["peers"]),
            "yes" if r["sealing"] else "no", r["ipfs"], pinned,
            "—" if r["lag"] is None else f"{r['lag']} blocks",
        )  # fmt: skip
    Console().print(table)


@network.command("join")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["provider", "insurer"]),
    default="provider",
    show_default=True,
    help="what the new member is: provider, insurer, …",
)
def network_join(name: str, role: str) -> None:
    """A new member NAME joins: its nodes start and sync, the sealers vote it in, the
    governor admits it to ROLE, its replicator catches up."""
    net = _load()
    member = net.join(name, role, progress=lambda line: click.echo(line, err=True))
    click.echo(f"{name} joined as {role} (account TEST::{member.account})")
    click.echo(
        f"  {name:<11} export CARECHAIN_RPC_URL={net.rpc_url(member)} "
        f"CARECHAIN_IPFS_API={net.kubo_url(member)}"
    )


@network.command("leave")
@click.argument("name")
def network_leave(name: str) -> None:
    """Member NAME leaves: voted out as a sealer, its role removed, its nodes stopped."""
    _load().leave(name, progress=lambda line: click.echo(line, err=True))
    click.echo(f"{name} left the consortium")
