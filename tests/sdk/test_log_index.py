"""The local index of a deployment's events: listings answer from it after reading only
what is new, a reorg undoes what it undid, and deleting the file costs only a rescan."""

import contextlib
import time
from threading import Thread

from carechain import Contracts
from carechain.errors import ChainUnavailableError
from carechain.onchain import Node
from carechain.samples import chart
from tests.helpers import LimitedRpc


def test_a_listing_reads_only_what_is_new_and_answers_as_the_chain_does(
    hospital_client, patient_client, contracts, chain, tmp_path
):
    patient = patient_client.address
    records = chart(31, "MRN-31")
    hospital_client.anchor_records([(patient, r) for r in records[:3]])
    with LimitedRpc(chain.provider.uri) as endpoint:
        indexed = Contracts(contracts.deployment, Node(endpoint.url), tmp_path / "index.sqlite")
        assert indexed.registry.records_of(patient) == contracts.registry.records_of(patient)
        read_to = indexed.index.cursor
        endpoint.ranges.clear()
        hospital_client.anchor_records([(patient, records[3])])
        assert indexed.registry.records_of(patient) == contracts.registry.records_of(patient)
        assert len(indexed.registry.records_of(patient)) == 4
        assert indexed.consent.consents(patient=patient) == contracts.consent.consents(
            patient=patient
        )
    # after the first catch-up, only the blocks since it were asked for
    assert endpoint.ranges and min(low for low, _ in endpoint.ranges) == read_to + 1


def test_a_reorg_is_undone_and_a_deleted_index_is_rebuilt(
    hospital_client, patient_client, contracts, chain, tmp_path
):
    patient = patient_client.address
    records = chart(32, "MRN-32")
    hospital_client.anchor_records([(patient, records[0])])
    path = tmp_path / "index.sqlite"
    indexed = Contracts(contracts.deployment, contracts.node, path)
    before = indexed.registry.records_of(patient)
    fork_point = chain.blocks.height
    [gone] = hospital_client.anchor_records([(patient, records[1])])
    assert gone.record_id in {v.record_id for v in indexed.registry.records_of(patient)}
    # the block holding that anchor is replaced by an empty one
    chain.provider.make_request("anvil_reorg", [chain.blocks.height - fork_point, []])
    after = indexed.registry.records_of(patient)
    assert after == contracts.registry.records_of(patient) == before
    assert int(indexed.index._get("reorgs")) == 1
    indexed.index.close()
    path.unlink()
    rebuilt = Contracts(contracts.deployment, contracts.node, path)
    assert rebuilt.registry.records_of(patient) == before


def _waiting_listings(indexed, patient, threads=8):
    """``threads`` listings started while the index's lock is held, each waiting for it; the
    lock is let go once every one of them has been numbered. Returns their results."""
    results: list = [None] * threads

    def listing(i):
        results[i] = indexed.registry.records_of(patient)

    with indexed.index._lock:
        first = int(repr(indexed.index._calls)[6:-1])  # the number the next call takes
        started = [Thread(target=listing, args=(i,)) for i in range(threads)]
        for t in started:
            t.start()
        deadline = time.monotonic() + 10
        while repr(indexed.index._calls) != f"count({first + threads})":  # all waiting
            assert time.monotonic() < deadline, "the listings never reached the index"
            time.sleep(0.01)
    for t in started:
        t.join(10)
    return results


def _one_record_behind(contracts, hospital_client, patient, tmp_path, seed):
    """An index caught up, then one more record anchored for ``patient``."""
    indexed = Contracts(contracts.deployment, contracts.node, tmp_path / "index.sqlite")
    indexed.index.catch_up()
    hospital_client.anchor_records([(patient, chart(seed, f"MRN-{seed}")[0])])
    return indexed


def _count_catch_ups(index, monkeypatch, fail_first=False):
    """The catch-ups that read the chain, counted (the first one failing, if asked)."""
    reads: list[int] = []
    real = index._catch_up

    def counted():
        reads.append(1)
        if fail_first and len(reads) == 1:
            raise ChainUnavailableError("the node went away")
        return real()

    monkeypatch.setattr(index, "_catch_up", counted)
    return reads


def test_listings_made_at_once_share_one_catch_up(
    hospital_client, patient_client, contracts, tmp_path, monkeypatch
):
    """A worker's threads read eight claims' evidence at once: they wait for one reading of
    the chain, not for eight in turn, and every one of them sees what was anchored before
    it asked."""
    patient = patient_client.address
    indexed = _one_record_behind(contracts, hospital_client, patient, tmp_path, 33)
    reads = _count_catch_ups(indexed.index, monkeypatch)
    results = _waiting_listings(indexed, patient)
    assert len(reads) == 1
    assert results == [contracts.registry.records_of(patient)] * 8
    assert len(results[0]) == 1


def test_a_failed_catch_up_covers_no_one(
    hospital_client, patient_client, contracts, tmp_path, monkeypatch
):
    """If the shared reading fails (the node went away), the listings that waited for it do
    not answer from what the index had: the next one reads the chain itself."""
    patient = patient_client.address
    indexed = _one_record_behind(contracts, hospital_client, patient, tmp_path, 34)
    reads = _count_catch_ups(indexed.index, monkeypatch, fail_first=True)
    monkeypatch.setattr(Thread, "run", _swallowing(Thread.run))
    results = _waiting_listings(indexed, patient)
    assert len(reads) == 2  # the failed one, then one that covered the rest
    answered = [r for r in results if r is not None]
    assert len(answered) == 7
    assert answered == [contracts.registry.records_of(patient)] * 7


def test_a_held_index_answers_as_of_its_catch_up_and_reads_again_after(
    hospital_client, patient_client, contracts, tmp_path, monkeypatch
):
    """The worker decides a round of claims on one reading of the chain (``held``): inside
    it, listings read no more; the first listing after it reads what was mined meanwhile."""
    patient = patient_client.address
    indexed = _one_record_behind(contracts, hospital_client, patient, tmp_path, 35)
    with indexed.index.held() as head:
        assert head == contracts.node.block_number()
        seen = indexed.registry.records_of(patient)
        hospital_client.anchor_records([(patient, chart(36, "MRN-36")[0])])
        assert indexed.registry.records_of(patient) == seen
    assert len(seen) == 1
    assert indexed.registry.records_of(patient) == contracts.registry.records_of(patient)
    assert len(indexed.registry.records_of(patient)) == 2


def _swallowing(run):
    def quiet(self):
        with contextlib.suppress(ChainUnavailableError):
            run(self)

    return quiet
