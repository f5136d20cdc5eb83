"""What tests share besides fixtures (tests/conftest.py): ids, units, contract deployments for
the contract-level tests, a claim submitted end to end, a FHIR resource written with exact
decimals, and keeping anvil's clock on the wall clock."""

import secrets
import time

from carechain.model import ARBITRATOR_ROLE, AUDITOR_ROLE, INSURER_ROLE, PROVIDER_ROLE
from carechain.samples import chart

USD = 10**6  # the test stablecoin has 6 decimals
DAY = 86400


#: An Observation whose decimals a JSON round trip would change (0.40 -> 0.4).
EXACT_OBSERVATION = """{"resourceType": "Observation", "id": "k1", "status": "final",
 "code": {"text": "Potassium"}, "effectiveDateTime": "2026-11-20T10:00:00+00:00",
 "valueQuantity": {"value": 0.40, "unit": "mmol/L"},
 "referenceRange": [{"low": {"value": 0.001530}, "high": {"value": 12500.00}}]}"""


def random_id() -> bytes:
    """A fresh 32-byte id, as the SDK makes them."""
    return secrets.token_bytes(32)


def follow_the_wall_clock(chain) -> None:
    """anvil rewinds its clock when Ape's isolation reverts a snapshot (the next block carries
    the snapshot's time however long the test ran), so over a session the chain falls minutes
    behind the wall clock, and just after midnight UTC a service date of today is "in the
    future" on-chain. Put the next block back on the wall clock."""
    now = int(time.time())
    if now > int(chain.blocks.head.timestamp) + 1:
        chain.provider.make_request("evm_setNextBlockTimestamp", [now])


def deploy_registry(project, governor, *providers):
    """A RecordRegistry with ``providers`` admitted."""
    contract = project.RecordRegistry.deploy(governor, sender=governor)
    for provider in providers:
        contract.grantRole(PROVIDER_ROLE, provider, sender=governor)
    return contract


def deploy_consent(project, registry, governor, auditor):
    """A ConsentManager reading records and roles from ``registry``; one auditor admitted."""
    registry.grantRole(AUDITOR_ROLE, auditor, sender=governor)
    return project.ConsentManager.deploy(registry, sender=governor)


def deploy_claims(project, registry, consent, stablecoin, governor, insurer, arbitrator):
    """A ClaimsManager paying in ``stablecoin``; ``insurer`` (holding 1,000,000 tokens,
    approved to the manager) and ``arbitrator`` admitted."""
    registry.grantRole(INSURER_ROLE, insurer, sender=governor)
    registry.grantRole(ARBITRATOR_ROLE, arbitrator, sender=governor)
    manager = project.ClaimsManager.deploy(registry, consent, stablecoin, sender=governor)
    stablecoin.mint(insurer, 1_000_000 * 10**6, sender=governor)
    stablecoin.approve(manager, 2**256 - 1, sender=insurer)
    return manager


def claim_for(
    hospital_client, patient_client, insurer_client, policy_id, refs, amount, code, evidence=1
):
    """Submit a one-item FHIR Claim for ``code`` citing a fresh record of the kind of
    ``refs[evidence]`` (an Encounter by default: covered by the ``covered`` policy;
    ``refs[2]`` is a Condition, which is not). Fresh, because a record backs at most one
    claim: each visit billed has its own record."""
    [visit] = hospital_client.anchor_records(
        [(patient_client.address, chart(secrets.randbelow(10**9), "MRN-41")[evidence])],
    )
    return hospital_client.bill(
        policy_id,
        insurer_client.address,
        patient_client.address,
        [(code, "Office visit", amount)],
        [visit.record_id],
    )
