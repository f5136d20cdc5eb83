"""Reading events behind an endpoint's limits: hosted providers refuse an eth_getLogs over a
few thousand blocks or with more than about ten thousand results. The SDK reads in pages
from the deployment's block, halves a page that is refused and grows a quiet one, so every
listing answers as it does on a node without limits."""

from carechain import Contracts, Purpose, Scope
from carechain.onchain import Node
from carechain.samples import chart
from tests.helpers import DAY, LimitedRpc


def test_listings_answer_the_same_behind_an_endpoint_that_caps_ranges_and_results(
    hospital_client, patient_client, doctor_client, contracts, chain
):
    patient = patient_client.address
    records = chart(21, "MRN-21")
    for start in range(0, 6, 2):  # two records per block, 1,000 empty blocks between
        hospital_client.anchor_records([(patient, r) for r in records[start : start + 2]])
        chain.provider.make_request("anvil_mine", [hex(1_000), "0x0"])
    now = chain.blocks.head.timestamp
    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, now + DAY)
    [(head, _), *_] = patient_client.list_records()
    doctor_client.read_record(head.record_id, purpose=Purpose.TREATMENT)
    doctor_client.receipts.flush()
    assert chain.blocks.height - contracts.deployment.block > 3_000

    # the caps scaled down with the chain: 400 blocks (providers: ~2,000), 3 results (~10,000)
    with LimitedRpc(chain.provider.uri, max_blocks=400, max_results=3) as endpoint:
        limited = Contracts(contracts.deployment, node=Node(endpoint.url))
        assert limited.registry.records_of(patient) == contracts.registry.records_of(patient)
        assert len(limited.registry.records_of(patient)) == 6
        assert limited.consent.consents(patient=patient) == contracts.consent.consents(
            patient=patient
        )
        assert limited.access_log.batches(patient) == contracts.access_log.batches(patient)
        assert limited.keys.public_key(patient, patient_client.key_pair.suite) == (
            patient_client.key_pair.public_key
        )
    assert endpoint.refused > 0  # the endpoint did refuse pages, and the SDK adapted
    # every query started at the deployment, not at block 0
    assert min(low for low, _ in endpoint.ranges) >= contracts.deployment.block
