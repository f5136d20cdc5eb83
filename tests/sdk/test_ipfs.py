"""The Kubo client against a real, private Kubo node; CIDs rebuilt locally must agree."""

import os

import httpx
import pytest

from carechain import (
    ContentNotFoundError,
    IntegrityError,
    IPFSClient,
    IPFSError,
    IPFSUnavailableError,
)
from carechain.unixfs import (
    CHUNK_SIZE,
    MAX_FILE_SIZE,
    compute_cid,
    dag_digest,
    digest_from_cid,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "size",
    [1, 1000, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 12345],
    ids=["1B", "1kB", "chunk-1", "chunk", "chunk+1", "3.01-chunks"],
)
def test_local_cid_matches_kubo(ipfs, size):
    """Our CID computation agrees with Kubo's, for one block and many."""
    data = os.urandom(size)
    added = ipfs.add(data)
    assert added.cid == compute_cid(data)
    assert ipfs.cat(added.digest) == data


def test_add_pins_and_unpin_releases(ipfs):
    added = ipfs.add(os.urandom(64))
    assert ipfs.is_pinned(added.digest)
    ipfs.unpin(added.digest)
    assert not ipfs.is_pinned(added.digest)


def test_node_identity_and_version(ipfs):
    assert ipfs.version() == "0.39.0"
    addresses = ipfs.id()["Addresses"] or []
    assert all("/127.0.0.1/" in a for a in addresses), addresses


def test_private_node_configuration(kubo):
    """The managed node has no bootstrap peers, no MDNS, routing none, loopback only."""
    import json

    config = json.loads((kubo.repo / "config").read_text())
    assert config["Bootstrap"] == []
    assert config["Discovery"]["MDNS"]["Enabled"] is False
    assert config["Routing"]["Type"] == "none"
    for address in [config["Addresses"]["API"], config["Addresses"]["Gateway"]]:
        assert address.startswith("/ip4/127.0.0.1/")
    assert all(a.startswith("/ip4/127.0.0.1/") for a in config["Addresses"]["Swarm"])


def test_a_second_daemon_on_a_running_repository_is_refused_and_harms_nothing(kubo):
    """Two carechain processes on one machine share its Kubo repository: the second one
    that would start a daemon there is told which node runs and how to use it, and the
    running node keeps its address file and keeps answering."""
    from carechain import KuboNode

    api = kubo.api_url
    assert KuboNode(kubo.repo).running_api() == api
    with pytest.raises(IPFSUnavailableError, match=f"CARECHAIN_IPFS_API={api}"):
        KuboNode(kubo.repo).start()
    assert kubo.api_url == api
    assert kubo.client.version()


def test_unknown_content_is_reported_not_awaited_forever(ipfs):
    """Content no node has is reported as not found within the fetch timeout."""
    with pytest.raises(ContentNotFoundError):
        ipfs.cat(dag_digest(os.urandom(32)), timeout=2)


def test_node_down_is_a_clear_error():
    """A client pointed at nothing says the node is unreachable."""
    client = IPFSClient("http://127.0.0.1:9", timeout=2)
    with pytest.raises(IPFSUnavailableError, match="is the Kubo daemon running"):
        client.version()


def _lying_node(body: bytes) -> IPFSClient:
    """A node that answers every request with ``body`` (unit test of error handling only)."""
    client = IPFSClient("http://127.0.0.1:1")
    client._http = httpx.Client(
        base_url="http://127.0.0.1:1/api/v0",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)),
    )
    return client


def test_node_returning_other_bytes_is_caught():
    """Bytes that do not hash to the anchored digest raise IntegrityError, never pass."""
    wanted = os.urandom(100)
    with pytest.raises(IntegrityError, match="do not hash"):
        _lying_node(os.urandom(100)).cat(dag_digest(wanted))


def test_node_lying_about_the_cid_on_add_is_caught():
    liar = _lying_node(b'{"Hash": "%s"}' % compute_cid(b"other").encode())
    with pytest.raises(IntegrityError, match="should be"):
        liar.add(b"record bytes")


@pytest.mark.parametrize(
    "sizes",
    [(10, 3000, 300_000, CHUNK_SIZE - 64), (10, CHUNK_SIZE, 5)],
    ids=["blocks", "one-over-the-block-limit (multipart add)"],
)
def test_add_many_stores_pins_and_checks_each_in_order(ipfs, sizes):
    """Either way of storing gives what add gives: Kubo's own CIDs, pinned, readable."""
    items = [os.urandom(n) for n in sizes]
    added = ipfs.add_many(items)
    assert [a.cid for a in added] == [compute_cid(d) for d in items]
    assert [ipfs.cat(a.digest) for a in added] == items
    assert all(ipfs.is_pinned(a.digest) for a in added)
    # ... exactly as a one-by-one add on a node without them would have stored them
    assert [ipfs.add(d, pin=False).cid for d in items] == [a.cid for a in added]


def test_add_many_refuses_a_node_that_leaves_an_item_out():
    cid = compute_cid(b"first")
    liar = _lying_node(b'{"Key": "%s"}\n' % cid.encode())
    with pytest.raises(IntegrityError, match="did not report a CID for item 1 of 2"):
        liar.add_many([b"first", b"second"])
    swapped = _lying_node(
        b'{"Key": "%s"}\n{"Key": "%s"}\n'
        % (compute_cid(b"second").encode(), compute_cid(b"first").encode())
    )
    with pytest.raises(IntegrityError, match="should be"):
        swapped.add_many([b"first", b"second"])
    big = os.urandom(CHUNK_SIZE)  # its block is over 1 MiB: a multipart add
    short = _lying_node(b'{"Name": "0", "Hash": "%s"}\n' % compute_cid(big).encode())
    with pytest.raises(IntegrityError, match="did not report a CID for item 1 of 2"):
        short.add_many([big, b"second"])


def test_add_many_pins_nothing_when_storing_the_blocks_fails():
    """A node that fails the block upload is never asked to pin (unit test of error
    handling: a real node cannot be made to fail half-way on purpose)."""
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(500, json={"Message": "disk full", "Code": 0})

    client = IPFSClient("http://127.0.0.1:1")
    client._http = httpx.Client(
        base_url="http://127.0.0.1:1/api/v0", transport=httpx.MockTransport(answer)
    )
    with pytest.raises(IPFSError, match="disk full"):
        client.add_many([b"first", b"second"])
    assert asked == ["/api/v0/block/put"]


def test_cid_parsing_refuses_foreign_cids():
    with pytest.raises(ValueError):
        digest_from_cid("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
    with pytest.raises(ValueError):
        digest_from_cid("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")


def test_oversize_content_is_refused_before_upload(ipfs):
    with pytest.raises(ValueError, match="limit"):
        dag_digest(b"\x00" * (MAX_FILE_SIZE + 1))
