"""The consortium story: three institutions, each on its own chain node and IPFS node.

    make network-demo      (starts the network with `make network` first if it is not up)

Hospital A writes alice's records through its own nodes; hospital B, which alice consented
to, reads them through B's nodes (the ciphertext crosses by IPFS's block exchange, the
anchor by the chain) and verifies them against its own copy of the chain; every member
replicates the ciphertexts; A's IPFS node goes down and alice still reads through B; the
insurer settles A's claim through its own nodes. Each step says which node it used.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from carechain import Category, Hospital, Insurer, KeyPair, Patient, Purpose, Scope
from carechain.consortium import Network
from carechain.ipfs import IPFSClient
from carechain.keystore import load_key_pair, save_key_pair
from carechain.samples import chart

console = Console(width=120)
USD = 10**6
YEAR = 365 * 86400
ALICE = 3


def party(net: Network, cls: type, member: str, account: int) -> object:
    """A party acting only through ``member``'s chain node and Kubo node, with its key pair
    kept in the network's folder (a second run reads what the first wrote)."""
    path = net.root / "keys" / f"TEST-{account}.key"
    if path.exists():
        pair = load_key_pair(path)
    else:
        path.parent.mkdir(exist_ok=True)
        pair = KeyPair.generate()
        save_key_pair(pair, path)
    return net.client(cls, member, account, pair, timeout=30)


def status(net: Network) -> None:
    table = Table(title="the consortium's members")
    for column in (
        "member",
        "chain node",
        "height",
        "peers",
        "sealing",
        "IPFS",
        "pinned / expected",
    ):
        table.add_column(column)
    for r in net.status():
        table.add_row(
            r["member"], r["rpc"], str(r["height"]), str(r["peers"]),
            "yes" if r["sealing"] else "no", r["ipfs"],
            f"{r['pinned'] or 0} / {r['expected'] or 0}",
        )  # fmt: skip
    console.print(table)


def wait_pinned(net: Network, member: str, digest: bytes, timeout: float = 60) -> float:
    client = IPFSClient(net.kubo_url(member), timeout=10)
    start = time.monotonic()
    while not client.is_pinned(digest):
        if time.monotonic() - start > timeout:
            raise SystemExit(
                f"{member} did not replicate within {timeout:.0f}s; see its replicator.log"
            )
        time.sleep(0.2)
    return time.monotonic() - start


def main() -> None:
    net = Network.load()
    console.rule("[bold]a consortium of three institutions, each on its own nodes")
    status(net)
    a = party(net, Hospital, "hospital-a", net.member("hospital-a").account)
    b = party(net, Hospital, "hospital-b", net.member("hospital-b").account)
    insurer = party(net, Insurer, "insurer", net.member("insurer").account)
    alice = party(net, Patient, "hospital-b", ALICE)  # hospital B serves alice
    for who in (a, b, insurer, alice):
        who.publish_key()
    now = alice.contracts.node.head_timestamp()
    alice.grant_access(b.address, Scope.all(), Purpose.TREATMENT, now + YEAR)
    alice.grant_access(a.address, Scope.all(), Purpose.TREATMENT, now + YEAR, share_keys=False)
    alice.grant_access(insurer.address, Scope.all(), Purpose.PAYMENT, now + YEAR)
    console.print(
        f"alice ({alice.address[:10]}…) published her key and consented to hospitals A and "
        f"B (treatment) and the insurer (payment), through {net.rpc_url('hospital-b')}"
    )

    console.rule("[bold]hospital A writes; hospital B reads through its own nodes")
    started = time.monotonic()
    refs = a.anchor_records([(alice.address, r) for r in chart(42, "MRN-42")])
    anchored = time.monotonic()
    console.print(
        f"hospital A anchored {len(refs)} records through {net.rpc_url('hospital-a')} "
        f"and {net.kubo_url('hospital-a')} in {anchored - started:.1f} s"
    )
    for ref in refs[:3]:
        record = b.read_record(ref.record_id, purpose=Purpose.TREATMENT)
        console.print(
            f"  B read {record.resource['resourceType']:<12} {ref.cid[:24]}… "
            f"verified against {net.rpc_url('hospital-b')}, fetched by {net.kubo_url('hospital-b')}"
        )
    console.print(
        f"anchor on A → readable and verified on B: {time.monotonic() - anchored:.2f} s "
        f"(blocks every {net.spec.period} s)"
    )
    for member in ("hospital-b", "insurer"):
        took = max(wait_pinned(net, member, ref.digest) for ref in refs)
        console.print(
            f"{member} holds a replica of all {len(refs)} ciphertexts "
            f"(ready within {took:.1f} s more)"
        )

    console.rule("[bold]hospital A's IPFS node goes down")
    net.stop_kubo("hospital-a")
    try:
        record = alice.read_record(refs[1].record_id)
        console.print(
            f"alice still reads her {record.resource['resourceType']} through hospital B's "
            "replica; nothing came from A's node"
        )
    finally:
        net.start_kubo(net.member("hospital-a"))
    console.print("hospital A's IPFS node is back")

    console.rule("[bold]the insurer settles A's claim through its own nodes")
    claims = insurer.contracts.claims
    claims.mint_test_tokens(insurer.account, insurer.address, 10_000 * USD)
    insurer.fund_escrow(10_000 * USD)
    policy = insurer.issue_policy(
        alice.address, 5_000 * USD, 0, 0, {Category.ENCOUNTER}, now - 86400, now + YEAR
    )
    encounter = next(r for r in refs if r.category is Category.ENCOUNTER)
    claim_id, _ = a.bill(
        policy,
        insurer.address,
        alice.address,
        [("99213", "Office visit", 180 * USD)],
        [encounter.record_id],
    )
    view = next(v for v in insurer.claims() if v.claim_id == claim_id)
    evidence = insurer.open_evidence(view)
    console.print(
        f"the insurer opened the claim's evidence ({evidence[0].resource['resourceType']}) "
        f"under alice's payment consent, through {net.rpc_url('insurer')}"
    )
    insurer.approve(claim_id, 180 * USD)
    insurer.settle([claim_id])
    console.print(
        f"approved and paid: hospital A's balance {claims.balance_of(a.address) / USD:,.2f} USD"
    )
    status(net)
    console.print(
        "the network keeps running (carechain network status); `make network-stop` stops it"
    )


if __name__ == "__main__":
    main()
