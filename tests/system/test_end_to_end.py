"""Hospital → IPFS → chain → patient, against a real anvil and a real Kubo node."""

import hashlib

import pytest

from carechain import (
    Category,
    ChainError,
    ConsentRequiredError,
    ContentNotFoundError,
    Hospital,
    InvalidRecordError,
    KeyNotFoundError,
    KeyPair,
    NotAuthorizedError,
    Patient,
    RecordNotFoundError,
)
from carechain.model import PendingAnchor
from carechain.records import fetch_and_open
from carechain.samples import chart
from carechain.unixfs import batch_node, cid_from_digest

pytestmark = pytest.mark.integration


def test_patient_reads_what_the_hospital_anchored(hospital_client, patient_client, ipfs):
    """The full path: validate, encrypt, store, anchor; then list, fetch, verify, decrypt."""
    records = chart(11, "MRN-11")
    refs = hospital_client.anchor_records([(patient_client.address, r) for r in records])

    listed = patient_client.list_records()
    assert {head.record_id for head, _ in listed} == {ref.record_id for ref in refs}
    for ref, record in zip(refs, records, strict=True):
        assert ipfs.is_pinned(ref.digest)
        assert ref.cid == cid_from_digest(ref.digest)
        opened = patient_client.read_record(ref.record_id)
        assert opened.resource["resourceType"] == record["resourceType"]
        assert opened.head.patient == patient_client.address
        assert opened.head.author == hospital_client.address
        assert opened.head.category == ref.category
    assert refs[0].category == Category.DEMOGRAPHICS


def test_nothing_readable_is_stored_on_ipfs(hospital_client, patient_client, ipfs):
    """The bytes on IPFS contain none of the record's identifying or clinical text."""
    record = chart(12, "MRN-CANARY-12")[0]
    ref = hospital_client.anchor_record(patient_client.address, record)
    stored = ipfs.cat(ref.digest)
    for secret in ("MRN-CANARY-12", record["name"][0]["family"], record["birthDate"]):
        assert secret.encode() not in stored


def test_a_third_party_cannot_read(hospital_client, patient_client, contracts, ipfs, stranger):
    """Someone the record was not encrypted to gets a clear refusal, not garbage."""
    ref = hospital_client.anchor_record(patient_client.address, chart(13, "MRN-13")[1])
    eve = Patient(stranger, contracts, ipfs, KeyPair.generate())
    with pytest.raises(ConsentRequiredError, match="no active consent"):
        eve.read_record(ref.record_id)
    # Even going around the SDK's consent check, the ciphertext does not open for her.
    with pytest.raises(KeyNotFoundError, match="not wrapped to your key"):
        fetch_and_open(contracts, ipfs, eve.key_pair, ref.record_id)


def test_the_author_can_read_back(hospital_client, patient_client):
    ref = hospital_client.anchor_record(patient_client.address, chart(14, "MRN-14")[2])
    assert hospital_client.read_record(ref.record_id).resource["resourceType"] == "Condition"


def test_supersede_and_read_any_version(hospital_client, patient_client):
    """A new version is what the patient reads by default; older versions stay readable."""
    first, second = chart(15, "MRN-15")[3], chart(16, "MRN-15")[3]
    ref = hospital_client.anchor_record(patient_client.address, first)
    newer = hospital_client.supersede_record(ref.record_id, second)
    assert newer.version == 2
    latest = patient_client.read_record(ref.record_id)
    assert latest.version.version == 2
    assert latest.resource["valueQuantity"] == second["valueQuantity"]
    original = patient_client.read_record(ref.record_id, version=1)
    assert original.resource["valueQuantity"] == first["valueQuantity"]
    assert [h.version for h, _ in patient_client.list_records()] == [2]


def test_retracted_record_is_flagged_and_still_readable(hospital_client, patient_client):
    ref = hospital_client.anchor_record(patient_client.address, chart(17, "MRN-17")[1])
    hospital_client.retract_record(ref.record_id)
    opened = patient_client.read_record(ref.record_id)
    assert opened.retracted
    with pytest.raises(ChainError, match="RecordIsRetracted"):
        hospital_client.supersede_record(ref.record_id, chart(18, "MRN-17")[1])


def test_invalid_fhir_stores_nothing(hospital_client, patient_client, ipfs):
    """Malformed FHIR is refused before anything reaches IPFS or the chain."""
    pins_before = ipfs.pins()
    good = chart(19, "MRN-19")[0]
    bad = {"resourceType": "Observation", "status": "final"}
    with pytest.raises(InvalidRecordError, match="code"):
        hospital_client.anchor_records(
            [(patient_client.address, good), (patient_client.address, bad)]
        )
    assert ipfs.pins() == pins_before
    assert patient_client.list_records() == []


def test_unadmitted_hospital_is_refused_before_storing(contracts, ipfs, stranger, patient_client):
    pins_before = ipfs.pins()
    rogue = Hospital(stranger, contracts, ipfs, KeyPair.generate())
    with pytest.raises(NotAuthorizedError, match="not an admitted provider"):
        rogue.anchor_record(patient_client.address, chart(20, "MRN-20")[0])
    assert ipfs.pins() == pins_before


def test_patient_without_key_is_refused_before_storing(hospital_client, ipfs, second_patient):
    pins_before = ipfs.pins()
    with pytest.raises(KeyNotFoundError, match="has not published an encryption key"):
        hospital_client.anchor_record(second_patient.address, chart(21, "MRN-21")[0])
    assert ipfs.pins() == pins_before


def test_failed_anchor_unpins_its_content(
    hospital_client, patient_client, contracts, ipfs, monkeypatch
):
    """If the transaction reverts, the ciphertext added for it is unpinned: no orphans."""
    taken = hospital_client.anchor_record(patient_client.address, chart(22, "MRN-22")[0])
    pins_before = ipfs.pins()
    monkeypatch.setattr("carechain.hospital.new_record_id", lambda: taken.record_id)
    with pytest.raises(ChainError, match="RecordExists"):
        hospital_client.anchor_record(patient_client.address, chart(23, "MRN-23")[0])
    assert ipfs.pins() == pins_before


def test_a_failing_batch_keeps_the_batches_before_it_and_pins_nothing_of_the_rest(
    hospital_client, patient_client, contracts, ipfs, monkeypatch
):
    """Batches are stored while the previous one's transaction is in flight; when the third
    batch's transaction is refused, the first two stay anchored (their refs are on the
    error) and pinned (one pin each), and nothing stored for the third is pinned."""
    taken = hospital_client.anchor_record(patient_client.address, chart(24, "MRN-24")[0])
    pins_before = ipfs.pins()
    fresh = iter([bytes([i]) * 32 for i in range(1, 5)] + [taken.record_id, b"\x09" * 32])
    monkeypatch.setattr("carechain.hospital.new_record_id", lambda: next(fresh))
    items = [(patient_client.address, r) for r in chart(25, "MRN-25")]  # 6 records
    with pytest.raises(ChainError, match="RecordExists") as failure:
        hospital_client.anchor_records(items, batch_size=2)
    kept = failure.value.anchored
    assert [ref.record_id for ref in kept] == [bytes([i]) * 32 for i in range(1, 5)]
    assert len({ref.transaction for ref in kept}) == 2
    assert all(contracts.registry.exists(ref.record_id) for ref in kept)
    assert not contracts.registry.exists(b"\x09" * 32)
    pairs = [kept[0:2], kept[2:4]]
    assert ipfs.pins() == pins_before | {
        cid_from_digest(hashlib.sha256(batch_node([r.digest for r in p])).digest()) for p in pairs
    }
    assert all(ipfs.is_pinned(ref.digest) for ref in kept)
    assert patient_client.read_record(kept[3].record_id).resource == items[3][1]


def test_unknown_record_is_a_clear_error(patient_client):
    with pytest.raises(RecordNotFoundError, match="no record"):
        patient_client.read_record(b"\x42" * 32)


def test_anchored_content_missing_from_ipfs_is_reported(contracts, hospital, patient_client, ipfs):
    """A digest anchored for content no node has is reported as missing, within a timeout."""
    phantom = PendingAnchor(b"\x43" * 32, patient_client.address, Category.OTHER, b"\x44" * 32)
    contracts.registry.anchor(hospital, phantom)
    ipfs.fetch_timeout = 2
    try:
        with pytest.raises(ContentNotFoundError):
            patient_client.read_record(phantom.record_id)
    finally:
        ipfs.fetch_timeout = 10


def test_batches_report_gas_per_record(hospital_client, patient_client):
    """A batch of 100 records anchors in one transaction per batch, cheaper per record."""
    items = [(patient_client.address, r) for seed in range(17) for r in chart(seed, "MRN-B")]
    refs = hospital_client.anchor_records(items[:100], batch_size=100)
    assert len(refs) == 100
    assert len({ref.transaction for ref in refs}) == 1
    single = hospital_client.anchor_record(patient_client.address, items[0][1])
    assert refs[0].gas_used < single.gas_used


def test_the_sdk_reports_progress_through_its_callback_and_prints_nothing(
    hospital_client, patient_client, capfd
):
    """A library does not print: bulk anchoring calls ``progress(done, total)`` per batch
    and writes nothing to stdout or stderr."""
    items = [(patient_client.address, r) for seed in range(3) for r in chart(seed, "MRN-P")]
    calls: list[tuple[int, int]] = []
    capfd.readouterr()
    hospital_client.anchor_records(items, batch_size=4, progress=lambda d, t: calls.append((d, t)))
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    total = len(items)
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert len([d for d, _ in calls if d > 0]) == -(-total // 4)  # one report per batch


def test_stale_deployment_is_a_clear_error(contracts):
    """A deployment file that points at nothing (restarted chain) says so."""
    import dataclasses

    from carechain import ConfigurationError, Contracts

    stale = dataclasses.replace(contracts.deployment, registry="0x" + "12" * 20)
    with pytest.raises(ConfigurationError, match="redeploy"):
        Contracts(stale)
    wrong_chain = dataclasses.replace(contracts.deployment, chain_id=11155111)
    with pytest.raises(ConfigurationError, match="is for chain 11155111, but the node at"):
        Contracts(wrong_chain)
