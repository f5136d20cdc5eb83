"""Nothing is pinned without its anchor: batched ingest stores records unpinned, and pins a
batch (with one pin: a node linking its records) only once its transaction is mined. A
process killed at any point before that leaves nothing pinned; one killed between the anchor
and the pin is made whole by running the same idempotent ingest again, which sends
nothing."""

import hashlib

import pytest

from carechain import IPFSUnavailableError
from carechain.samples import chart
from carechain.unixfs import batch_node, cid_from_digest

pytestmark = pytest.mark.integration


def with_ids(resources, prefix):
    return [dict(r, id=f"{prefix}-{i}") for i, r in enumerate(resources)]


def nonce(chain, address):
    return chain.provider.web3.eth.get_transaction_count(address, "pending")


def test_a_batch_is_pinned_once_anchored_with_one_pin(hospital_client, patient_client, ipfs):
    items = [(patient_client.address, r) for r in chart(31, "MRN-31") + chart(32, "MRN-32")]
    before = ipfs.pins()
    refs = hospital_client.anchor_records(items, batch_size=5)
    new_pins = ipfs.pins() - before
    assert len(new_pins) == 3  # batches of 5, 5 and 2: one pin each, not one per record
    assert all(ipfs.is_pinned(ref.digest) for ref in refs)
    # each pin is the node linking one batch's records, in anchoring order
    batches = [refs[0:5], refs[5:10], refs[10:12]]
    expected = {
        cid_from_digest(hashlib.sha256(batch_node([r.digest for r in b])).digest()) for b in batches
    }
    assert new_pins == expected


def test_nothing_is_pinned_before_the_anchor_is_mined(
    hospital_client, patient_client, ipfs, contracts, monkeypatch
):
    """The state a SIGKILL just before (or while) the anchoring transaction is sent leaves:
    every record of the batch stored, none of them pinned."""
    items = [(patient_client.address, r) for r in chart(33, "MRN-33")]
    before = ipfs.pins()
    seen = {}
    real = contracts.registry.anchor_batch

    def observed(sender, pending):
        seen["pins"] = ipfs.pins()
        seen["stored"] = [ipfs.cat(p.cid_digest) for p in pending]  # on the node already
        seen["pinned"] = [ipfs.is_pinned(p.cid_digest) for p in pending]
        return real(sender, pending)

    monkeypatch.setattr(contracts.registry, "anchor_batch", observed)
    refs = hospital_client.anchor_records(items)
    assert seen["pins"] == before and not any(seen["pinned"])
    assert len(seen["stored"]) == len(refs)
    assert all(ipfs.is_pinned(ref.digest) for ref in refs)  # pinned once anchored


def test_a_failed_anchor_leaves_its_batch_unpinned(
    hospital_client, patient_client, ipfs, contracts, monkeypatch
):
    taken = hospital_client.anchor_record(patient_client.address, chart(34, "MRN-34")[0])
    before = ipfs.pins()
    ids = iter([taken.record_id] + [bytes([i]) * 32 for i in range(1, 6)])
    monkeypatch.setattr("carechain.hospital.new_record_id", lambda: next(ids))
    with pytest.raises(Exception, match="RecordExists"):
        hospital_client.anchor_records(
            [(patient_client.address, r) for r in chart(35, "MRN-35")[:3]]
        )
    assert ipfs.pins() == before


def test_killed_between_anchor_and_pin_a_rerun_pins_and_sends_nothing(
    hospital_client, patient_client, ipfs, chain, monkeypatch
):
    items = [(patient_client.address, r) for r in with_ids(chart(36, "MRN-36"), "pin")]

    def kubo_gone(digests, timeout=60.0):
        raise IPFSUnavailableError("Kubo stopped answering")

    monkeypatch.setattr(ipfs, "pin_together", kubo_gone)
    with pytest.raises(IPFSUnavailableError) as failed:
        hospital_client.anchor_records(items, idempotent=True)
    anchored = failed.value.anchored
    assert len(anchored) == len(items)  # the anchor landed; the pin did not
    assert not any(ipfs.is_pinned(ref.digest) for ref in anchored)
    monkeypatch.undo()
    sent = nonce(chain, hospital_client.address)

    again = hospital_client.anchor_records(items, idempotent=True)
    assert nonce(chain, hospital_client.address) == sent  # nothing anchored twice
    assert all(ref.existing for ref in again)
    assert [r.digest for r in again] == [r.digest for r in anchored]
    assert all(ipfs.is_pinned(ref.digest) for ref in again)
