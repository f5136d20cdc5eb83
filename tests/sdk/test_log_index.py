"""The local index of a deployment's events: listings answer from it after reading only
what is new, a reorg undoes what it undid, and deleting the file costs only a rescan."""

from carechain import Contracts
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
