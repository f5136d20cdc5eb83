"""Every state-changing function against every role: who may call it, and the named error
everyone else gets."""

import ape
import pytest

from carechain.chain import PROVIDER_ROLE
from tests.conftest import deploy_claims, deploy_consent, deploy_registry, random_id

ROLES = [
    "governor",
    "provider",
    "other_provider",
    "auditor",
    "insurer",
    "arbitrator",
    "patient",
    "guardian",
    "stranger",
]
END = 4_000_000_000  # a consent period end far in the future


@pytest.fixture(scope="module")
def world(
    project,
    governor,
    hospital,
    other_hospital,
    auditor,
    insurer,
    arbitrator,
    patient,
    guardian,
    stranger,
    doctor,
    chain,
):
    """One of everything, so each function has something to act on.

    Built once for the module; Ape's isolation reverts each case's changes, so every case
    starts from this same state."""
    registry = deploy_registry(project, governor, hospital, other_hospital)
    consent = deploy_consent(project, registry, governor, auditor)
    stablecoin = project.MockStablecoin.deploy(sender=governor)
    claims = deploy_claims(project, registry, consent, stablecoin, governor, insurer, arbitrator)
    record_id = random_id()
    registry.anchor(record_id, patient, 2, random_id(), sender=hospital)
    tx = consent.grant(doctor, 2, b"\x00" * 32, 0, END, b"\x00" * 32, sender=patient)
    grant_id = bytes(tx.decode_logs(consent.ConsentGranted)[0].grantId)
    consent.appointGuardian(guardian, sender=patient)
    tx = consent.openBreakGlass(patient, b"\x00" * 32, 600, sender=hospital)
    access_id = bytes(tx.decode_logs(consent.BreakGlassOpened)[0].accessId)
    callers = {
        "governor": governor,
        "provider": hospital,
        "other_provider": other_hospital,
        "auditor": auditor,
        "insurer": insurer,
        "arbitrator": arbitrator,
        "patient": patient,
        "guardian": guardian,
        "stranger": stranger,
    }
    # claims: escrow, a policy, payment consent, and a claim in each state the cases need
    claims.deposit(10_000, sender=insurer)
    terms = (patient.address, 10_000, 0, 0, 1 << 2, 0, END, 0)
    tx = claims.issuePolicy(terms, sender=insurer)
    policy_id = tx.decode_logs(claims.PolicyIssued)[0].policyId
    consent.grant(insurer, 2, b"\x00" * 32, 1, END, b"\x00" * 32, sender=patient)
    day = chain.blocks.head.timestamp // 86400

    def new_claim():
        request = (policy_id, patient.address, 1_000, day, random_id(), [record_id], random_id())
        tx = claims.submitClaim(request, sender=hospital)
        return bytes(tx.decode_logs(claims.ClaimSubmitted)[0].claimId)

    submitted, approved, denied, disputed = new_claim(), new_claim(), new_claim(), new_claim()
    claims.approveClaim(approved, 1_000, sender=insurer)
    claims.denyClaim(denied, b"\x00" * 32, sender=insurer)
    claims.denyClaim(disputed, b"\x00" * 32, sender=insurer)
    claims.disputeClaim(disputed, sender=patient)
    return {
        "registry": registry,
        "consent": consent,
        "record_id": record_id,
        "grant_id": grant_id,
        "access_id": access_id,
        "callers": callers,
        "patient": patient,
        "doctor": doctor,
        "claims": claims,
        "policy_id": policy_id,
        "day": day,
        "submitted": submitted,
        "approved": approved,
        "denied": denied,
        "disputed": disputed,
    }


def _grant_request(w):
    return (w["doctor"].address, 2, b"\x00" * 32, 1, 0, END, False, b"\x00" * 32)


# name -> (call, {role: allowed?}, error for the refused)
CASES = {
    "registry.grantRole": (
        lambda w, s: w["registry"].grantRole(PROVIDER_ROLE, w["doctor"], sender=s),
        {"governor"},
        "AccessControlUnauthorizedAccount",
    ),
    "registry.revokeRole": (
        lambda w, s: w["registry"].revokeRole(
            PROVIDER_ROLE, w["callers"]["other_provider"], sender=s
        ),
        {"governor"},
        "AccessControlUnauthorizedAccount",
    ),
    "registry.anchor": (
        lambda w, s: w["registry"].anchor(random_id(), w["patient"], 2, random_id(), sender=s),
        {"provider", "other_provider"},
        "NotProvider",
    ),
    "registry.anchorBatch": (
        lambda w, s: w["registry"].anchorBatch(
            [(random_id(), w["patient"].address, 2, random_id())], sender=s
        ),
        {"provider", "other_provider"},
        "NotProvider",
    ),
    "registry.supersede": (
        lambda w, s: w["registry"].supersede(w["record_id"], random_id(), sender=s),
        {"provider"},
        ("NotProvider", "NotRecordAuthor"),
    ),
    "registry.retract": (
        lambda w, s: w["registry"].retract(w["record_id"], random_id(), sender=s),
        {"provider"},
        ("NotProvider", "NotRecordAuthor"),
    ),
    "consent.grantFor": (
        lambda w, s: w["consent"].grantFor(w["patient"], _grant_request(w), sender=s),
        {"patient", "guardian"},
        "NotPatientOrGuardian",
    ),
    "consent.grantBatch": (
        lambda w, s: w["consent"].grantBatch(w["patient"], [_grant_request(w)], sender=s),
        {"patient", "guardian"},
        "NotPatientOrGuardian",
    ),
    "consent.revoke": (
        lambda w, s: w["consent"].revoke(w["grant_id"], sender=s),
        {"patient", "guardian"},
        "NotPatientOrGuardian",
    ),
    "consent.revokeBatch": (
        lambda w, s: w["consent"].revokeBatch([w["grant_id"]], sender=s),
        {"patient", "guardian"},
        "NotPatientOrGuardian",
    ),
    "consent.openBreakGlass": (
        lambda w, s: w["consent"].openBreakGlass(w["patient"], b"\x00" * 32, 600, sender=s),
        {"provider", "other_provider"},
        "NotAuthorized",
    ),
    "consent.reviewBreakGlass": (
        lambda w, s: w["consent"].reviewBreakGlass(w["access_id"], True, sender=s),
        {"auditor"},
        "NotAuthorized",
    ),
    "claims.deposit": (lambda w, s: w["claims"].deposit(1, sender=s), {"insurer"}, "NotInsurer"),
    "claims.withdraw": (
        lambda w, s: w["claims"].withdraw(1, sender=s),
        {"insurer"},
        "InsufficientEscrow",
    ),
    "claims.issuePolicy": (
        lambda w, s: w["claims"].issuePolicy(
            (w["patient"].address, 1, 0, 0, 0, 0, END, 0), sender=s
        ),
        {"insurer"},
        "NotInsurer",
    ),
    "claims.submitClaim": (
        lambda w, s: w["claims"].submitClaim(
            (
                w["policy_id"],
                w["patient"].address,
                5,
                w["day"],
                random_id(),
                [w["record_id"]],
                random_id(),
            ),
            sender=s,
        ),
        {"provider", "other_provider"},
        "NotProvider",
    ),
    "claims.approveClaim": (
        lambda w, s: w["claims"].approveClaim(w["submitted"], 100, sender=s),
        {"insurer"},
        "NotPolicyInsurer",
    ),
    "claims.denyClaim": (
        lambda w, s: w["claims"].denyClaim(w["submitted"], b"\x00" * 32, sender=s),
        {"insurer"},
        "NotPolicyInsurer",
    ),
    "claims.settle": (
        lambda w, s: w["claims"].settle([w["approved"]], sender=s),
        {"insurer"},
        "NotPolicyInsurer",
    ),
    "claims.disputeClaim": (
        lambda w, s: w["claims"].disputeClaim(w["denied"], sender=s),
        {"provider", "patient"},
        "NotPartyToClaim",
    ),
    "claims.resolveDispute": (
        lambda w, s: w["claims"].resolveDispute(w["disputed"], False, 0, b"\x00" * 32, sender=s),
        {"arbitrator"},
        "NotArbitrator",
    ),
    "consent.removeGuardian": (
        lambda w, s: w["consent"].removeGuardian(w["callers"]["guardian"], sender=s),
        {"patient"},
        "InvalidGuardian",
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_authorization(world, name, role):
    call, allowed, errors = CASES[name]
    sender = world["callers"][role]
    if role in allowed:
        call(world, sender)
        return
    with ape.reverts() as revert:
        call(world, sender)
    names = (errors,) if isinstance(errors, str) else errors
    assert any(n in repr(revert.value) for n in names), repr(revert.value)
