"""One geth node of the consortium: a Clique (proof-of-authority) sealer on loopback.

geth v1.13.15 is the last release that seals Clique blocks (``tools/install-geth.sh`` builds
it). Clique refuses Shanghai and later forks, so the genesis turns on every fork up to
London and the contracts are compiled for Paris (no PUSH0, MCOPY or transient storage).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_keys import keys

from ..errors import ChainUnavailableError, ConfigurationError
from ..onchain.rpc import Node
from ..onchain.signer import new_keystore
from ..settings import PROJECT_ROOT
from . import process as daemons

GETH_VERSION = "1.13.15"
#: Every member's node answers these namespaces on its loopback HTTP port (``admin`` and
#: ``clique`` are how members are peered and voted in; see docs/consortium.md for what a
#: deployment across machines exposes instead).
HTTP_APIS = "eth,net,web3,txpool,clique,admin"
_FUNDS = hex(10**24)  # wei for each funded account (a million ether)


def find_geth() -> Path:
    """The geth executable the project builds (``make network`` builds it first)."""
    for candidate in (PROJECT_ROOT / ".tools" / "bin" / "geth", shutil.which("geth")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ConfigurationError(
        f"geth v{GETH_VERSION} was not found: run `make network` (it builds geth with Go "
        "into .tools/bin), or `bash tools/install-geth.sh`"
    )


def genesis(chain_id: int, sealers: Sequence[str], funded: Sequence[str], period: int) -> dict:
    """A Clique genesis: ``sealers`` in the extra-data (32 vanity bytes, the addresses, 65
    bytes for the seal), every fork through London at block 0, nothing later (Clique
    refuses Shanghai), ``funded`` accounts given ether."""
    signers = "".join(a.lower().removeprefix("0x") for a in sorted(sealers, key=str.lower))
    forks = [
        *("homesteadBlock", "eip150Block", "eip155Block", "eip158Block", "byzantiumBlock"),
        *("constantinopleBlock", "petersburgBlock", "istanbulBlock", "muirGlacierBlock"),
        *("berlinBlock", "londonBlock", "arrowGlacierBlock", "grayGlacierBlock"),
    ]
    return {
        "config": {
            "chainId": chain_id,
            **{fork: 0 for fork in forks},
            "clique": {"period": period, "epoch": 30000},
        },
        "difficulty": "0x1",
        "gasLimit": hex(30_000_000),
        "baseFeePerGas": hex(10**9),
        "extradata": "0x" + "00" * 32 + signers + "00" * 65,
        "alloc": {a.lower().removeprefix("0x"): {"balance": _FUNDS} for a in funded},
    }


@dataclass
class GethNode:
    """One member's geth: its data folder, its ports and its sealing account."""

    name: str
    datadir: Path
    chain_id: int
    rpc_port: int
    p2p_port: int
    auth_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def _keyfile(self) -> Path:
        return self.datadir / "sealer.json"

    # ------------------------------------------------------------------ identity
    def create_identity(self) -> None:
        """A new sealing account and node key (kept in the data folder, never printed)."""
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self._keyfile.exists():
            return
        password = os.urandom(16).hex()
        address, encrypted = new_keystore(password)
        keystore = self.datadir / "keystore"
        keystore.mkdir(exist_ok=True)
        (keystore / f"sealer-{address.lower()}.json").write_text(json.dumps(encrypted))
        (self.datadir / "password").write_text(password)
        (self.datadir / "password").chmod(0o600)
        node_key = os.urandom(32)
        (self.datadir / "geth").mkdir(exist_ok=True)
        (self.datadir / "geth" / "nodekey").write_text(node_key.hex())
        (self.datadir / "geth" / "nodekey").chmod(0o600)
        public = keys.PrivateKey(node_key).public_key.to_hex().removeprefix("0x")
        self._keyfile.write_text(json.dumps({"sealer": address, "node": public}))

    @property
    def sealer(self) -> str:
        """The address this node seals with."""
        return str(json.loads(self._keyfile.read_text())["sealer"])

    @property
    def enode(self) -> str:
        """How the other members reach this node (static peering, no discovery)."""
        node = json.loads(self._keyfile.read_text())["node"]
        return f"enode://{node}@127.0.0.1:{self.p2p_port}"

    # ------------------------------------------------------------------ life
    def init(self, genesis_file: Path) -> None:
        """Write the genesis block into the data folder (once)."""
        if (self.datadir / "geth" / "chaindata").exists():
            return
        result = subprocess.run(
            [str(find_geth()), "--datadir", str(self.datadir), "init", str(genesis_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ConfigurationError(f"geth init failed for {self.name}: {result.stderr[-2000:]}")

    def write_peers(self, enodes: Sequence[str]) -> None:
        """Static peers: the other members' nodes, and no one else."""
        quoted = ", ".join(json.dumps(e) for e in enodes if e != self.enode)
        (self.datadir / "config.toml").write_text(
            "[Node.P2P]\n"
            f"StaticNodes = [{quoted}]\n"
            f"TrustedNodes = [{quoted}]\n"
            "BootstrapNodes = []\nBootstrapNodesV5 = []\n"
        )

    def command(self, seal: bool = True) -> list[str]:
        command = [
            str(find_geth()),
            *("--datadir", str(self.datadir), "--config", str(self.datadir / "config.toml")),
            *("--networkid", str(self.chain_id), "--syncmode", "full"),
            *("--port", str(self.p2p_port), "--nodiscover", "--nat", "none", "--maxpeers", "50"),
            *("--http", "--http.addr", "127.0.0.1", "--http.port", str(self.rpc_port)),
            *("--http.api", HTTP_APIS, "--http.vhosts", "localhost,127.0.0.1"),
            *("--authrpc.addr", "127.0.0.1", "--authrpc.port", str(self.auth_port)),
            *("--ipcdisable", "--verbosity", "2", "--rpc.gascap", "100000000"),
            *("--miner.gaslimit", "30000000", "--txpool.pricelimit", "1"),
            *("--rpc.txfeecap", "0", "--cache", "256"),
        ]
        if seal:
            command += [
                *("--mine", "--miner.etherbase", self.sealer, "--unlock", self.sealer),
                *("--password", str(self.datadir / "password"), "--allow-insecure-unlock"),
            ]
        return command

    def start(self, timeout: float = 60.0) -> int:
        """Start the node (it outlives this process) and wait until it answers; returns
        its process id."""
        log = open(self.datadir / "geth.log", "ab")  # noqa: SIM115 - handed to the daemon
        process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        (self.datadir / "pid").write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = (self.datadir / "geth.log").read_text(errors="replace")[-2000:]
                raise ChainUnavailableError(f"geth for {self.name} exited while starting:\n{tail}")
            try:
                self.rpc("eth_blockNumber")
                return process.pid
            except ChainUnavailableError:
                time.sleep(0.2)
        self.stop()
        tail = (self.datadir / "geth.log").read_text(errors="replace")[-1500:]
        raise ChainUnavailableError(
            f"geth for {self.name} did not answer on {self.url} within {timeout:.0f} s "
            f"(its log: {self.datadir / 'geth.log'}):\n{tail}"
        )

    @property
    def pid(self) -> int | None:
        """The running node's process id (None if it is not running)."""
        return daemons.running(self.datadir / "pid")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the node this project started (by its recorded process id)."""
        daemons.stop(self.datadir / "pid", timeout)

    @functools.cached_property
    def _client(self) -> Node:
        return Node(self.url, timeout=10)

    def rpc(self, method: str, *params: object) -> object:
        """One JSON-RPC call to this node (one client, kept, per node)."""
        return self._client.request(method, params)
