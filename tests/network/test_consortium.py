"""The consortium network on real nodes: three geth Clique sealers and three Kubo nodes on
loopback, one pair per member institution, each member acting only through its own nodes.

Marked ``network``: `make test` runs them (they need geth, which `make setup` builds).
"""

import time

import pytest

from carechain import Hospital, KeyPair, Patient, Purpose, Scope
from carechain.consortium import Network, NetworkSpec, free_base_port
from carechain.errors import ChainUnavailableError, IPFSUnavailableError
from carechain.ipfs import IPFSClient
from carechain.onchain.rpc import Node
from carechain.onchain.signer import local_test_account
from carechain.samples import chart

pytestmark = pytest.mark.network

ALICE, BOB = 3, 5  # patients (TEST::n)
YEAR = 365 * 86400


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    root = tmp_path_factory.mktemp("consortium")
    mp = pytest.MonkeyPatch()
    mp.setenv("CARECHAIN_DEPLOYMENTS_DIR", str(root / "deployments"))
    mp.setenv("CARECHAIN_STATE_DIR", str(root / "state"))
    network = Network.create(NetworkSpec.default(base_port=free_base_port()), root / "network")
    try:
        network.up()
        yield network
    finally:
        network.down()
        mp.undo()


def party(net, cls, member, account):
    """A party acting only through ``member``'s own chain node and Kubo node."""
    return net.client(cls, member, account, KeyPair.generate(), timeout=30)


@pytest.fixture(scope="module")
def people(net):
    """Hospital A's and hospital B's institutions, alice (served by B) with her key
    published and a consent letting B treat her."""
    a = party(net, Hospital, "hospital-a", net.member("hospital-a").account)
    b = party(net, Hospital, "hospital-b", net.member("hospital-b").account)
    alice = party(net, Patient, "hospital-b", ALICE)
    for who in (a, b, alice):
        who.publish_key()
    head = alice.contracts.node.head_timestamp()
    alice.grant_access(b.address, Scope.all(), Purpose.TREATMENT, head + YEAR)
    return {"a": a, "b": b, "alice": alice}


def wait_until(condition, timeout=60.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def replicated(net, member, digest):
    client = IPFSClient(net.kubo_url(member), timeout=10)
    return wait_until(lambda: client.is_pinned(digest), what=f"{member} to replicate")


def test_each_member_seals_and_sees_the_others(net):
    rows = net.status()
    assert [r["member"] for r in rows] == ["hospital-a", "hospital-b", "insurer"]
    for row in rows:
        assert row["sealing"] is True and row["peers"] == 2 and row["ipfs"] == "up"
    signers = net.geth(net.member("insurer")).rpc("clique_getSigners", "latest")
    assert len(signers) == 3
    # Blocks come from more than one sealer (proof of authority, not one node).
    node = Node(net.rpc_url("hospital-b"))
    head = node.block_number()
    miners = {
        net.geth(net.member("hospital-a")).rpc("clique_getSigner", hex(n))
        for n in range(head - 5, head + 1)
    }
    assert len(miners) >= 2


def test_a_record_written_on_a_is_read_and_verified_on_b_through_its_own_nodes(net, people):
    a, b = people["a"], people["b"]
    resource = chart(1, "MRN-CONSORTIUM-1")[0]
    ref = a.anchor_record(people["alice"].address, resource)
    b_kubo = IPFSClient(net.kubo_url("hospital-b"), timeout=10)
    # B's chain node has the anchor (mined on A, propagated); B's Kubo fetches the
    # ciphertext from the other members (bitswap) and B verifies it against its own chain.
    record = b.read_record(ref.record_id, purpose=Purpose.TREATMENT)
    assert record.resource == resource
    assert b.contracts.node.url == net.rpc_url("hospital-b")
    assert b_kubo.cat(ref.digest) == a.ipfs.cat(ref.digest)
    # And every replicating member pins it on its own Kubo.
    for member in ("hospital-b", "insurer"):
        assert replicated(net, member, ref.digest)


def test_a_record_stays_readable_while_its_authors_kubo_is_down(net, people):
    a, alice = people["a"], people["alice"]
    ref = a.anchor_record(alice.address, chart(2, "MRN-CONSORTIUM-2")[1])
    replicated(net, "hospital-b", ref.digest)
    net.stop_kubo("hospital-a")
    try:
        with pytest.raises(IPFSUnavailableError):
            a.ipfs.version()
        record = alice.read_record(ref.record_id)  # through hospital B's nodes
        assert record.resource["resourceType"] == chart(2, "MRN-CONSORTIUM-2")[1]["resourceType"]
    finally:
        net.start_kubo(net.member("hospital-a"))


def test_a_stopped_sealer_does_not_stop_the_chain_and_catches_up(net):
    insurer = net.geth(net.member("insurer"))
    a = Node(net.rpc_url("hospital-a"))
    insurer.stop()
    try:
        with pytest.raises(ChainUnavailableError, match=insurer.url):
            Node(insurer.url).block_number()
        stopped_at = a.block_number()
        wait_until(lambda: a.block_number() >= stopped_at + 3, what="blocks without the insurer")
    finally:
        net.start_member("insurer")
    back = Node(insurer.url)
    target = a.block_number()
    wait_until(lambda: back.block_number() >= target, what="the insurer to catch up")
    assert back.block(target)["hash"] == a.block(target)["hash"]


def test_a_deleted_kubo_repository_refills_from_the_others(net, people):
    a, alice = people["a"], people["alice"]
    ref = a.anchor_record(alice.address, chart(3, "MRN-CONSORTIUM-3")[2])
    replicated(net, "insurer", ref.digest)
    before = net.replication("insurer")["expected"]
    net.reset_kubo("insurer")  # stopped, repository deleted, started empty
    client = IPFSClient(net.kubo_url("insurer"), timeout=10)
    assert ref.cid not in client.pins()
    wait_until(
        lambda: net.replication("insurer").get("pinned") == before and client.is_pinned(ref.digest),
        timeout=90,
        what="the insurer's Kubo to refill",
    )


def test_a_client_pointed_at_a_stopped_node_is_told_which_node(net, people, tmp_path):
    """The CLI names the node and says what to do; no traceback. And a hospital whose own
    Kubo is down anchors nothing: no anchor without its ciphertext stored."""
    import subprocess
    import sys
    from pathlib import Path

    node = net.geth(net.member("hospital-b"))
    node.stop()
    try:
        carechain = str(Path(sys.executable).with_name("carechain"))
        cli = [carechain, "records", "list", "--account", f"TEST::{ALICE}"]
        run = subprocess.run([*cli, "--rpc", node.url], capture_output=True, text=True, check=False)
        assert run.returncode == 1
        assert node.url in run.stderr and "Traceback" not in run.stderr
    finally:
        net.start_member("hospital-b")
    a, alice = people["a"], people["alice"]
    before = len(a.contracts.registry.records_of(alice.address))
    net.stop_kubo("hospital-a")
    try:
        with pytest.raises(IPFSUnavailableError, match=net.kubo_url("hospital-a")):
            a.anchor_record(alice.address, chart(4, "MRN-CONSORTIUM-4")[1])
    finally:
        net.start_kubo(net.member("hospital-a"))
    assert len(a.contracts.registry.records_of(alice.address)) == before
    # And the other way round: A's chain node down, so nothing stays pinned on A's Kubo
    # (the SDK removes what it stored for an anchor that could not be sent).
    pins = a.ipfs.pins()
    a_node = net.geth(net.member("hospital-a"))
    a_node.stop()
    try:
        with pytest.raises(ChainUnavailableError, match=a_node.url):
            a.anchor_record(alice.address, chart(6, "MRN-CONSORTIUM-6")[1])
    finally:
        net.start_member("hospital-a")
    assert a.ipfs.pins() == pins


def test_a_member_joins_by_the_sealers_votes_replicates_and_leaves(net, people):
    a, alice = people["a"], people["alice"]
    ref = a.anchor_record(alice.address, chart(5, "MRN-CONSORTIUM-5")[1])
    member = net.join("hospital-c")
    node = net.geth(member)
    assert node.sealer.lower() in net.signers() and len(net.signers()) == 4
    contracts = net.contracts("hospital-c")
    assert contracts.registry.has_role("provider", local_test_account(member.account).address)
    # Its chain node has the whole history and its Kubo replicates what was anchored before.
    assert contracts.registry.head(ref.record_id).author == a.address
    expected = net.replication("hospital-b")["expected"]
    wait_until(
        lambda: net.replication("hospital-c").get("pinned") == expected,
        timeout=90,
        what="the new member to replicate",
    )
    assert IPFSClient(net.kubo_url("hospital-c"), timeout=10).is_pinned(ref.digest)

    # It seals: a block signed by it appears.
    def sealed_by_c():
        head = Node(net.rpc_url("hospital-a")).block_number()
        return any(
            str(net.geth(net.member("hospital-a")).rpc("clique_getSigner", hex(n))).lower()
            == node.sealer.lower()
            for n in range(max(1, head - 8), head + 1)
        )

    wait_until(sealed_by_c, what="a block sealed by the new member")

    net.leave("hospital-c")
    assert node.sealer.lower() not in net.signers() and len(net.signers()) == 3
    assert not net.contracts("hospital-a").registry.has_role(
        "provider", local_test_account(member.account).address
    )
    height = Node(net.rpc_url("hospital-a")).block_number()
    wait_until(
        lambda: Node(net.rpc_url("hospital-a")).block_number() >= height + 2,
        what="blocks after the member left",
    )
