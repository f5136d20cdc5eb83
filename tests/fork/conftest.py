"""Fixtures for the fork suite: attach to a deployed carechain by address, never redeploy.

The suite runs on ``ethereum:sepolia-fork:foundry``, forking whatever ``SEPOLIA_RPC_URL``
points at (the local stand-in from ``make testnet``, or the real network). It needs the
deployment file for that network (``deployments/sepolia.json``, or the folder in
``CARECHAIN_DEPLOYMENTS_DIR``) and the seed manifest that describes the seeded history
(``.carechain/testnet/seed.json``, or the file in ``CARECHAIN_FORK_SEED``)."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from carechain import Contracts, KuboNode
from carechain.keystore import load_key_pair
from carechain.settings import get_settings


def rpc(method: str, *params: object) -> object:
    """One JSON-RPC call to the upstream (not the fork)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(
        os.environ["SEPOLIA_RPC_URL"], body.encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["result"]


# ClaimsManager._policyCount; tests/forge/Claims.t.sol pins it, so a storage change fails there.
POLICY_COUNT_SLOT = 8


def upstream_state(seed: dict, contracts: Contracts) -> dict:
    """What the fork flows would change if they leaked upstream: the head, the policy
    counter of the ClaimsManager (storage slot POLICY_COUNT_SLOT) and the balance of the seeded
    provider."""
    token_balance = "0x70a08231" + "00" * 12 + seed["accounts"]["hospital"][2:].lower()
    return {
        "block": int(rpc("eth_blockNumber"), 16),
        "policy_count": int(
            rpc("eth_getStorageAt", contracts.deployment.claims, hex(POLICY_COUNT_SLOT), "latest"),
            16,
        ),
        "provider_balance": int(
            rpc("eth_call", {"to": contracts.deployment.token, "data": token_balance}, "latest"), 16
        ),
    }


@pytest.fixture(scope="session")
def seed() -> dict:
    path = Path(
        os.environ.get("CARECHAIN_FORK_SEED", get_settings().state_dir / "testnet/seed.json")
    )
    if not path.exists():
        pytest.fail(f"no seed manifest at {path}: run `make testnet` (or set CARECHAIN_FORK_SEED)")
    data = json.loads(path.read_text())
    data["dir"] = path.parent
    return data


@pytest.fixture(scope="session")
def contracts(seed) -> Contracts:
    """The upstream's deployment, attached by address (checks there is code there)."""
    return Contracts.load()


@pytest.fixture(scope="session", autouse=True)
def upstream_before(seed, contracts) -> dict:
    """The upstream as it was before any fork test ran."""
    return upstream_state(seed, contracts)


@pytest.fixture(scope="session")
def kubo(seed):
    """The Kubo repository that holds the seeded ciphertexts."""
    with KuboNode(Path(seed["kubo_repo"])) as node:
        yield node


@pytest.fixture(scope="session")
def seeded(seed, accounts):
    """The seeded parties as accounts on the fork (impersonated: no private keys needed),
    each with its key pair."""

    def party(name: str):
        account = accounts[seed["accounts"][name]]
        key_name = seed["keys"].get(name)
        key = load_key_pair(seed["dir"] / key_name) if key_name else None
        return account, key

    return party


@pytest.fixture(scope="session")
def governor(seed, accounts, chain):
    """The deployment's governor, impersonated on the fork and given gas money."""
    account = accounts[seed["accounts"]["governor"]]
    chain.set_balance(account.address, 10**20)
    return account
