"""Every state-changing function against every role: who may call it, and the named error
everyone else gets."""

import ape
import pytest

from carechain.chain import PROVIDER_ROLE
from tests.conftest import random_id

ROLES = ["governor", "provider", "other_provider", "auditor", "patient", "guardian", "stranger"]
END = 4_000_000_000  # a consent period end far in the future


@pytest.fixture
def world(
    registry,
    consent,
    key_directory,
    project,
    governor,
    hospital,
    other_hospital,
    auditor,
    patient,
    guardian,
    stranger,
    doctor,
):
    """One of everything, so each function has something to act on."""
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
        "patient": patient,
        "guardian": guardian,
        "stranger": stranger,
    }
    return {
        "registry": registry,
        "consent": consent,
        "record_id": record_id,
        "grant_id": grant_id,
        "access_id": access_id,
        "callers": callers,
        "patient": patient,
        "doctor": doctor,
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
