"""ConsentManager: FHIR-shaped grants, denials, expiry, guardians, break-glass."""

import ape
import pytest

from tests.helpers import random_id

TREATMENT, PAYMENT, RESEARCH, EMERGENCY = range(4)
RECORD, CATEGORY, ALL = range(3)
OBSERVATION, MENTAL_HEALTH = 2, 10
ZERO = b"\x00" * 32
HOUR = 3600


def category(code):
    return code.to_bytes(32, "big")


def request(
    grantee,
    kind=ALL,
    value=ZERO,
    purpose=TREATMENT,
    start=0,
    end=None,
    deny=False,
    keys=ZERO,
    now=None,
):
    end = end if end is not None else (now or 2_000_000_000) + 30 * 24 * HOUR
    return (
        grantee.address if hasattr(grantee, "address") else grantee,
        kind,
        value,
        purpose,
        start,
        end,
        deny,
        keys,
    )


@pytest.fixture
def records(registry, hospital, patient):
    """Two of the patient's records: an observation and a mental-health note."""
    observation, note = random_id(), random_id()
    registry.anchor(observation, patient, OBSERVATION, random_id(), sender=hospital)
    registry.anchor(note, patient, MENTAL_HEALTH, random_id(), sender=hospital)
    return observation, note


def now(chain):
    return chain.blocks.head.timestamp


def grant(consent, patient, req):
    """Grant through the path that fits: the lean `grant` or the full `grantFor`."""
    grantee, kind, value, purpose, start, end, deny, keys = req
    if start == 0 and not deny:
        return consent.grant(grantee, kind, value, purpose, end, keys, sender=patient)
    return consent.grantFor(patient, req, sender=patient)


def test_grant_all_lets_the_grantee_read_for_that_purpose_only(
    consent, patient, doctor, records, chain
):
    """A consent is evented, stored, and answers the access question exactly."""
    observation, _ = records
    tx = grant(consent, patient, request(doctor, now=now(chain)))
    [event] = tx.decode_logs(consent.ConsentGranted)
    assert (event.patient, event.grantee, event.kind, event.purpose) == (
        patient.address,
        doctor.address,
        ALL,
        TREATMENT,
    )
    assert bytes(event.grantId) == bytes(consent.grantIdOf(patient, doctor, ALL, ZERO, TREATMENT))
    assert consent.canAccess(doctor, observation, TREATMENT)
    assert not consent.canAccess(doctor, observation, RESEARCH)
    assert not consent.canAccess(patient, observation, TREATMENT)


def test_record_and_category_scopes(consent, patient, doctor, records, chain):
    observation, note = records
    grant(consent, patient, request(doctor, RECORD, observation, now=now(chain)))
    assert consent.canAccess(doctor, observation, TREATMENT)
    assert not consent.canAccess(doctor, note, TREATMENT)
    grant(consent, patient, request(doctor, CATEGORY, category(MENTAL_HEALTH), now=now(chain)))
    assert consent.canAccess(doctor, note, TREATMENT)


def test_deny_inside_a_wider_grant(consent, patient, doctor, records, chain):
    """'All records except mental health': the most specific consent decides."""
    observation, note = records
    grant(consent, patient, request(doctor, now=now(chain)))
    denial = request(doctor, CATEGORY, category(MENTAL_HEALTH), deny=True, now=now(chain))
    tx = grant(consent, patient, denial)
    assert len(tx.decode_logs(consent.ConsentDenied)) == 1
    assert consent.canAccess(doctor, observation, TREATMENT)
    assert not consent.canAccess(doctor, note, TREATMENT)
    # ...and an exception to the exception: this one note, explicitly permitted
    grant(consent, patient, request(doctor, RECORD, note, now=now(chain)))
    assert consent.canAccess(doctor, note, TREATMENT)


def test_a_consent_applies_only_inside_its_period(consent, patient, doctor, records, chain):
    observation, _ = records
    start = now(chain) + HOUR
    grant(consent, patient, request(doctor, start=start, end=start + HOUR))
    assert not consent.canAccess(doctor, observation, TREATMENT)
    chain.mine(timestamp=start)
    assert consent.canAccess(doctor, observation, TREATMENT)
    chain.mine(timestamp=start + HOUR)
    assert not consent.canAccess(doctor, observation, TREATMENT)


def test_new_records_in_scope_are_covered_without_a_new_grant(
    consent, registry, hospital, patient, doctor, chain
):
    grant(consent, patient, request(doctor, CATEGORY, category(OBSERVATION), now=now(chain)))
    later = random_id()
    registry.anchor(later, patient, OBSERVATION, random_id(), sender=hospital)
    assert consent.canAccess(doctor, later, TREATMENT)


def test_revoke_ends_access(consent, patient, doctor, records, chain):
    observation, _ = records
    tx = grant(consent, patient, request(doctor, now=now(chain)))
    grant_id = bytes(tx.decode_logs(consent.ConsentGranted)[0].grantId)
    tx = consent.revoke(grant_id, sender=patient)
    [event] = tx.decode_logs(consent.ConsentRevoked)
    assert (bytes(event.grantId), event.patient) == (grant_id, patient.address)
    assert not consent.canAccess(doctor, observation, TREATMENT)
    assert consent.getConsent(grant_id).end == 0
    with ape.reverts(consent.UnknownConsent, grantId=grant_id):
        consent.revoke(grant_id, sender=patient)


def test_only_the_patient_or_a_guardian_revokes(consent, patient, doctor, stranger, chain):
    tx = grant(consent, patient, request(doctor, now=now(chain)))
    grant_id = bytes(tx.decode_logs(consent.ConsentGranted)[0].grantId)
    for intruder in (stranger, doctor):
        with ape.reverts(consent.NotPatientOrGuardian, caller=intruder.address):
            consent.revoke(grant_id, sender=intruder)
    assert consent.getConsent(grant_id).end > 0


@pytest.mark.parametrize(
    "make,error",
    [
        (lambda p, d, r, t: request(ape.utils.ZERO_ADDRESS, now=t), "InvalidGrantee"),
        (lambda p, d, r, t: request(p, now=t), "InvalidGrantee"),
        (lambda p, d, r, t: request(d, end=t - 1), "InvalidPeriod"),
        (lambda p, d, r, t: request(d, start=t + 10, end=t + 10), "InvalidPeriod"),
        (lambda p, d, r, t: request(d, RECORD, random_id(), now=t), "UnknownRecord"),
        (lambda p, d, r, t: request(d, RECORD, r, now=t), "RecordNotOfPatient"),
        (lambda p, d, r, t: request(d, CATEGORY, category(256), now=t), "InvalidScope"),
        (lambda p, d, r, t: request(d, ALL, category(1), now=t), "InvalidScope"),
    ],
    ids=[
        "zero-grantee",
        "self-grantee",
        "expired",
        "empty-period",
        "unknown-record",
        "other-patients-record",
        "category-out-of-range",
        "all-with-value",
    ],
)
def test_bad_grants_are_refused(
    consent, registry, hospital, patient, doctor, second_patient, chain, make, error
):
    foreign = random_id()
    registry.anchor(foreign, second_patient, OBSERVATION, random_id(), sender=hospital)
    with ape.reverts() as revert:
        grant(consent, patient, make(patient, doctor, foreign, now(chain)))
    assert error in repr(revert.value)


def test_grant_and_revoke_gas(consent, patient, doctor, chain):
    """grant about 50,000 gas, even with a key object's digest (its floor is 50,127 since it
    reads the consent's slot for the signature nonce: bench/README.md); revoke ≤ 30,000."""
    keys = random_id()
    tx = grant(consent, patient, request(doctor, keys=keys, now=now(chain)))
    assert tx.gas_used <= 50_300
    grant_id = bytes(tx.decode_logs(consent.ConsentGranted)[0].grantId)
    tx = consent.revoke(grant_id, sender=patient)
    assert tx.gas_used <= 30_000


def test_batch_grant_and_revoke(consent, patient, doctor, insurer_like, chain):
    requests = [
        request(doctor, now=now(chain)),
        request(insurer_like, purpose=PAYMENT, now=now(chain)),
    ]
    tx = consent.grantBatch(patient, requests, sender=patient)
    ids = [bytes(e.grantId) for e in tx.decode_logs(consent.ConsentGranted)]
    assert len(ids) == 2
    consent.revokeBatch(ids, sender=patient)
    assert all(consent.getConsent(i).end == 0 for i in ids)
    with ape.reverts(consent.InvalidBatchSize):
        consent.grantBatch(patient, [], sender=patient)


@pytest.fixture
def insurer_like(accounts):
    return accounts[9]


# ------------------------------------------------------------------ guardians


def test_guardian_acts_for_the_patient(consent, patient, guardian, doctor, records, chain):
    observation, _ = records
    tx = consent.appointGuardian(guardian, sender=patient)
    assert len(tx.decode_logs(consent.GuardianAppointed)) == 1
    assert consent.isGuardian(patient, guardian)
    tx = consent.grantFor(patient, request(doctor, now=now(chain)), sender=guardian)
    grant_id = bytes(tx.decode_logs(consent.ConsentGranted)[0].grantId)
    assert consent.canAccess(doctor, observation, TREATMENT)
    consent.revoke(grant_id, sender=guardian)
    assert not consent.canAccess(doctor, observation, TREATMENT)


def test_removed_guardian_and_strangers_cannot_act(
    consent, patient, guardian, stranger, doctor, chain
):
    with ape.reverts(consent.NotPatientOrGuardian, caller=stranger.address):
        consent.grantFor(patient, request(doctor, now=now(chain)), sender=stranger)
    consent.appointGuardian(guardian, sender=patient)
    consent.removeGuardian(guardian, sender=patient)
    with ape.reverts(consent.NotPatientOrGuardian, caller=guardian.address):
        consent.grantFor(patient, request(doctor, now=now(chain)), sender=guardian)
    with ape.reverts(consent.InvalidGuardian):
        consent.removeGuardian(guardian, sender=patient)


def test_invalid_guardians_are_refused(consent, patient):
    with ape.reverts(consent.InvalidGuardian):
        consent.appointGuardian(patient, sender=patient)
    with ape.reverts(consent.InvalidGuardian):
        consent.appointGuardian(ape.utils.ZERO_ADDRESS, sender=patient)


# ------------------------------------------------------------------ break-glass


def test_break_glass_is_time_boxed_evented_and_reviewed(
    consent, hospital, patient, auditor, records, chain
):
    observation, _ = records
    reason = b"\x01" * 32
    tx = consent.openBreakGlass(patient, reason, HOUR, sender=hospital)
    [event] = tx.decode_logs(consent.BreakGlassOpened)
    assert (event.patient, event.clinician, bytes(event.justification)) == (
        patient.address,
        hospital.address,
        reason,
    )
    access_id = bytes(event.accessId)
    assert consent.canAccess(hospital, observation, EMERGENCY)
    assert not consent.canAccess(hospital, observation, TREATMENT)

    chain.mine(timestamp=event.expiresAt)
    assert not consent.canAccess(hospital, observation, EMERGENCY)

    tx = consent.reviewBreakGlass(access_id, False, sender=auditor)
    [review] = tx.decode_logs(consent.BreakGlassReviewed)
    assert (review.auditor, review.review) == (auditor.address, 2)
    assert consent.getBreakGlass(access_id).review == 2
    with ape.reverts(consent.UnknownOrReviewed):
        consent.reviewBreakGlass(access_id, True, sender=auditor)


def test_break_glass_refusals(consent, hospital, patient, auditor, stranger):
    with ape.reverts(consent.AccessControlUnauthorizedAccount, account=stranger.address):
        consent.openBreakGlass(patient, ZERO, HOUR, sender=stranger)
    with ape.reverts(consent.InvalidDuration):
        consent.openBreakGlass(patient, ZERO, 24 * HOUR + 1, sender=hospital)
    with ape.reverts(consent.InvalidDuration):
        consent.openBreakGlass(patient, ZERO, 0, sender=hospital)
    tx = consent.openBreakGlass(patient, ZERO, HOUR, sender=hospital)
    access_id = bytes(tx.decode_logs(consent.BreakGlassOpened)[0].accessId)
    with ape.reverts(consent.AccessControlUnauthorizedAccount, account=hospital.address):
        consent.reviewBreakGlass(access_id, True, sender=hospital)
    with ape.reverts(consent.UnknownOrReviewed):
        consent.reviewBreakGlass(random_id(), True, sender=auditor)
