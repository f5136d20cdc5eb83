"""A local stand-in for Sepolia: a long-lived anvil with chain id 11155111 that holds a real
carechain deployment (made by scripts/deploy.py) and some history, for the fork test suite.

    python tools/testnet.py up     # start it if it is not running, deploy, seed
    python tools/testnet.py url    # the RPC URL of the running one
    python tools/testnet.py down   # stop it

Everything it makes lives in .carechain/testnet/: the node's address and process id, the
anvil log, the Kubo repository that holds the seeded ciphertexts, the parties' key files
and seed.json (addresses, record ids, consents, claims and block numbers the fork suite
checks). The deployment file is deployments/sepolia.json, as for the real network.
Nothing listens anywhere but 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from carechain.settings import get_settings  # noqa: E402

CHAIN_ID = 11155111  # Sepolia's
STATE = get_settings().state_dir / "testnet"
NODE = STATE / "node.json"
SEED = STATE / "seed.json"
USD = 10**6


def rpc(url: str, method: str, *params: object) -> object:
    """One JSON-RPC call (loopback only)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(
        url, body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def _running() -> dict | None:
    """The running node's record, or None if there is none that answers."""
    if not NODE.exists():
        return None
    node = json.loads(NODE.read_text())
    try:
        os.kill(node["pid"], 0)
        if int(rpc(node["url"], "eth_chainId"), 16) == CHAIN_ID:
            return node
    except (OSError, RuntimeError):
        pass
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_anvil() -> dict:
    STATE.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(STATE / "anvil.log", "wb")  # noqa: SIM115 - handed to the detached process
    process = subprocess.Popen(
        ["anvil", "--chain-id", str(CHAIN_ID), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # outlives this script: the testnet is long-lived
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            rpc(url, "eth_chainId")
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        sys.exit(f"anvil did not answer on {url}; see {STATE / 'anvil.log'}")
    node = {"pid": process.pid, "url": url}
    NODE.write_text(json.dumps(node) + "\n")
    return node


def _deploy(url: str) -> None:
    env = {**os.environ, "SEPOLIA_RPC_URL": url}
    subprocess.run(
        [
            *("ape", "run", "deploy", "--network", "ethereum:sepolia:node"),
            *("--account", "TEST::0", "-v", "WARNING"),
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )


def _seed(url: str) -> None:
    """Some history through the SDK: records, a consent given then revoked with a logged read
    in between, and a claim submitted, approved and paid."""
    os.environ["SEPOLIA_RPC_URL"] = url
    from ape import accounts, chain, networks
    from ape.logging import logger

    from carechain import (
        Category,
        Contracts,
        Hospital,
        Insurer,
        KemSuite,
        KeyPair,
        KuboNode,
        Patient,
        Purpose,
        Scope,
    )
    from carechain.keystore import save_key_pair
    from carechain.samples import chart

    logger.set_level("WARNING")
    keys_dir = STATE / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True)
    with networks.parse_network_choice("ethereum:sepolia:node"), KuboNode(STATE / "kubo") as kubo:
        governor, hospital, patient, doctor, insurer = (
            accounts.test_accounts[i] for i in (0, 1, 3, 8, 9)
        )
        contracts = Contracts.load()
        contracts.registry.admit(governor, "provider", hospital)
        contracts.registry.admit(governor, "insurer", insurer)
        pairs = {
            "hospital": KeyPair.generate(),
            "patient": KeyPair.generate(KemSuite.MLKEM768_X25519),
            "doctor": KeyPair.generate(),
            "insurer": KeyPair.generate(),
        }
        for name, pair in pairs.items():
            path = keys_dir / f"{name}.key"
            path.unlink(missing_ok=True)
            save_key_pair(pair, path)
        ipfs = kubo.client
        h = Hospital(hospital, contracts, ipfs, pairs["hospital"])
        p = Patient(patient, contracts, ipfs, pairs["patient"])
        d = Hospital(doctor, contracts, ipfs, pairs["doctor"])
        i = Insurer(insurer, contracts, ipfs, pairs["insurer"])
        for party in (h, p, d, i):
            party.publish_key()
        print("seeding records, a consent, a read and a claim...")
        refs = h.anchor_records([(patient.address, r) for r in chart(7, "MRN-7")])
        now = chain.blocks.head.timestamp
        grant_id, _ = p.grant_access(
            doctor.address, Scope.all(), Purpose.TREATMENT, now + 86400 * 365
        )
        d.read_record(refs[1].record_id, purpose=Purpose.TREATMENT)
        d.receipts.flush()
        granted_block = chain.blocks.height
        p.revoke_access(grant_id)
        revoked_block = chain.blocks.height

        contracts.claims.token.mint(insurer, 1_000_000 * USD, sender=governor)
        i.fund_escrow(100_000 * USD)
        policy_id = i.issue_policy(
            patient.address, 5_000 * USD, 0, 0, {Category.ENCOUNTER}, now - 86400, now + 86400 * 365
        )
        p.grant_access(insurer.address, Scope.all(), Purpose.PAYMENT, now + 86400 * 365)
        p.grant_access(
            hospital.address, Scope.all(), Purpose.TREATMENT, now + 86400 * 365, share_keys=False
        )
        evidence = [refs[1].record_id]
        claim_id, _ = h.bill(
            policy_id,
            insurer.address,
            patient.address,
            [("99213", "Office visit", 250 * USD)],
            evidence,
        )
        i.approve(claim_id, 250 * USD)
        i.settle()

        seed = {
            "chain_id": CHAIN_ID,
            "kubo_repo": str(STATE / "kubo"),
            "accounts": {
                "governor": governor.address,
                "hospital": hospital.address,
                "patient": patient.address,
                "doctor": doctor.address,
                "insurer": insurer.address,
            },
            "keys": {name: f"keys/{name}.key" for name in pairs},
            "records": [
                {"record_id": "0x" + r.record_id.hex(), "resource_type": res["resourceType"]}
                for r, res in zip(refs, chart(7, "MRN-7"), strict=True)
            ],
            "doctor_grant": "0x" + grant_id.hex(),
            "read_record": "0x" + refs[1].record_id.hex(),
            "blocks": {"granted": granted_block, "revoked": revoked_block},
            "policy_id": policy_id,
            "claim_id": "0x" + claim_id.hex(),
            "claim_paid": 250 * USD,
            "head": chain.blocks.height,
        }
    SEED.write_text(json.dumps(seed, indent=2) + "\n")
    print(f"seeded: {len(refs)} records, 1 revoked consent, 1 logged read, 1 paid claim ({SEED})")


def up() -> None:
    """Start, deploy and seed, unless a seeded testnet already answers."""
    node = _running()
    deployment = get_settings().deployments_dir / "sepolia.json"
    if node and SEED.exists() and deployment.exists():
        registry = json.loads(deployment.read_text())["registry"]
        if rpc(node["url"], "eth_getCode", registry, "latest") not in ("0x", None):
            print(f"testnet already up at {node['url']}")
            return
    if node:
        down()
    SEED.unlink(missing_ok=True)
    node = _start_anvil()
    print(f"testnet (chain id {CHAIN_ID}) at {node['url']}, pid {node['pid']}")
    _deploy(node["url"])
    _seed(node["url"])


def down() -> None:
    """Stop the testnet this script started (by its recorded process id)."""
    node = _running()
    if node is None:
        print("testnet is not running")
    else:
        os.kill(node["pid"], signal.SIGTERM)
        print(f"testnet stopped (pid {node['pid']})")
    NODE.unlink(missing_ok=True)


def url() -> None:
    node = _running()
    if node is None:
        sys.exit("testnet is not running; start it with: python tools/testnet.py up")
    print(node["url"])


if __name__ == "__main__":
    commands = {"up": up, "down": down, "url": url}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(commands)}}}")
    commands[sys.argv[1]]()
