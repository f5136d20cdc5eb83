"""Consent that controls decryption, end to end: grant, read, revoke, deny, sign, audit."""

import pytest

from carechain import (
    Category,
    ConsentRequiredError,
    KeyNotFoundError,
    Patient,
    Purpose,
    Scope,
)
from carechain.crypto import envelope_readers, key_fingerprint
from carechain.samples import chart

pytestmark = pytest.mark.integration
MONTH = 30 * 86400


def until(chain, seconds=MONTH):
    return chain.blocks.head.timestamp + seconds


@pytest.fixture
def chart_refs(hospital_client, patient_client):
    """The patient's chart: Patient, Encounter, Condition and three Observations."""
    return hospital_client.anchor_records(
        [(patient_client.address, r) for r in chart(31, "MRN-31")], progress=False
    )


def test_grant_shares_keys_for_existing_records(patient_client, doctor_client, chart_refs, chain):
    """Records anchored before the grant are readable through the grant's key object."""
    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain))
    for ref in chart_refs:
        opened = doctor_client.read_record(ref.record_id, purpose=Purpose.TREATMENT)
        assert opened.head.patient == patient_client.address
    assert len(doctor_client.receipts.pending) == len(chart_refs)


def test_no_consent_no_read(patient_client, doctor_client, chart_refs):
    with pytest.raises(ConsentRequiredError, match="ask the patient to grant it"):
        doctor_client.read_record(chart_refs[0].record_id)


def test_consent_is_per_purpose(patient_client, doctor_client, chart_refs, chain):
    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.RESEARCH, until(chain))
    with pytest.raises(ConsentRequiredError, match="treatment"):
        doctor_client.read_record(chart_refs[0].record_id, purpose=Purpose.TREATMENT)
    doctor_client.read_record(chart_refs[0].record_id, purpose=Purpose.RESEARCH)


def test_new_record_in_scope_is_readable_without_a_new_grant(
    hospital_client, patient_client, doctor_client, chain
):
    """The author encrypts records anchored later to grantees whose consent covers them."""
    patient_client.grant_access(
        doctor_client.address, Scope.category(Category.OBSERVATION), Purpose.TREATMENT, until(chain)
    )
    observation, condition = chart(32, "MRN-32")[3], chart(32, "MRN-32")[2]
    later = hospital_client.anchor_record(patient_client.address, observation)
    other = hospital_client.anchor_record(patient_client.address, condition)
    fingerprint = key_fingerprint(doctor_client.key_pair.public_key)
    assert fingerprint in envelope_readers(doctor_client.ipfs.cat(later.digest))
    assert fingerprint not in envelope_readers(doctor_client.ipfs.cat(other.digest))
    assert doctor_client.read_record(later.record_id).resource["resourceType"] == "Observation"
    with pytest.raises(ConsentRequiredError):
        doctor_client.read_record(other.record_id)


def test_revocation_refuses_reads_and_future_versions(
    hospital_client, patient_client, doctor_client, chart_refs, chain
):
    """After revocation the SDK refuses reads, and a version anchored after it is not
    encrypted to the former grantee, even if they later regain permission."""
    target = chart_refs[3].record_id
    grant_id, _ = patient_client.grant_access(
        doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain)
    )
    doctor_client.read_record(target)
    patient_client.revoke_access(grant_id)
    with pytest.raises(ConsentRequiredError):
        doctor_client.read_record(target)

    newer = hospital_client.rotate_record_key(target)
    fingerprint = key_fingerprint(doctor_client.key_pair.public_key)
    assert fingerprint not in envelope_readers(doctor_client.ipfs.cat(newer.digest))
    # Consent again, but without re-sharing keys: the new version stays closed to them.
    patient_client.grant_access(
        doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain), share_keys=False
    )
    with pytest.raises(KeyNotFoundError, match="no key for version 2"):
        doctor_client.read_record(target)


def test_deny_inside_grant(hospital_client, patient_client, doctor_client, chain):
    """'Everything except mental health': the note is refused, the rest readable."""
    note = {
        "resourceType": "Condition",
        "code": {"text": "Generalised anxiety disorder"},
        "subject": {"reference": "Patient/mrn-33"},
    }
    note_ref = hospital_client.anchor_record(patient_client.address, note, Category.MENTAL_HEALTH)
    obs_ref = hospital_client.anchor_record(patient_client.address, chart(33, "MRN-33")[3])
    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain))
    patient_client.deny_access(
        doctor_client.address,
        Scope.category(Category.MENTAL_HEALTH),
        Purpose.TREATMENT,
        until(chain),
    )
    doctor_client.read_record(obs_ref.record_id)
    with pytest.raises(ConsentRequiredError):
        doctor_client.read_record(note_ref.record_id)


def test_expired_consent_is_refused(patient_client, doctor_client, chart_refs, chain):
    patient_client.grant_access(
        doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain, 600)
    )
    doctor_client.read_record(chart_refs[0].record_id)
    chain.mine(timestamp=until(chain, 601))
    with pytest.raises(ConsentRequiredError):
        doctor_client.read_record(chart_refs[0].record_id)


def test_signed_consent_relayed_by_anyone(
    patient_client, doctor_client, chart_refs, contracts, stranger, chain
):
    """The patient signs (no ETH); the payload survives JSON; a stranger relays it."""
    from carechain import SignedConsent

    signed = patient_client.sign_access(
        doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain), until(chain, 3600)
    )
    relayed = SignedConsent.from_json(signed.to_json())
    contracts.consent.relay(stranger, relayed)
    assert (
        doctor_client.read_record(chart_refs[1].record_id).resource["resourceType"] == "Encounter"
    )


def test_guardian_grants_for_the_patient(
    patient_client, doctor_client, chart_refs, contracts, ipfs, guardian, chain
):
    patient_client.appoint_guardian(guardian.address)
    contracts.consent.grant(
        guardian,
        doctor_client.address,
        Scope.record(chart_refs[0].record_id),
        Purpose.TREATMENT,
        until(chain),
        patient=patient_client.address,
    )
    assert contracts.consent.can_access(
        doctor_client.address, chart_refs[0].record_id, Purpose.TREATMENT
    )
    assert [c.grantee for c in patient_client.consents()] == [doctor_client.address]


def test_audit_trail_shows_and_proves_every_read(
    patient_client, doctor_client, chart_refs, contracts, chain
):
    """Reads become signed receipts; their Merkle root is anchored; the patient sees each
    read, checks its signature, and the chain confirms each receipt's inclusion."""
    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain))
    read = [chart_refs[0].record_id, chart_refs[2].record_id, chart_refs[0].record_id]
    for record_id in read:
        doctor_client.read_record(record_id)
    [root] = doctor_client.receipts.flush()
    assert doctor_client.receipts.pending == []

    trail = patient_client.audit_trail()
    assert [entry.receipt.record_id for entry in trail] == read
    for entry in trail:
        assert entry.signature_valid and entry.in_anchored_batch
        assert entry.receipt.reader == doctor_client.address
        assert entry.root == root
        leaf = entry.receipt.leaf(contracts)
        assert contracts.access_log.verify(root, leaf, entry.proof)

    forged = type(trail[0].receipt)(**{**trail[0].receipt.__dict__, "version": 9})
    assert not contracts.access_log.verify(root, forged.leaf(contracts), trail[0].proof)


def test_strangers_cannot_open_the_trail(
    patient_client, doctor_client, chart_refs, contracts, ipfs, stranger, chain
):
    from carechain import CarechainError, KeyPair

    patient_client.grant_access(doctor_client.address, Scope.all(), Purpose.TREATMENT, until(chain))
    doctor_client.read_record(chart_refs[0].record_id)
    doctor_client.receipts.flush()
    impostor = Patient(stranger, contracts, ipfs, KeyPair.generate())
    from carechain.consent import audit_trail

    with pytest.raises(CarechainError, match="cannot be opened"):
        audit_trail(contracts, ipfs, patient_client.address, impostor.key_pair)


def test_break_glass_authorises_emergency_reads_only(
    patient_client, doctor_client, chart_refs, contracts, governor, chain
):
    contracts.registry.admit(governor, "provider", doctor_client.account)
    target = chart_refs[0].record_id
    assert not contracts.consent.can_access(doctor_client.address, target, Purpose.EMERGENCY)
    doctor_client.open_break_glass(patient_client.address, "unconscious-in-ED", 600)
    assert contracts.consent.can_access(doctor_client.address, target, Purpose.EMERGENCY)
    assert not contracts.consent.can_access(doctor_client.address, target, Purpose.TREATMENT)
    chain.mine(timestamp=until(chain, 601))
    assert not contracts.consent.can_access(doctor_client.address, target, Purpose.EMERGENCY)


def test_grant_round_trips_through_fhir_consent(patient_client, doctor_client, chart_refs, chain):
    """A grant exports as a valid FHIR Consent; a Consent imports as the same grant."""
    from carechain.fhir_consent import from_fhir_consent, to_fhir_consent

    scope = Scope.category(Category.OBSERVATION)
    patient_client.grant_access(doctor_client.address, scope, Purpose.RESEARCH, until(chain))
    [consent] = patient_client.consents()
    resource = to_fhir_consent(consent)
    assert resource["resourceType"] == "Consent" and resource["status"] == "active"
    assert resource["provision"]["purpose"][0]["code"] == "HRESCH"
    grantee, parsed_scope, purpose, end, deny = from_fhir_consent(resource)
    assert (grantee, parsed_scope, purpose, end, deny) == (
        doctor_client.address,
        scope,
        Purpose.RESEARCH,
        consent.end,
        False,
    )

    resource["provision"]["actor"] = []
    from carechain import InvalidRecordError

    with pytest.raises(InvalidRecordError, match=r"provision\.actor"):
        from_fhir_consent(resource)
