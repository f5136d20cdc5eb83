"""The consortium network's figures, on a fresh three-member network of real geth (Clique)
and Kubo nodes on loopback.

    make bench      (or: python bench/network.py)

- anchoring throughput: records per second anchored (realistic FHIR records, encrypted,
  stored on the author's Kubo, anchored in batches) by one hospital, then by two at once,
  each through its own nodes;
- latency from `anchor` on hospital A to readable-and-verified on hospital B (B's chain node
  has the anchor, B's Kubo fetched the ciphertext, B decrypted it): p50 and p95, split into
  the wait for A's block and the rest;
- replication: a member joining after 10,000 records were anchored (CARECHAIN_BENCH_REPLICATE)
  until its Kubo holds a copy of every one.

The block period (1 s unless CARECHAIN_BENCH_PERIOD says otherwise) is written with the
figures. Writes bench/results/network.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from carechain import Hospital, KeyPair, Patient, Purpose, Scope  # noqa: E402
from carechain.consortium import Network, NetworkSpec, free_base_port  # noqa: E402
from carechain.samples import chart  # noqa: E402

PERIOD = int(os.environ.get("CARECHAIN_BENCH_PERIOD", "1"))
THROUGHPUT = int(os.environ.get("CARECHAIN_BENCH_NETWORK_RECORDS", "600"))
LATENCY = int(os.environ.get("CARECHAIN_BENCH_LATENCY", "20"))
REPLICATE = int(os.environ.get("CARECHAIN_BENCH_REPLICATE", "10000"))
PATIENTS = (3, 4, 5, 6, 7)
#: Records per anchoring transaction: the registry's maximum. A transaction waits about two
#: block periods (see docs/consortium.md), so on this chain the batch sets the rate.
BATCH = 500
YEAR = 365 * 86400
console = Console()


def party(net: Network, cls: type, member: str, account: int) -> object:
    return net.client(cls, member, account, KeyPair.generate())


def records(count: int, seed: int) -> list[dict]:
    out: list[dict] = []
    n = 0
    while len(out) < count:
        out += chart(seed * 100_000 + n, f"MRN-{seed}-{n}")
        n += 1
    return out[:count]


def anchor_many(hospital: Hospital, patients: list[str], count: int, seed: int) -> float:
    """Anchor ``count`` records for ``patients`` (round robin); returns the seconds taken."""
    items = [(patients[i % len(patients)], r) for i, r in enumerate(records(count, seed))]
    start = time.perf_counter()
    hospital.anchor_records(items, batch_size=BATCH)
    return time.perf_counter() - start


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="carechain-network-bench-"))
    os.environ["CARECHAIN_DEPLOYMENTS_DIR"] = str(root / "deployments")
    os.environ["CARECHAIN_STATE_DIR"] = str(root / "state")
    spec = NetworkSpec.default(3, free_base_port(), PERIOD)
    net = Network.create(spec, root / "network")
    results: dict = {"period_s": PERIOD, "members": 3}
    try:
        console.print(f"starting a 3-member consortium ({PERIOD} s blocks) in {root}")
        net.up()
        a = party(net, Hospital, "hospital-a", net.member("hospital-a").account)
        b = party(net, Hospital, "hospital-b", net.member("hospital-b").account)
        patients = [party(net, Patient, "hospital-b", n) for n in PATIENTS]
        for who in (a, b, *patients):
            who.publish_key()
        now = b.contracts.node.head_timestamp()
        patients[0].grant_access(b.address, Scope.all(), Purpose.TREATMENT, now + YEAR)
        addresses = [p.address for p in patients]

        # -- throughput: one hospital, then two at once
        anchor_many(a, addresses, 20, 1)  # warm-up
        seconds = anchor_many(a, addresses, THROUGHPUT, 2)
        one = THROUGHPUT / seconds
        console.print(f"one hospital: {THROUGHPUT} records in {seconds:.1f} s = {one:.0f}/s")
        times: dict[str, float] = {}

        def run(name: str, hospital: Hospital, seed: int) -> None:
            times[name] = anchor_many(hospital, addresses, THROUGHPUT, seed)

        threads = [
            threading.Thread(target=run, args=("a", a, 3)),
            threading.Thread(target=run, args=("b", b, 4)),
        ]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        two = 2 * THROUGHPUT / wall
        console.print(
            f"two hospitals at once: {2 * THROUGHPUT} records in {wall:.1f} s = {two:.0f}/s"
        )
        results["anchor_rps"] = {"one_hospital": round(one, 1), "two_hospitals": round(two, 1)}

        # -- latency: anchor on A -> readable and verified on B
        alice = patients[0]
        total, block_part = [], []
        for i in range(LATENCY):
            resource = chart(900 + i, f"MRN-LAT-{i}")[2]
            start = time.perf_counter()
            ref = a.anchor_record(alice.address, resource)
            mined = time.perf_counter()
            while True:
                try:
                    record = b.read_record(ref.record_id, purpose=Purpose.TREATMENT)
                    break
                except Exception:
                    time.sleep(0.02)
            assert record.resource == resource
            done = time.perf_counter()
            total.append(done - start)
            block_part.append(mined - start)
        p = statistics.quantiles(total, n=20)
        results["anchor_to_read_on_b_s"] = {
            "p50": round(statistics.median(total), 3),
            "p95": round(p[18], 3),
            "waiting_for_a_block_p50": round(statistics.median(block_part), 3),
            "samples": LATENCY,
        }
        console.print(f"anchor on A → verified on B: {results['anchor_to_read_on_b_s']}")

        # -- a new member replicates REPLICATE records
        have = net.replication("hospital-b").get("expected") or 0
        if have < REPLICATE:
            console.print(
                f"anchoring {REPLICATE - have} more records for the replication figure..."
            )
            anchor_many(a, addresses, REPLICATE - have, 5)
        target = len(
            a.contracts.registry.contract.logs(a.contracts.registry.contract.RecordAnchored)
        )
        start = time.perf_counter()
        net.join("hospital-c")
        joined = time.perf_counter()
        while (net.replication("hospital-c").get("pinned") or 0) < target:
            if time.perf_counter() - start > 1800:
                raise SystemExit("the new member did not replicate within 30 minutes")
            time.sleep(1)
        took = time.perf_counter() - start
        results["new_member_replication"] = {
            "records": target,
            "seconds": round(took, 1),
            "join_s": round(joined - start, 1),
            "per_s": round(target / took, 1),
        }
        console.print(f"new member: {target} records replicated in {took:.0f} s")
    finally:
        net.down()
    table = Table(title=f"consortium (3 members, {PERIOD} s blocks)")
    table.add_column("figure")
    table.add_column("value")
    table.add_row("records/s, one hospital", f"{results['anchor_rps']['one_hospital']:.0f}")
    table.add_row(
        "records/s, two hospitals at once", f"{results['anchor_rps']['two_hospitals']:.0f}"
    )
    lat = results["anchor_to_read_on_b_s"]
    table.add_row(
        "anchor on A → verified on B, p50 / p95", f"{lat['p50']:.2f} s / {lat['p95']:.2f} s"
    )
    table.add_row(
        "  of which waiting for A's block (p50)", f"{lat['waiting_for_a_block_p50']:.2f} s"
    )
    rep = results["new_member_replication"]
    table.add_row(f"new member replicates {rep['records']:,} records", f"{rep['seconds']:.0f} s")
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "network.json").write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"written to {RESULTS / 'network.json'}")


if __name__ == "__main__":
    main()
