"""Deploy carechain to the connected network and record it in deployments/<network>.json.

    ape run deploy --network ethereum:local:foundry --account <alias> [--token 0x...]

The deployer becomes the governor (hand it to a multisig or timelock in production).
Claims settle in --token (any ERC-20, e.g. a USDC deployment); without it, a 6-decimal
test stablecoin is deployed, which is only right for local and test chains.
"""

import click
from ape.cli import ConnectedProviderCommand, account_option

from carechain.onchain.deploy import deploy


@click.command(cls=ConnectedProviderCommand)
@account_option()
@click.option("--token", default=None, help="ERC-20 address claims settle in")
def cli(account, token) -> None:  # noqa: ANN001 - an Ape account from account_option
    """Deploy every carechain contract; write the deployment file."""
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
