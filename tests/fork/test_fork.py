"""carechain on a fork of a deployed network: attach, read the history, run new flows, and
leave the upstream untouched.

    make test-fork    (or, against a real network: see the README)
"""

from __future__ import annotations

import pytest

from carechain import (
    Category,
    ClaimStatus,
    ConsentRequiredError,
    Contracts,
    Hospital,
    Insurer,
    KemSuite,
    KeyPair,
    Party,
    Patient,
    Purpose,
    Scope,
)
from carechain.samples import chart
from tests.fork.conftest import rpc, upstream_state

pytestmark = [pytest.mark.fork, pytest.mark.integration]
USD = 10**6
YEAR = 365 * 86400


def _hex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def test_attaches_to_the_deployment_without_redeploying(chain, contracts, seed):
    """The fork runs the upstream's chain id and the very bytecode at the recorded addresses;
    its history starts where the upstream's ends."""
    d = contracts.deployment
    assert chain.provider.network.name == "sepolia-fork"
    assert chain.chain_id == d.chain_id == seed["chain_id"]
    assert d.block <= seed["head"] <= chain.blocks.height
    for address in (d.registry, d.key_directory, d.consent, d.access_log, d.claims, d.token):
        code = chain.provider.get_code(address)
        assert len(code) > 0
        assert "0x" + bytes(code).hex() == rpc("eth_getCode", address, "latest")


def test_reads_the_seeded_history(contracts, kubo, seed, seeded):
    """The seeded patient lists and decrypts every record; the consent given and then revoked
    is there, as is the read made while it was active (verified in the audit trail); the
    doctor is refused now; the seeded claim is paid."""
    account, key = seeded("patient")
    patient = Patient(account, contracts, kubo.client, key)
    expected = {_hex(r["record_id"]): r["resource_type"] for r in seed["records"]}
    listed = {head.record_id for head, _ in patient.list_records()}
    assert listed == set(expected)
    for record_id, resource_type in expected.items():
        assert patient.read_record(record_id).resource["resourceType"] == resource_type

    doctor_account, doctor_key = seeded("doctor")
    [grant] = [c for c in patient.consents() if c.grant_id == _hex(seed["doctor_grant"])]
    assert grant.revoked and not grant.active
    trail = patient.audit_trail()
    reads = [e for e in trail if e.verified and e.reader == doctor_account.address]
    assert [e.receipt.record_id for e in reads] == [_hex(seed["read_record"])]
    assert all(e.signature_valid and e.in_anchored_batch for e in reads)
    doctor = Party(doctor_account, contracts, kubo.client, doctor_key)
    with pytest.raises(ConsentRequiredError):
        doctor.read_record(_hex(seed["read_record"]), purpose=Purpose.TREATMENT)

    claim = contracts.claims.claim(_hex(seed["claim_id"]))
    assert claim.status is ClaimStatus.PAID
    assert claim.approved == seed["claim_paid"]


def test_new_flows_on_the_fork(chain, accounts, contracts, kubo, governor):
    """Anchor, grant, read, claim and settle with fresh parties, admitted by the (impersonated)
    governor: the deployed contracts work for newcomers on the fork."""
    hospital_acct, patient_acct, doctor_acct, insurer_acct = accounts[11:15]
    contracts.registry.admit(governor, "provider", hospital_acct)
    contracts.registry.admit(governor, "insurer", insurer_acct)
    ipfs = kubo.client
    hospital = Hospital(hospital_acct, contracts, ipfs, KeyPair.generate())
    patient = Patient(patient_acct, contracts, ipfs, KeyPair.generate(KemSuite.MLKEM768_X25519))
    doctor = Party(doctor_acct, contracts, ipfs, KeyPair.generate())
    insurer = Insurer(insurer_acct, contracts, ipfs, KeyPair.generate())
    for party in (hospital, patient, doctor, insurer):
        party.publish_key()

    refs = hospital.anchor_records([(patient.address, r) for r in chart(99, "MRN-99")])
    assert patient.read_record(refs[0].record_id).resource["resourceType"] == "Patient"
    now = chain.blocks.head.timestamp
    patient.grant_access(doctor.address, Scope.all(), Purpose.TREATMENT, now + YEAR)
    opened = doctor.read_record(refs[1].record_id, purpose=Purpose.TREATMENT)
    assert opened.resource["resourceType"] == "Encounter"
    doctor.receipts.flush()
    assert any(e.verified and e.reader == doctor.address for e in patient.audit_trail())

    contracts.claims.token.mint(insurer.address, 10_000 * USD, sender=governor)
    insurer.fund_escrow(10_000 * USD)
    policy_id = insurer.issue_policy(
        patient.address, 5_000 * USD, 0, 0, {Category.ENCOUNTER}, now - 86400, now + YEAR
    )
    patient.grant_access(insurer.address, Scope.all(), Purpose.PAYMENT, now + YEAR)
    patient.grant_access(
        hospital.address, Scope.all(), Purpose.TREATMENT, now + YEAR, share_keys=False
    )
    evidence = [refs[1].record_id]
    claim_id, _ = hospital.bill(
        policy_id,
        insurer.address,
        patient.address,
        [("99213", "Office visit", 300 * USD)],
        evidence,
    )
    insurer.approve(claim_id, 300 * USD)
    before = contracts.claims.balance_of(hospital.address)
    insurer.settle()
    assert contracts.claims.balance_of(hospital.address) - before == 300 * USD
    assert contracts.claims.claim(claim_id).status is ClaimStatus.PAID


def test_a_fork_pinned_to_a_block_sees_that_block(networks, chain, contracts, seed):
    """Forked at the block where the doctor's consent was active, the chain says so; the
    session's fork (at the upstream head) sees it revoked."""
    doctor, record = seed["accounts"]["doctor"], _hex(seed["read_record"])
    consent = contracts.consent
    assert not consent.can_access(doctor, record, Purpose.TREATMENT)
    pinned = seed["blocks"]["granted"]
    settings = {"host": "auto", "fork": {"ethereum": {"sepolia": {"block_number": pinned}}}}
    with networks.ethereum.sepolia_fork.use_provider(
        "foundry", provider_settings=settings, disconnect_after=True
    ):
        assert chain.blocks.height == pinned
        assert Contracts.load().consent.can_access(doctor, record, Purpose.TREATMENT)
    assert not consent.can_access(doctor, record, Purpose.TREATMENT)


def test_the_upstream_was_not_modified(seed, contracts, upstream_before):
    """Runs last: after every flow above, the upstream's head, the ClaimsManager's policy
    counter and the seeded provider's token balance are what they were before."""
    after = upstream_state(seed, contracts)
    assert after == upstream_before
    assert after["policy_count"] == seed["policy_id"]
