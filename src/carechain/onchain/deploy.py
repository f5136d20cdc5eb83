"""Deploying carechain: a development task, done with Ape (``ape run deploy``, the tests'
fixtures, the demo), so this is the one module of the package that imports Ape, and only
when called. Clients never need it: they read the deployment file it writes."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError
from ..model import TOKEN_DECIMALS, Deployment
from ..settings import PROJECT_ROOT


def _project() -> Any:
    try:
        from ape import Project
    except ImportError as exc:  # an installed client without the development tools
        raise ConfigurationError(
            "deploying needs the development tools (pip install -e '.[dev]', or make setup)"
        ) from exc
    return Project(PROJECT_ROOT)


def network_name() -> str:
    """The connected Ape network's name (``local``, ``sepolia-fork``...)."""
    from ape import networks

    return str(networks.provider.network.name)


def deploy(sender: Any, token: str | None = None) -> Deployment:
    """Deploy every carechain contract on the network Ape is connected to, with ``sender``
    (an Ape account) as governor. Claims settle in ``token`` (an ERC-20 address); without
    one, a test stablecoin is deployed (local chains only)."""
    project = _project()
    if token is not None:
        _require_settlement_token(project, token)
    registry = project.RecordRegistry.deploy(sender, sender=sender)
    keys = project.KeyDirectory.deploy(sender=sender)
    consent = project.ConsentManager.deploy(registry, sender=sender)
    access_log = project.AccessLog.deploy(sender=sender)
    if token is None:
        token = str(project.MockStablecoin.deploy(sender=sender).address)
    claims = project.ClaimsManager.deploy(registry, consent, token, sender=sender)
    trace = project.Traceability.deploy(registry, sender=sender)
    escrow = project.KeyEscrow.deploy(registry, consent, sender=sender)
    device_keys = project.DeviceKeys.deploy(trace, registry, sender=sender)
    # Rewards settle in the claims' stablecoin (whose decimals the ClaimsManager checked).
    trials = project.ClinicalTrials.deploy(registry, consent, access_log, token, sender=sender)
    # The head through our own client: Ape's block reader refuses proof-of-authority
    # headers (97 bytes of extraData) on a custom network such as the consortium.
    from .rpc import current

    node = current()
    return Deployment(
        network=network_name(),
        chain_id=node.chain_id,
        registry=str(registry.address),
        key_directory=str(keys.address),
        consent=str(consent.address),
        access_log=str(access_log.address),
        claims=str(claims.address),
        token=str(token),
        block=node.block_number(),
        trace=str(trace.address),
        escrow=str(escrow.address),
        device_keys=str(device_keys.address),
        trials=str(trials.address),
    )


def _require_settlement_token(project: Any, token: str) -> None:
    """Refuse, before anything is deployed, a token the ClaimsManager would refuse: amounts
    are uint64 token units, so carechain settles in a 6-decimal stablecoin (USDC-like)."""
    try:
        decimals = int(project.MockStablecoin.at(token).decimals())
    except Exception as exc:
        raise ConfigurationError(
            f"{token} does not answer decimals() like an ERC-20 token; claims settle in a "
            f"{TOKEN_DECIMALS}-decimal stablecoin (USDC-like): pass its address as the token"
        ) from exc
    if decimals != TOKEN_DECIMALS:
        raise ConfigurationError(
            f"the token at {token} has {decimals} decimals; carechain settles claims in a "
            f"{TOKEN_DECIMALS}-decimal stablecoin (USDC-like: amounts are 64-bit token units, "
            f"so {decimals} decimals would cap a claim at "
            f"{(2**64 - 1) / 10**decimals:,.2f} tokens)"
        )
