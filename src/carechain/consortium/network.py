"""A consortium network on loopback: one geth sealer and one Kubo node per member institution.

Every member runs its own chain node (a Clique signer: proof of authority, static peering,
no discovery) and its own Kubo node (peered with the other members' nodes, no bootstrap, no
routing, no MDNS), and a replicator that pins every ciphertext the consortium anchors on
its own Kubo. Everything is recorded in ``<state>/network/network.json``; processes are
stopped by the process ids recorded there.

    net = Network.create(members=3)   # two hospitals and an insurer
    net.up()                          # genesis, nodes, peering, contracts, roles
    net.status()                      # height, peers, sealing, pinned/expected, lag
    net.down()
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ChainUnavailableError, ConfigurationError, IPFSUnavailableError
from ..kubo import KuboNode
from ..settings import PROJECT_ROOT, get_settings
from . import process as daemons
from .geth import GethNode, genesis

log = logging.getLogger(__name__)

#: The consortium's chain id (ape-config.yaml's ``consortium`` network says the same).
CHAIN_ID = 7341
#: Where `make network` puts its ports (member i: RPC BASE+i, p2p BASE+100+i, engine API
#: BASE+200+i, Kubo API BASE+300+i, Kubo swarm BASE+400+i).
DEFAULT_BASE_PORT = 8600
#: The governor (deployer) and each member's institution account: anvil's TEST accounts
#: (the well-known test mnemonic; a real consortium uses its own keys).
GOVERNOR_ACCOUNT = 0
_HOSPITAL_ACCOUNTS = [1, 2, 10, 11, 12, 13, 14, 15]
_INSURER_ACCOUNT = 9


@dataclass
class Member:
    """One institution of the consortium and where its nodes listen."""

    name: str
    role: str  # provider or insurer (its role in the registry)
    account: int  # TEST::n, the institution's account
    index: int  # its slot in the port plan
    replicates: bool = True

    def ports(self, base: int) -> dict[str, int]:
        return {
            "rpc": base + self.index,
            "p2p": base + 100 + self.index,
            "auth": base + 200 + self.index,
            "kubo_api": base + 300 + self.index,
            "kubo_swarm": base + 400 + self.index,
        }


@dataclass
class NetworkSpec:
    """The network's settings, written to network.json by :meth:`Network.create`."""

    members: list[Member]
    base_port: int = DEFAULT_BASE_PORT
    period: int = 1  # seconds between blocks
    chain_id: int = CHAIN_ID
    kubo_peer_ids: dict[str, str] = field(default_factory=dict)

    @classmethod
    def default(
        cls,
        count: int = 3,
        base_port: int = DEFAULT_BASE_PORT,
        period: int = 1,
        replicate: Sequence[str] | None = None,
    ) -> NetworkSpec:
        """``count`` members: ``count - 1`` hospitals (hospital-a, hospital-b, ...) and an
        insurer. ``replicate`` names the members that keep a copy of every ciphertext (all
        by default)."""
        if not 2 <= count <= len(_HOSPITAL_ACCOUNTS) + 1:
            raise ConfigurationError(
                f"a consortium here has 2 to {len(_HOSPITAL_ACCOUNTS) + 1} members, not {count}"
            )
        members = [
            Member(f"hospital-{chr(ord('a') + i)}", "provider", _HOSPITAL_ACCOUNTS[i], i)
            for i in range(count - 1)
        ]
        members.append(Member("insurer", "insurer", _INSURER_ACCOUNT, count - 1))
        if replicate is not None:
            unknown = set(replicate) - {m.name for m in members}
            if unknown:
                raise ConfigurationError(f"no member named {', '.join(sorted(unknown))}")
            for member in members:
                member.replicates = member.name in replicate
        return cls(members, base_port, period)


def free_base_port(span: int = 500, count: int = 10) -> int:
    """A base port whose whole plan (``count`` members) is free on loopback (tests)."""
    import random

    for _ in range(200):
        # Below the kernel's ephemeral range (32768 up): a port picked there can be taken
        # by any outgoing connection before the node binds it.
        base = random.randrange(20000, 32768 - span)
        if all(_port_free(base + k * 100 + i) for k in range(span // 100) for i in range(count)):
            return base
    raise ConfigurationError("no free range of loopback ports for a network")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Network:
    """A consortium network's files and processes (see the module's docstring)."""

    def __init__(self, spec: NetworkSpec, root: Path | None = None) -> None:
        self.spec = spec
        self.root = root or get_settings().state_dir / "network"

    # ------------------------------------------------------------------ files
    @classmethod
    def create(cls, spec: NetworkSpec | None = None, root: Path | None = None) -> Network:
        """A network (not started) with ``spec`` (the default three members)."""
        network = cls(spec or NetworkSpec.default(), root)
        network.root.mkdir(parents=True, exist_ok=True)
        return network

    @classmethod
    def load(cls, root: Path | None = None) -> Network:
        """The network recorded under ``root`` (``<state>/network`` by default)."""
        root = root or get_settings().state_dir / "network"
        path = root / "network.json"
        if not path.exists():
            raise ConfigurationError(
                f"no consortium network here ({path} is missing); start one with `make network`"
            )
        raw = json.loads(path.read_text())
        raw["members"] = [Member(**m) for m in raw["members"]]
        return cls(NetworkSpec(**raw), root)

    def save(self) -> None:
        (self.root / "network.json").write_text(json.dumps(asdict(self.spec), indent=2) + "\n")

    def member(self, name: str) -> Member:
        for member in self.spec.members:
            if member.name == name:
                return member
        known = ", ".join(m.name for m in self.spec.members)
        raise ConfigurationError(f"no member named {name!r} in this network ({known})")

    def geth(self, member: Member) -> GethNode:
        ports = member.ports(self.spec.base_port)
        return GethNode(
            member.name,
            self.root / member.name / "chain",
            self.spec.chain_id,
            ports["rpc"],
            ports["p2p"],
            ports["auth"],
        )

    def rpc_url(self, member: Member | str) -> str:
        member = self.member(member) if isinstance(member, str) else member
        return self.geth(member).url

    def kubo(self, member: Member | str, detach: bool = True) -> KuboNode:
        member = self.member(member) if isinstance(member, str) else member
        ports = member.ports(self.spec.base_port)
        peers = [
            f"/ip4/127.0.0.1/tcp/{other.ports(self.spec.base_port)['kubo_swarm']}/p2p/{peer}"
            for other in self.spec.members
            if other.name != member.name and (peer := self.spec.kubo_peer_ids.get(other.name))
        ]
        return KuboNode(
            self.root / member.name / "ipfs",
            api_port=ports["kubo_api"],
            swarm_port=ports["kubo_swarm"],
            peers=peers,
            detach=detach,
        )

    def kubo_url(self, member: Member | str) -> str:
        member = self.member(member) if isinstance(member, str) else member
        return f"http://127.0.0.1:{member.ports(self.spec.base_port)['kubo_api']}"

    @property
    def deployments_dir(self) -> Path:
        """Where this network's deployment file lives."""
        return get_settings().deployments_dir

    # ------------------------------------------------------------------ start / stop
    def up(self, progress: Callable[[str], None] | None = None) -> None:
        """Create what is missing, start every member's nodes, deploy the contracts and
        admit each member to its role. Idempotent: a running network is left as it is."""
        say = progress or log.info
        members = self.spec.members
        for member in members:
            self.geth(member).create_identity()
            self.spec.kubo_peer_ids[member.name] = self.kubo(member).peer_id
        self.save()
        spec_file = self.root / "genesis.json"
        if not spec_file.exists():
            funded = [self.geth(m).sealer for m in members] + [_test_address(i) for i in range(20)]
            spec_file.write_text(
                json.dumps(
                    genesis(
                        self.spec.chain_id,
                        [self.geth(m).sealer for m in members],
                        funded,
                        self.spec.period,
                    ),
                    indent=2,
                )
            )
        enodes = [self.geth(m).enode for m in members]
        for member in members:
            self.start_member(member.name, enodes=enodes, say=say)
        self.wait_for_peers(len(members) - 1)
        say("chain nodes peered; sealing")
        if not self._deployed():
            say("deploying the contracts (ape run deploy) through " + members[0].name)
            self._deploy(members[0])
            self._admit_members()
        for member in members:
            self.start_replicator(member)

    def start_member(
        self,
        name: str,
        enodes: Sequence[str] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        """Start one member's chain node and Kubo node (if they are not running)."""
        say = say or log.info
        member = self.member(name)
        node = self.geth(member)
        node.write_peers(enodes or [self.geth(m).enode for m in self.spec.members])
        node.init(self.root / "genesis.json")
        if node.pid is None:
            node.start()
            say(f"{name}: chain node on {node.url}")
        self.start_kubo(member)

    def start_kubo(self, member: Member) -> None:
        if daemons.running(self._pid_file(member, "kubo")):
            return
        kubo = self.kubo(member)
        kubo.start()
        self._pid_file(member, "kubo").write_text(str(kubo.pid))

    def stop_kubo(self, name: str) -> None:
        """Stop one member's Kubo node (fault tests; `down` stops everything)."""
        daemons.stop(self._pid_file(self.member(name), "kubo"))

    def reset_kubo(self, name: str) -> None:
        """Delete one member's Kubo repository and start it empty (a lost disk): it gets a
        new identity, the other members' nodes are told to peer with it, and its
        replicator refills it from them."""
        import shutil

        member = self.member(name)
        self.stop_kubo(name)
        old = self.spec.kubo_peer_ids.get(name)
        shutil.rmtree(self.root / name / "ipfs", ignore_errors=True)
        self.spec.kubo_peer_ids[name] = self.kubo(member).peer_id
        self.save()
        self.start_kubo(member)
        address = self._kubo_address(member)
        for other in self.spec.members:
            if other.name == name or not daemons.running(self._pid_file(other, "kubo")):
                continue
            client = self._kubo_client(other)
            if old:
                client.forget_peer(old)
            client.peer_with(address)

    def stop_member(self, name: str) -> None:
        """Stop one member's chain node, Kubo node and replicator."""
        member = self.member(name)
        daemons.stop(self._pid_file(member, "replicator"))
        self.geth(member).stop()
        daemons.stop(self._pid_file(member, "kubo"))

    def down(self) -> None:
        """Stop every process this network started (by recorded process id)."""
        for member in self.spec.members:
            self.stop_member(member.name)

    def _pid_file(self, member: Member, what: str) -> Path:
        return self.root / member.name / f"{what}.pid"

    # ------------------------------------------------------------------ replication
    def start_replicator(self, member: Member) -> None:
        """Start the member's replicator (if it replicates and is not running)."""
        pid_file = self._pid_file(member, "replicator")
        if not member.replicates or daemons.running(pid_file):
            return
        log_file = open(self.root / member.name / "replicator.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "carechain.consortium.replicator",
                "--root",
                str(self.root),
                "--member",
                member.name,
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")},
        )
        pid_file.write_text(str(process.pid))

    def replication(self, name: str) -> dict[str, Any]:
        """What the member's replicator last reported (block read, expected, pinned)."""
        path = self.root / name / "replication.json"
        return json.loads(path.read_text()) if path.exists() else {}

    # ------------------------------------------------------------------ chain
    def wait_for_peers(self, peers: int, timeout: float = 60.0) -> None:
        """Wait until every running member's node sees ``peers`` peers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = []
            for member in self.spec.members:
                node = self.geth(member)
                if node.pid is None:
                    continue
                counts.append(int(str(node.rpc("net_peerCount")), 16))
            if counts and min(counts) >= peers:
                return
            time.sleep(0.5)
        raise ChainUnavailableError(f"the members' chain nodes did not all reach {peers} peers")

    def _deployed(self) -> bool:
        path = self.deployments_dir / "consortium.json"
        if not path.exists():
            return False
        deployment = json.loads(path.read_text())
        node = self.geth(self.spec.members[0])
        code = node.rpc("eth_getCode", deployment["registry"], "latest")
        return deployment["chain_id"] == self.spec.chain_id and code not in ("0x", None)

    def _deploy(self, member: Member) -> None:
        env = {
            **os.environ,
            "CARECHAIN_CONSORTIUM_RPC": self.rpc_url(member),
            "CARECHAIN_DEPLOYMENTS_DIR": str(self.deployments_dir),
        }
        ape = Path(sys.executable).with_name("ape")
        result = subprocess.run(
            [
                str(ape),
                "run",
                "deploy",
                "--network",
                "ethereum:consortium:node",
                "--account",
                f"TEST::{GOVERNOR_ACCOUNT}",
                "-v",
                "WARNING",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ConfigurationError(
                f"deploying on the consortium failed:\n{result.stderr[-3000:]}"
            )

    def contracts(self, member: Member | str, index: bool = False) -> Any:
        """The carechain contracts as seen through ``member``'s own chain node."""
        from ..model import Deployment
        from ..onchain import Contracts
        from ..onchain.rpc import Node

        deployment = Deployment.load("consortium", self.deployments_dir)
        return Contracts(deployment, Node(self.rpc_url(member)), None)

    def client(
        self, cls: type, member: Member | str, account: int, key_pair: Any, timeout: float = 60
    ) -> Any:
        """A role client (``Hospital``, ``Patient``, ``Insurer``...) for ``TEST::account``
        that acts only through ``member``'s own chain node and Kubo node (``timeout``: for
        one request to that Kubo)."""
        from ..ipfs import IPFSClient
        from ..onchain.signer import local_test_account

        return cls(
            local_test_account(account),
            self.contracts(member),
            IPFSClient(self.kubo_url(member), timeout=timeout, fetch_timeout=10),
            key_pair,
        )

    def _admit_members(self) -> None:
        from ..onchain.signer import local_test_account

        governor = local_test_account(GOVERNOR_ACCOUNT)
        contracts = self.contracts(self.spec.members[0])
        for member in self.spec.members:
            account = local_test_account(member.account)
            if not contracts.registry.has_role(member.role, account.address):
                contracts.registry.admit(governor, member.role, account.address)

    # ------------------------------------------------------------------ membership
    def join(
        self,
        name: str,
        role: str = "provider",
        account: int | None = None,
        progress: Callable[[str], None] | None = None,
        timeout: float = 120.0,
    ) -> Member:
        """A new institution joins: its chain node starts and syncs from the members' nodes
        (which peer with it), the sealers vote it in (Clique's propose/vote: a majority of
        the current sealers), its Kubo node peers with theirs and its replicator catches
        up, and the governor admits its account to ``role`` in the registry."""
        say = progress or log.info
        if any(m.name == name for m in self.spec.members):
            raise ConfigurationError(f"{name} is already a member")
        used = {m.account for m in self.spec.members}
        if account is None:
            free = [a for a in _HOSPITAL_ACCOUNTS if a not in used]
            if not free:
                raise ConfigurationError("no TEST account left for a new member; pass one")
            account = free[0]
        sealers = [m for m in self.spec.members if self.geth(m).pid is not None]
        member = Member(name, role, account, max(m.index for m in self.spec.members) + 1)
        self.spec.members.append(member)
        node = self.geth(member)
        node.create_identity()
        self.spec.kubo_peer_ids[name] = self.kubo(member).peer_id
        self.save()
        self.start_member(name, say=say)
        for other in sealers:
            self.geth(other).rpc("admin_addPeer", node.enode)
            self._kubo_client(other).peer_with(self._kubo_address(member))
        enodes = [self.geth(m).enode for m in self.spec.members]
        for other in sealers:  # and after a restart too
            self.geth(other).write_peers(enodes)
        say(f"{name}: syncing; the sealers vote it in")
        for other in sealers:
            self.geth(other).rpc("clique_propose", node.sealer, True)
        self._wait_signer(node.sealer, present=True, timeout=timeout)
        for other in sealers:  # a passed vote is done; withdraw the standing proposal
            self.geth(other).rpc("clique_discard", node.sealer)
        from ..onchain.signer import local_test_account

        contracts = self.contracts(sealers[0])
        address = local_test_account(account).address
        if not contracts.registry.has_role(role, address):
            contracts.registry.admit(local_test_account(GOVERNOR_ACCOUNT), role, address)
        self.wait_synced(member, timeout=timeout)  # it sees its own admission
        self.start_replicator(member)
        say(f"{name} is a sealer and a {role}")
        return member

    def leave(
        self, name: str, progress: Callable[[str], None] | None = None, timeout: float = 120.0
    ) -> None:
        """A member leaves: the sealers (and the member itself) vote it out, the governor
        removes its role, its nodes stop and the others forget them. Its records stay on
        the chain and in the other members' replicas."""
        say = progress or log.info
        member = self.member(name)
        node = self.geth(member)
        voters = [m for m in self.spec.members if self.geth(m).pid is not None]
        for voter in voters:
            self.geth(voter).rpc("clique_propose", node.sealer, False)
        self._wait_signer(node.sealer, present=False, timeout=timeout)
        rest = [m for m in voters if m.name != name]
        for voter in rest:
            self.geth(voter).rpc("clique_discard", node.sealer)
        from ..onchain.signer import local_test_account

        contracts = self.contracts(rest[0])
        address = local_test_account(member.account).address
        if contracts.registry.has_role(member.role, address):
            contracts.registry.remove(local_test_account(GOVERNOR_ACCOUNT), member.role, address)
        self.stop_member(name)
        for other in rest:
            self.geth(other).rpc("admin_removePeer", node.enode)
            if daemons.running(self._pid_file(other, "kubo")):
                self._kubo_client(other).forget_peer(self.spec.kubo_peer_ids[name])
        self.spec.members.remove(member)
        self.spec.kubo_peer_ids.pop(name, None)
        self.save()
        for other in rest:  # later restarts peer only with the members that remain
            self.geth(other).write_peers([self.geth(m).enode for m in rest])
        say(f"{name} left the consortium")

    def wait_synced(self, member: Member, timeout: float = 120.0) -> None:
        """Wait until ``member``'s node has the head another running member has now."""
        others = [m for m in self.spec.members if m.name != member.name and self.geth(m).pid]
        target = max(int(str(self.geth(m).rpc("eth_blockNumber")), 16) for m in others)
        node = self.geth(member)
        deadline = time.monotonic() + timeout
        while int(str(node.rpc("eth_blockNumber")), 16) < target:
            if time.monotonic() > deadline:
                raise ChainUnavailableError(f"{member.name}'s node did not sync to block {target}")
            time.sleep(0.5)

    def signers(self) -> list[str]:
        """The current sealers' addresses, as the first running member's node sees them."""
        for member in self.spec.members:
            node = self.geth(member)
            if node.pid is not None:
                return [str(s).lower() for s in node.rpc("clique_getSigners", "latest")]
        raise ChainUnavailableError("no member's chain node is running")

    def _wait_signer(self, sealer: str, present: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (sealer.lower() in self.signers()) == present:
                return
            time.sleep(0.5)
        verb = "voted in" if present else "voted out"
        raise ChainUnavailableError(f"{sealer} was not {verb} within {timeout:.0f}s")

    def _kubo_address(self, member: Member) -> str:
        port = member.ports(self.spec.base_port)["kubo_swarm"]
        return f"/ip4/127.0.0.1/tcp/{port}/p2p/{self.spec.kubo_peer_ids[member.name]}"

    # ------------------------------------------------------------------ status
    def status(self) -> list[dict[str, Any]]:
        """Per member: chain height, peers, whether it seals, pinned/expected records and
        how far it lags behind the highest member (blocks)."""
        rows = []
        for member in self.spec.members:
            node = self.geth(member)
            row: dict[str, Any] = {"member": member.name, "rpc": node.url}
            try:
                row["height"] = int(str(node.rpc("eth_blockNumber")), 16)
                row["peers"] = int(str(node.rpc("net_peerCount")), 16)
                signers = [str(s).lower() for s in node.rpc("clique_getSigners", "latest")]
                row["sealing"] = node.sealer.lower() in signers
            except ChainUnavailableError:
                row.update(height=None, peers=None, sealing=False)
            replication = self.replication(member.name)
            row["replicates"] = member.replicates
            row["expected"] = replication.get("expected")
            row["pinned"] = replication.get("pinned")
            row["replicated_to"] = replication.get("block")
            try:
                with self._kubo_client(member) as kubo:
                    kubo.version()
                row["ipfs"] = "up"
            except IPFSUnavailableError:
                row["ipfs"] = "down"
            rows.append(row)
        heights = [r["height"] for r in rows if r["height"] is not None]
        top = max(heights, default=0)
        for row in rows:
            row["lag"] = None if row["height"] is None else top - row["height"]
        return rows

    def _kubo_client(self, member: Member) -> Any:
        from ..ipfs import IPFSClient

        return IPFSClient(self.kubo_url(member), timeout=5)


def _test_address(index: int) -> str:
    from ..onchain.signer import local_test_account

    return str(local_test_account(index).address)
