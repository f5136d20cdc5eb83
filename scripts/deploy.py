"""Deploy carechain to the connected network and record it in deployments/<network>.json.

    ape run deploy --network ethereum:local:foundry --account <alias> [--token 0x...]

The deployer becomes the governor (hand it to a multisig or timelock in production).
Claims settle in --token (any ERC-20, e.g. a USDC deployment); without it, a 6-decimal
test stablecoin is deployed, which is only right for local and test chains.
"""

import json

import click
from ape.cli import ConnectedProviderCommand, account_option

from carechain.onchain.deploy import deploy, network_name
from carechain.settings import get_settings


def live_deployment() -> str | None:
    """The deployment file of the connected network, if the contracts it names are on this
    chain (a deployment in use), else None."""
    from ape import chain

    path = get_settings().deployments_dir / f"{network_name()}.json"
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if recorded.get("chain_id") != chain.chain_id or not recorded.get("registry"):
        return None
    return str(path) if chain.provider.get_code(recorded["registry"]) else None


@click.command(cls=ConnectedProviderCommand)
@account_option()
@click.option("--token", default=None, help="ERC-20 address claims settle in")
@click.option(
    "--replace",
    is_flag=True,
    help="deploy anew even though the deployment file names contracts live on this chain",
)
def cli(account, token, replace) -> None:  # noqa: ANN001 - an Ape account from account_option
    """Deploy every carechain contract; write the deployment file."""
    live = live_deployment()
    if live and not replace:
        raise click.ClickException(
            f"{live} names a carechain deployment that is live on this chain: deploying "
            "again would replace it, and every command would lose sight of its records, "
            "consents and claims. Keep using it (nothing to do), or pass --replace"
        )
    deployment = deploy(account, token)
    path = deployment.save()
    for name, address in (
        ("RecordRegistry", deployment.registry),
        ("KeyDirectory", deployment.key_directory),
        ("ConsentManager", deployment.consent),
        ("AccessLog", deployment.access_log),
        ("ClaimsManager", deployment.claims),
        ("Traceability", deployment.trace),
        ("KeyEscrow", deployment.escrow),
        ("token", deployment.token),
        ("governor", account.address),
    ):
        click.echo(f"{name:<16}{address}")
    click.echo(f"written to      {path} (chain {deployment.chain_id}, block {deployment.block})")
