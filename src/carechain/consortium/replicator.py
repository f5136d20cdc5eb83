"""A member's replicator: pins every ciphertext the consortium anchors on the member's Kubo.

It follows the registry's ``RecordAnchored`` events through the member's own chain node and
asks the member's own Kubo node to pin each version's CID; Kubo fetches the blocks from
whichever member has them (bitswap between the peered nodes). Ciphertext only: a replica
reveals nothing a stranger could not already fetch. Progress is written to
``<root>/<member>/replication.json`` (``carechain network status`` reads it); a CID that
cannot be fetched yet (its author's node is down, say) is retried on the next pass.

    python -m carechain.consortium.replicator --root .carechain/network --member hospital-b
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CarechainError
from ..ipfs import IPFSClient
from ..unixfs import cid_from_digest, digest_from_cid

log = logging.getLogger(__name__)

#: Blocks behind the head the replicator stays (a reorg on Clique is shallow).
CONFIRMATIONS = 0
#: Pins asked of the member's Kubo at once (each may wait on a fetch from another member).
PARALLEL = 8


@dataclass
class Replicator:
    """Pins every anchored ciphertext on one Kubo node, following one chain node."""

    contracts: object  # carechain.onchain.Contracts, through the member's own node
    ipfs: IPFSClient
    state_file: Path
    fetch_timeout: float = 10.0
    block: int = -1
    expected: dict[str, int] = field(default_factory=dict)  # CID -> block anchored
    missing: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.state_file.exists():
            state = json.loads(self.state_file.read_text())
            self.block = int(state.get("block", -1))
            self.expected = dict(state.get("cids", {}))
            self.missing = set(state.get("missing", []))
        if self.block < 0:
            self.block = int(self.contracts.deployment.block) - 1  # type: ignore[attr-defined]

    def step(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Read the anchors since the last block read, pin what is not pinned yet (and
        retry what failed before), ``PARALLEL`` pins at a time; returns how many CIDs were
        pinned in this step."""
        registry = self.contracts.registry.contract  # type: ignore[attr-defined]
        head = self.contracts.node.block_number() - CONFIRMATIONS  # type: ignore[attr-defined]
        changed = False
        if head > self.block:
            for entry in registry.logs(registry.RecordAnchored, start=self.block + 1, stop=head):
                cid = cid_from_digest(bytes(entry.cidDigest))
                if cid not in self.expected:
                    self.expected[cid] = int(entry.block_number)
                    self.missing.add(cid)
            self.block, changed = head, True
        todo = sorted(self.missing, key=self.expected.__getitem__)
        pinned = 0
        with ThreadPoolExecutor(PARALLEL) as pool:
            for cid, ok in zip(todo, pool.map(self._pin, todo), strict=True):
                if not ok:
                    continue
                self.missing.discard(cid)
                pinned += 1
                if progress:
                    progress(pinned, len(todo))
        if changed or pinned:
            self.save()
        return pinned

    def _pin(self, cid: str) -> bool:
        try:
            self.ipfs.pin(digest_from_cid(cid), timeout=self.fetch_timeout)
        except CarechainError as exc:
            log.info("not yet replicated: %s (%s)", cid, exc)
            return False
        return True

    def check_pins(self) -> None:
        """Re-check that every expected CID is still pinned (a deleted repository refills:
        what is gone is fetched again from the other members)."""
        pinned = self.ipfs.pins()
        self.missing |= {cid for cid in self.expected if cid not in pinned}

    def save(self) -> None:
        state = {
            "block": self.block,
            "expected": len(self.expected),
            "pinned": len(self.expected) - len(self.missing),
            "missing": sorted(self.missing),
            "cids": self.expected,
            "updated": time.time(),
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_file)


def run(root: Path, member: str, interval: float = 1.0) -> None:
    """Replicate for ``member`` until stopped (SIGTERM)."""
    from .network import Network

    network = Network.load(root)
    contracts = network.contracts(member)
    replicator = Replicator(
        contracts,
        IPFSClient(network.kubo_url(member), timeout=30),
        root / member / "replication.json",
    )
    passes, identity = 0, None
    while True:
        try:
            now = replicator.ipfs.id().get("ID")
            if now != identity or passes % 30 == 0:  # a new repository, or now and then
                replicator.check_pins()
                identity = now
            replicator.step()
        except (CarechainError, ConnectionError, OSError) as exc:
            log.warning("replication pass failed (will retry): %s", exc)
        passes += 1
        time.sleep(interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--member", required=True)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    run(args.root, args.member, args.interval)


if __name__ == "__main__":
    main()
