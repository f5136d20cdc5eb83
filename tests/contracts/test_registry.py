"""RecordRegistry: anchoring, versions, retraction, batches, views, and refusals."""

import ape
import pytest

from tests.helpers import random_id

OBSERVATION = 2
ZERO = b"\x00" * 32


def anchor(registry, sender, patient, record_id=None, digest=None, category=OBSERVATION):
    record_id = record_id or random_id()
    tx = registry.anchor(record_id, patient, category, digest or random_id(), sender=sender)
    return record_id, tx


def test_anchor_stores_head_and_emits_version_one(registry, hospital, patient):
    """A new record is stored (patient, author, category, version 1) and evented."""
    record_id, digest = random_id(), random_id()
    tx = registry.anchor(record_id, patient, OBSERVATION, digest, sender=hospital)

    [event] = tx.decode_logs(registry.RecordAnchored)
    assert bytes(event.recordId) == record_id
    assert event.patient == patient.address
    assert event.version == 1
    assert bytes(event.cidDigest) == digest

    head = registry.getRecord(record_id)
    assert (head.patient, head.version, head.category, head.status) == (
        patient.address,
        1,
        OBSERVATION,
        1,
    )
    assert registry.recordExists(record_id)
    assert registry.patientOf(record_id) == patient.address
    assert registry.authorOf(record_id) == hospital.address
    assert registry.latestVersion(record_id) == 1


def test_only_providers_anchor(registry, stranger, patient):
    """An address without the provider role cannot write."""
    with ape.reverts(registry.AccessControlUnauthorizedAccount, account=stranger.address):
        anchor(registry, stranger, patient)


def test_a_record_id_is_used_once(registry, hospital, other_hospital, patient):
    """Nothing is ever overwritten: re-anchoring an id reverts, even by another provider."""
    record_id, _ = anchor(registry, hospital, patient)
    with ape.reverts(registry.RecordExists, recordId=record_id):
        anchor(registry, other_hospital, patient, record_id=record_id)
    assert registry.authorOf(record_id) == hospital.address


@pytest.mark.parametrize(
    "record_id,digest",
    [(ZERO, b"\x05" * 32), (b"\x05" * 32, ZERO)],
    ids=["zero-record-id", "zero-digest"],
)
def test_zero_id_or_digest_is_refused(registry, hospital, patient, record_id, digest):
    """A zero id or digest would point at nothing; both are refused with their values."""
    with ape.reverts(registry.InvalidAnchor):
        registry.anchor(record_id, patient, OBSERVATION, digest, sender=hospital)


def test_zero_patient_is_refused(registry, hospital):
    """Every record belongs to someone."""
    with ape.reverts(registry.InvalidPatient):
        registry.anchor(random_id(), "0x" + "00" * 20, OBSERVATION, random_id(), sender=hospital)


def test_supersede_appends_versions(registry, hospital, patient):
    """A newer version supersedes; every version stays in the event history."""
    record_id, _ = anchor(registry, hospital, patient)
    digests = [random_id(), random_id()]
    for expected_version, digest in enumerate(digests, start=2):
        tx = registry.supersede(record_id, digest, sender=hospital)
        [event] = tx.decode_logs(registry.RecordAnchored)
        assert (event.version, bytes(event.cidDigest)) == (expected_version, digest)
        assert event.patient == patient.address
    assert registry.latestVersion(record_id) == 3
    history = list(registry.RecordAnchored.range(0, 10_000, search_topics={"recordId": record_id}))
    assert [e.version for e in history] == [1, 2, 3]


def test_only_the_author_supersedes(registry, hospital, other_hospital, patient):
    """Another provider cannot add versions to a record it did not write."""
    record_id, _ = anchor(registry, hospital, patient)
    with ape.reverts(registry.NotRecordAuthor, caller=other_hospital.address):
        registry.supersede(record_id, random_id(), sender=other_hospital)
    assert registry.latestVersion(record_id) == 1


def test_supersede_unknown_record(registry, hospital):
    """Superseding a record that does not exist names the id."""
    record_id = random_id()
    with ape.reverts(registry.UnknownRecord, recordId=record_id):
        registry.supersede(record_id, random_id(), sender=hospital)


def test_supersede_with_zero_digest_is_refused(registry, hospital, patient):
    record_id, _ = anchor(registry, hospital, patient)
    with ape.reverts(registry.InvalidAnchor):
        registry.supersede(record_id, ZERO, sender=hospital)


def test_retraction_marks_entered_in_error_and_is_terminal(registry, hospital, patient):
    """Retraction keeps the record and its history but takes no more versions."""
    record_id, _ = anchor(registry, hospital, patient)
    reason = b"\x07" * 32
    tx = registry.retract(record_id, reason, sender=hospital)
    [event] = tx.decode_logs(registry.RecordRetracted)
    assert (bytes(event.recordId), event.version, bytes(event.reason)) == (record_id, 1, reason)

    head = registry.getRecord(record_id)
    assert head.status == 2  # EnteredInError
    assert head.version == 1
    with ape.reverts(registry.RecordIsRetracted):
        registry.supersede(record_id, random_id(), sender=hospital)
    with ape.reverts(registry.RecordIsRetracted):
        registry.retract(record_id, reason, sender=hospital)


def test_only_the_author_retracts(registry, hospital, other_hospital, patient):
    record_id, _ = anchor(registry, hospital, patient)
    with ape.reverts(registry.NotRecordAuthor):
        registry.retract(record_id, b"\x01" * 32, sender=other_hospital)
    assert registry.getRecord(record_id).status == 1


def test_views_refuse_unknown_records(registry):
    """Views say 'unknown record' rather than returning a zero patient."""
    record_id = random_id()
    assert not registry.recordExists(record_id)
    for view in (registry.getRecord, registry.patientOf, registry.latestVersion, registry.authorOf):
        with ape.reverts(registry.UnknownRecord, recordId=record_id):
            view(record_id)


def test_batch_anchors_every_record(registry, hospital, patient, second_patient):
    """A batch stores and events every record, for several patients at once."""
    rows = [
        (random_id(), (patient if i % 2 else second_patient).address, i % 13, random_id())
        for i in range(20)
    ]
    tx = registry.anchorBatch(rows, sender=hospital)
    events = tx.decode_logs(registry.RecordAnchored)
    assert [(bytes(e.recordId), e.patient, bytes(e.cidDigest)) for e in events] == [
        (r[0], r[1], r[3]) for r in rows
    ]
    for record_id, owner, category, _ in rows:
        head = registry.getRecord(record_id)
        assert (head.patient, head.category, head.version) == (owner, category, 1)


def test_batch_is_all_or_nothing(registry, hospital, patient):
    """One duplicate in a batch reverts the whole batch: no half-written state."""
    existing, _ = anchor(registry, hospital, patient)
    fresh = random_id()
    rows = [(fresh, patient.address, 2, random_id()), (existing, patient.address, 2, random_id())]
    with ape.reverts(registry.RecordExists, recordId=existing):
        registry.anchorBatch(rows, sender=hospital)
    assert not registry.recordExists(fresh)


def test_batch_size_limits(registry, hospital, patient):
    """Empty and oversize batches are refused with the limit."""
    limit = registry.MAX_BATCH()
    with ape.reverts(registry.InvalidBatchSize, size=0, max=limit):
        registry.anchorBatch([], sender=hospital)
    rows = [(random_id(), patient.address, 2, random_id()) for _ in range(limit + 1)]
    with ape.reverts(registry.InvalidBatchSize, size=limit + 1, max=limit):
        registry.anchorBatch(rows, sender=hospital)


def test_batch_by_non_provider_is_refused(registry, stranger, patient):
    with ape.reverts(registry.AccessControlUnauthorizedAccount):
        registry.anchorBatch([(random_id(), patient.address, 2, random_id())], sender=stranger)


def test_gas_targets(registry, hospital, patient):
    """One record anchors within 50,000 gas (the foundation issue's target); a batch of
    100 costs at most 26,800 per record (see bench/README.md's gas table for the floor)."""
    _, tx = anchor(registry, hospital, patient)
    assert tx.gas_used <= 50_000
    rows = [(random_id(), patient.address, 2, random_id()) for _ in range(100)]
    tx = registry.anchorBatch(rows, sender=hospital)
    assert tx.gas_used / 100 <= 26_800
