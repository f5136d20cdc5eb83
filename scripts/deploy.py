"""Deploy carechain to the connected network and record it in deployments/<network>.json.

    ape run deploy --network ethereum:local:foundry --account <alias>

The deployer becomes the governor (hand it to a multisig or timelock in production).
"""

import click
from ape.cli import ConnectedProviderCommand, account_option

from carechain.chain import deploy


@click.command(cls=ConnectedProviderCommand)
@account_option()
def cli(account) -> None:  # noqa: ANN001 - an Ape account from account_option
    """Deploy RecordRegistry and KeyDirectory; write the deployment file."""
    deployment = deploy(account)
    path = deployment.save()
    click.echo(f"RecordRegistry  {deployment.registry}")
    click.echo(f"KeyDirectory    {deployment.key_directory}")
    click.echo(f"governor        {account.address}")
    click.echo(f"written to      {path}")
