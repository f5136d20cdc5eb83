"""Every state-changing function against every role: who may call it, and the named error
everyone else gets."""

import ape
import pytest

from carechain.model import PROVIDER_ROLE
from tests.helpers import deploy_claims, deploy_consent, deploy_registry, random_id

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
    consent.grant(hospital, 2, b"\x00" * 32, 0, END, b"\x00" * 32, sender=patient)
    day = chain.blocks.head.timestamp // 86400

    def new_claim():
        evidence = random_id()  # a record backs at most one claim
        registry.anchor(evidence, patient, 2, random_id(), sender=hospital)
        request = (policy_id, patient.address, 1_000, day, random_id(), [evidence], random_id())
        tx = claims.submitClaim(request, sender=hospital)
        return bytes(tx.decode_logs(claims.ClaimSubmitted)[0].claimId)

    submitted, approved, denied, disputed = new_claim(), new_claim(), new_claim(), new_claim()
    unclaimed = random_id()
    registry.anchor(unclaimed, patient, 2, random_id(), sender=hospital)
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
        "unclaimed": unclaimed,
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
        "AccessControlUnauthorizedAccount",
    ),
    "registry.anchorBatch": (
        lambda w, s: w["registry"].anchorBatch(
            [(random_id(), w["patient"].address, 2, random_id())], sender=s
        ),
        {"provider", "other_provider"},
        "AccessControlUnauthorizedAccount",
    ),
    "registry.supersede": (
        lambda w, s: w["registry"].supersede(w["record_id"], random_id(), sender=s),
        {"provider"},
        ("AccessControlUnauthorizedAccount", "NotRecordAuthor"),
    ),
    "registry.retract": (
        lambda w, s: w["registry"].retract(w["record_id"], random_id(), sender=s),
        {"provider"},
        ("AccessControlUnauthorizedAccount", "NotRecordAuthor"),
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
        # another patient: the world's open access to its patient awaits review
        lambda w, s: w["consent"].openBreakGlass(w["doctor"], b"\x00" * 32, 600, sender=s),
        {"provider", "other_provider"},
        "AccessControlUnauthorizedAccount",
    ),
    "consent.reviewBreakGlass": (
        lambda w, s: w["consent"].reviewBreakGlass(w["access_id"], True, sender=s),
        {"auditor"},
        "AccessControlUnauthorizedAccount",
    ),
    "consent.closeBreakGlass": (
        lambda w, s: w["consent"].closeBreakGlass(w["access_id"], sender=s),
        {"provider", "auditor", "patient", "guardian"},
        "NotPatientOrGuardian",
    ),
    "claims.deposit": (
        lambda w, s: w["claims"].deposit(1, sender=s),
        {"insurer"},
        "AccessControlUnauthorizedAccount",
    ),
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
        "AccessControlUnauthorizedAccount",
    ),
    "claims.submitClaim": (
        lambda w, s: w["claims"].submitClaim(
            (
                w["policy_id"],
                w["patient"].address,
                5,
                w["day"],
                random_id(),
                [w["unclaimed"]],
                random_id(),
            ),
            sender=s,
        ),
        # the other provider is admitted but has no care relationship with the patient
        {"provider"},
        ("AccessControlUnauthorizedAccount", "NoCareRelationship"),
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
        "AccessControlUnauthorizedAccount",
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
    _check_case(CASES[name], world, role)


def _check_case(case, world, role) -> None:
    """Call ``case`` as ``role``: it succeeds if the role is allowed, and otherwise reverts
    with one of the case's named errors."""
    call, allowed, errors = case
    sender = world["callers"][role]
    if role in allowed:
        call(world, sender)
        return
    with ape.reverts() as revert:
        call(world, sender)
    names = (errors,) if isinstance(errors, str) else errors
    assert any(n in repr(revert.value) for n in names), repr(revert.value)


# ------------------------------------------------------------------------ traceability

SUPPLY_CHAIN = ["manufacturer", "distributor", "pharmacy", "regulator"]
TRACE_ROLES = ROLES + SUPPLY_CHAIN
GTIN = 9506000134352  # under the manufacturer's company prefix 9506000
DI = 9506000200019  # a device of the same brand


@pytest.fixture(scope="module")
def trace_world(world, project, accounts, governor, chain):
    """A Traceability on the same registry, the supply-chain roles admitted, the maker's
    company prefix assigned, and a batch or device in each state the cases need."""
    from carechain.model import DISTRIBUTOR_ROLE, MANUFACTURER_ROLE, PHARMACY_ROLE, REGULATOR_ROLE

    registry = world["registry"]
    m, d, p, r = accounts[11], accounts[12], accounts[13], accounts[14]
    for role, account in (
        (MANUFACTURER_ROLE, m),
        (DISTRIBUTOR_ROLE, d),
        (PHARMACY_ROLE, p),
        (REGULATOR_ROLE, r),
    ):
        registry.grantRole(role, account, sender=governor)
    trace = project.Traceability.deploy(registry, sender=governor)
    trace.assignCompanyPrefix(9506000, 7, m, sender=governor)
    expiry = chain.blocks.head.timestamp + 365 * 86400

    def batch(lot: bytes) -> bytes:
        tx = trace.registerBatch(GTIN, lot.ljust(20, b"\0"), expiry, 1, 1000, random_id(), sender=m)
        return bytes(tx.decode_logs(trace.BatchRegistered)[0].batchId)

    def device() -> bytes:
        tx = trace.registerDevice(DI, random_id(), random_id(), sender=m)
        return bytes(tx.decode_logs(trace.DeviceRegistered)[0].deviceId)

    held = batch(b"HELD")  # the manufacturer holds every unit
    offered = batch(b"OFFERED")  # all of it offered to the distributor
    trace.offer(offered, 0, 1, 1000, d, sender=m)
    at_pharmacy = batch(b"PHARMACY")  # the pharmacy holds every unit
    trace.offer(at_pharmacy, 0, 1, 1000, p, sender=m)
    trace.accept(at_pharmacy, 0, sender=p)
    registered = device()
    in_service = device()
    trace.assignDevice(in_service, world["callers"]["provider"], sender=m)
    callers = dict(world["callers"], manufacturer=m, distributor=d, pharmacy=p, regulator=r)
    return {
        "trace": trace,
        "callers": callers,
        "held": held,
        "offered": offered,
        "at_pharmacy": at_pharmacy,
        "registered": registered,
        "in_service": in_service,
    }


_UNAUTHORIZED = "AccessControlUnauthorizedAccount"

TRACE_CASES = {
    "trace.assignCompanyPrefix": (
        lambda t, s: t["trace"].assignCompanyPrefix(
            1234567, 7, t["callers"]["manufacturer"], sender=s
        ),
        {"governor"},
        _UNAUTHORIZED,
    ),
    "trace.revokeCompanyPrefix": (
        lambda t, s: t["trace"].revokeCompanyPrefix(9506000, 7, sender=s),
        {"governor"},
        _UNAUTHORIZED,
    ),
    "trace.registerBatch": (
        lambda t, s: t["trace"].registerBatch(
            GTIN, random_id()[:20], 4_000_000_000, 1, 10, random_id(), sender=s
        ),
        {"manufacturer"},
        _UNAUTHORIZED,
    ),
    "trace.registerDevice": (
        lambda t, s: t["trace"].registerDevice(DI, random_id(), random_id(), sender=s),
        {"manufacturer"},
        _UNAUTHORIZED,
    ),
    "trace.offer": (
        lambda t, s: t["trace"].offer(t["held"], 0, 1, 10, t["callers"]["distributor"], sender=s),
        {"manufacturer"},
        (_UNAUTHORIZED, "NotHolder", "NotInSupplyChain"),
    ),
    "trace.accept": (
        lambda t, s: t["trace"].accept(t["offered"], 0, sender=s),
        {"distributor"},
        "NoTransferToYou",
    ),
    "trace.cancelOffer": (
        lambda t, s: t["trace"].cancelOffer(t["offered"], 0, sender=s),
        {"manufacturer", "distributor"},
        "NoTransferToYou",
    ),
    "trace.dispense": (
        lambda t, s: t["trace"].dispense(t["at_pharmacy"], 0, 5, sender=s),
        {"pharmacy"},
        (_UNAUTHORIZED, "NotHolder"),
    ),
    "trace.recall": (
        lambda t, s: t["trace"].recall(t["held"], random_id(), sender=s),
        {"manufacturer", "regulator"},
        "NotBatchManufacturerOrRegulator",
    ),
    "trace.assignDevice": (
        lambda t, s: t["trace"].assignDevice(t["registered"], t["callers"]["provider"], sender=s),
        {"manufacturer"},
        "NotDeviceParty",
    ),
    "trace.logService": (
        lambda t, s: t["trace"].logService(t["in_service"], 0, True, random_id(), sender=s),
        {"manufacturer", "provider"},
        "NotDeviceParty",
    ),
    "trace.decommission": (
        lambda t, s: t["trace"].decommission(t["registered"], random_id(), sender=s),
        {"manufacturer", "regulator"},
        "NotDeviceParty",
    ),
}


@pytest.mark.parametrize("role", TRACE_ROLES)
@pytest.mark.parametrize("name", sorted(TRACE_CASES))
def test_trace_authorization(trace_world, name, role):
    _check_case(TRACE_CASES[name], trace_world, role)
