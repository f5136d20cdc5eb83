"""Clinical trials end to end on anvil and Kubo (issue 19): a sponsor registers a trial
(documents on IPFS, checked for personal data), two patients enrol by consenting, the sponsor
reads under the consent and the participants claim rewards the contract proves from the
sponsor's anchored receipts; a primary-outcome change after enrolment shows as an outcome
switch; results naming an unregistered outcome are flagged; an overdue trial is listed."""

import hashlib
import secrets
import time

import pytest

from carechain import Category, KemSuite, KeyPair, Patient, Purpose, Scope
from carechain.errors import ChainError, ConsentRequiredError, InvalidRecordError
from carechain.fhir_trials import (
    build_research_study,
    build_results,
    check_public,
)
from carechain.samples import chart
from carechain.trials import Sponsor, claim_rewards, contributions, enrol, inspect_trial, withdraw
from tests.helpers import DAY, USD

pytestmark = pytest.mark.integration

PRIMARY = "HbA1c change from baseline at 26 weeks"
SECONDARY = "Body weight change at 26 weeks"
PROTOCOL = b"# Protocol\nRandomised, double-blind, 26 weeks. Analysis plan: ANCOVA.\n"


@pytest.fixture
def sponsor_client(accounts, governor, contracts, ipfs):
    sponsor = accounts[14]
    contracts.registry.admit(governor, "sponsor", sponsor)
    client = Sponsor(sponsor, contracts, ipfs, KeyPair.generate())
    client.publish_key()
    contracts.claims.token.mint(sponsor, 1_000 * USD, sender=governor)
    return client


@pytest.fixture
def second_client(second_patient, contracts, ipfs):
    client = Patient(second_patient, contracts, ipfs, KeyPair.generate(KemSuite.X25519))
    client.publish_key()
    return client


def study(sponsor, primary=(PRIMARY,), secondary=(SECONDARY,)):
    return build_research_study(
        "Drug X in type 2 diabetes", sponsor, list(primary), list(secondary)
    )


def register(sponsor_client, chain, **overrides):
    now = chain.blocks.head.timestamp
    terms = dict(
        planned_enrolment=2,
        enrolment_closes=now + 30 * DAY,
        ends_at=now + 180 * DAY,
        results_due=now + 365 * DAY,
        scope=Scope.category(Category.OBSERVATION),
        reward_per_contribution=5 * USD,
        reward_per_milestone=10 * USD,
        reward_cap=20 * USD,
    )
    terms.update(overrides)
    return sponsor_client.register_trial(study(sponsor_client.address), PROTOCOL, **terms)


@pytest.fixture
def charts(hospital_client, patient_client, second_client):
    """Each patient's chart: a Patient, an Encounter, a Condition and two Observations."""
    refs = {}
    for seed, client in ((1, patient_client), (2, second_client)):
        refs[client.address] = hospital_client.anchor_records(
            [(client.address, r) for r in chart(seed, f"MRN-{seed}", extra=2)]
        )
    return refs


def observations(refs):
    return [r for r in refs if r.category is Category.OBSERVATION]


def test_trial_from_registration_to_rewards(
    sponsor_client, patient_client, second_client, charts, chain
):
    """Two patients enrol; the sponsor reads their observations under consent (and nothing
    else); each claims one reward per record read, exactly once, from the escrow."""
    trial_id = register(sponsor_client, chain)
    sponsor_client.fund_trial(trial_id, 100 * USD)
    for client in (patient_client, second_client):
        enrol(client, trial_id)
    trial = sponsor_client.contracts.trials.trial(trial_id)
    assert trial.enrolled == 2 and trial.first_enrolment_at > 0

    mine = charts[patient_client.address]
    for ref in observations(mine):
        opened = sponsor_client.read_for_trial(ref.record_id)
        assert opened.resource["resourceType"] == "Observation"
    condition = next(r for r in mine if r.category is Category.CONDITION)
    with pytest.raises(ConsentRequiredError):
        sponsor_client.read_for_trial(condition.record_id)  # outside the trial's scope
    first = observations(charts[second_client.address])[0]
    sponsor_client.read_for_trial(first.record_id)
    sponsor_client.receipts.flush()

    token = sponsor_client.contracts.claims
    before = token.balance_of(patient_client.address)
    outcome = claim_rewards(patient_client, trial_id)
    assert (outcome.contributions, outcome.paid, outcome.refused) == (2, 10 * USD, [])
    assert token.balance_of(patient_client.address) - before == 10 * USD
    assert all(c.rewarded for c in contributions(patient_client, trial_id))
    assert claim_rewards(patient_client, trial_id).paid == 0  # exactly once
    assert claim_rewards(second_client, trial_id).paid == 5 * USD
    assert sponsor_client.contracts.trials.trial(trial_id).escrow == 85 * USD

    sponsor_client.attest_milestone(trial_id, second_client.address, "week-12-visit")
    outcome = claim_rewards(second_client, trial_id)
    assert (outcome.milestones, outcome.paid) == (10 * USD, 10 * USD)


def test_a_rereceipted_read_is_not_paid_twice(sponsor_client, patient_client, charts, chain):
    """Reading the same record version again (a second receipt, a second batch) earns nothing
    more: the contract keys rewards by record version."""
    trial_id = register(sponsor_client, chain)
    sponsor_client.fund_trial(trial_id, 100 * USD)
    enrol(patient_client, trial_id)
    record = observations(charts[patient_client.address])[0]
    sponsor_client.read_for_trial(record.record_id)
    sponsor_client.receipts.flush()
    assert claim_rewards(patient_client, trial_id).paid == 5 * USD
    time.sleep(1.1)  # a receipt's time is in seconds: the same read in the same second is one
    sponsor_client.read_for_trial(record.record_id)
    sponsor_client.receipts.flush()
    assert claim_rewards(patient_client, trial_id).paid == 0


def test_withdrawal_stops_future_rewards_not_earned_ones(
    sponsor_client, patient_client, charts, chain
):
    """Withdrawn: the sponsor can no longer read, and what was read before stays payable."""
    trial_id = register(sponsor_client, chain)
    sponsor_client.fund_trial(trial_id, 100 * USD)
    enrol(patient_client, trial_id)
    first, second = observations(charts[patient_client.address])
    sponsor_client.read_for_trial(first.record_id)
    sponsor_client.receipts.flush()
    withdraw(patient_client, trial_id)
    with pytest.raises(ConsentRequiredError):
        sponsor_client.read_for_trial(second.record_id)
    assert claim_rewards(patient_client, trial_id).paid == 5 * USD
    enrolment = sponsor_client.contracts.trials.enrolment(trial_id, patient_client.address)
    assert enrolment.withdrawn_at > 0 and enrolment.paid == 5 * USD


def test_outcome_switch_after_enrolment_is_flagged(sponsor_client, patient_client, chain):
    """Changing the primary outcome before enrolment is an ordinary amendment; after the
    first enrolment it is an outcome switch, on the chain and in every verifier's report."""
    trial_id = register(sponsor_client, chain)
    version, switched = sponsor_client.amend_trial(
        trial_id,
        study(sponsor_client.address, secondary=(SECONDARY, "Quality of life")),
        "ethics-review",
    )
    assert (version, switched) == (2, False)
    enrol(patient_client, trial_id)
    switched_study = study(
        sponsor_client.address, primary=(SECONDARY,), secondary=(PRIMARY, "Quality of life")
    )
    version, switched = sponsor_client.amend_trial(trial_id, switched_study, "slow recruitment")
    assert (version, switched) == (3, True)

    report = inspect_trial(sponsor_client.contracts, sponsor_client.ipfs, trial_id)
    assert not report.primary_unchanged_since_enrolment
    assert [v.before_enrolment for v in report.versions] == [True, True, False]
    assert report.versions[2].reason == "slow recruitment"
    checks = {c.name: c for c in report.outcomes}
    # Registered before enrolment, but as a secondary outcome: now primary.
    assert (checks[SECONDARY].kind, checks[SECONDARY].registered_as) == ("primary", "secondary")
    assert not checks[SECONDARY].registered_before_enrolment
    assert checks["Quality of life"].registered_before_enrolment  # amended in before enrolment
    assert any("OUTCOME SWITCH in version 3" in flag for flag in report.flags)
    assert report.problems == []


def test_results_naming_an_unregistered_outcome_are_flagged(sponsor_client, chain):
    """Results that report an outcome never registered and omit the primary one."""
    trial_id = register(sponsor_client, chain)
    results = build_results(trial_id, sponsor_client.address, {"Time in range": "+12% (p=0.01)"})
    _, findings = sponsor_client.post_results(trial_id, results)
    assert findings == [
        "reports 'Time in range', which was never registered",
        f"omits the primary outcome {PRIMARY!r}",
    ]
    report = inspect_trial(sponsor_client.contracts, sponsor_client.ipfs, trial_id)
    assert report.results_findings == findings
    assert not report.overdue


def test_overdue_trial_is_listed_by_anyone(sponsor_client, chain):
    """Past its results date without results: the chain and the report both say overdue."""
    trial_id = register(sponsor_client, chain, results_due=chain.blocks.head.timestamp + 180 * DAY)
    chain.pending_timestamp += 181 * DAY
    chain.mine()
    assert sponsor_client.contracts.trials.overdue(trial_id)
    report = inspect_trial(sponsor_client.contracts, sponsor_client.ipfs, trial_id)
    assert report.overdue and "OVERDUE" in report.flags[0]


def test_public_documents_refuse_personal_data(sponsor_client):
    """A public trial document naming a participant, a patient reference or contact details
    is refused before anything is stored."""
    sponsor = sponsor_client.address
    bad = study(sponsor)
    bad["description"] = "Contact the investigator at jane.doe@example.org"
    with pytest.raises(InvalidRecordError, match="contact"):
        check_public(bad, sponsor)
    with pytest.raises(InvalidRecordError, match="enrollment"):
        check_public({**study(sponsor), "enrollment": [{"reference": "Group/cohort"}]}, sponsor)
    with pytest.raises(InvalidRecordError, match="not the sponsor"):
        check_public(b"participant 0x" + b"ab" * 20, sponsor)
    with pytest.raises(InvalidRecordError, match="primary outcome"):
        build_research_study("no outcomes", sponsor, [], ["Weight"])


def test_registration_refusals_leave_nothing(sponsor_client, stranger, contracts, ipfs, chain):
    """A stranger is refused before anything is stored; a sponsor's invalid schedule is
    refused by the chain and the documents already stored are unpinned again."""
    intruder = Sponsor(stranger, contracts, ipfs, KeyPair.generate())
    with pytest.raises(ChainError, match="sponsor role"):
        register(intruder, chain)
    protocol = f"# Protocol {secrets.token_hex(8)}\n".encode()
    now = chain.blocks.head.timestamp
    with pytest.raises(ChainError, match="InvalidSchedule"):
        sponsor_client.register_trial(
            study(sponsor_client.address),
            protocol,
            planned_enrolment=2,
            enrolment_closes=now + 30 * DAY,
            ends_at=now + DAY,
            results_due=now + 365 * DAY,
            scope=Scope.category(Category.OBSERVATION),
        )
    assert contracts.trials.count() == 0
    assert not ipfs.is_pinned(hashlib.sha256(protocol).digest())


def test_enrolment_after_the_trial_closed_is_refused_and_undone(
    sponsor_client, patient_client, chain
):
    """Past its enrolment date the SDK refuses before consenting; the chain refuses too."""
    trial_id = register(sponsor_client, chain, enrolment_closes=chain.blocks.head.timestamp + DAY)
    chain.pending_timestamp += 2 * DAY
    chain.mine()
    with pytest.raises(ChainError, match="not recruiting"):
        enrol(patient_client, trial_id)
    assert not patient_client.consents() or all(
        c.purpose is not Purpose.RESEARCH for c in patient_client.consents()
    )


def test_a_second_enrolment_keeps_the_first(sponsor_client, patient_client, stranger, chain):
    """Two trials of one sponsor over one scope share the patient's research consent:
    enrolling in the second reuses it (granting again would withdraw the patient from the
    first: anyone could then record the withdrawal); a trial that ends at another time is
    refused before anything changes; a withdrawal names every trial it ends."""
    trials = sponsor_client.contracts.trials
    ends_at = chain.blocks.head.timestamp + 180 * DAY
    first = register(sponsor_client, chain, ends_at=ends_at)
    second = register(sponsor_client, chain, ends_at=ends_at)
    other = register(sponsor_client, chain, ends_at=ends_at + DAY)
    grant_id = enrol(patient_client, first)
    assert enrol(patient_client, second) == grant_id
    with pytest.raises(ChainError, match="ConsentStillGiven"):
        trials.record_withdrawal(stranger, first, patient_client.address)
    with pytest.raises(ChainError, match=f"withdraw you from trials? {first}, {second}"):
        enrol(patient_client, other)
    with pytest.raises(ChainError, match="ConsentStillGiven"):
        trials.record_withdrawal(stranger, second, patient_client.address)
    assert not trials.enrolment(other, patient_client.address).enrolled_at

    assert withdraw(patient_client, first) == [first, second]
    for trial_id in (first, second):
        assert trials.enrolment(trial_id, patient_client.address).withdrawn_at > 0


def test_an_outcome_added_after_enrolment_is_flagged(sponsor_client, patient_client, chain):
    """A secondary outcome amended in after enrolment began (no outcome switch on the chain)
    and then reported: the outcome check and the results are both flagged, against the
    version in force when enrolment began, not the current one."""
    trial_id = register(sponsor_client, chain)
    enrol(patient_client, trial_id)
    added = "Time in range"
    _, switched = sponsor_client.amend_trial(
        trial_id, study(sponsor_client.address, secondary=(SECONDARY, added)), "new endpoint"
    )
    assert not switched
    results = build_results(
        trial_id, sponsor_client.address, {PRIMARY: "-0.9% (p<0.001)", added: "+12% (p=0.01)"}
    )
    _, findings = sponsor_client.post_results(trial_id, results)
    assert findings == [f"reports {added!r}, which was registered only after enrolment began"]
    report = inspect_trial(sponsor_client.contracts, sponsor_client.ipfs, trial_id)
    assert report.primary_unchanged_since_enrolment  # the chain alone sees nothing
    assert f"RESULTS {findings[0]}" in report.flags
    assert any(f"OUTCOME {added!r}" in flag for flag in report.flags)


def test_an_amendment_in_front_of_an_enrolment_refuses_it(sponsor_client, patient_client, chain):
    """The patient agreed to version 1; the sponsor amends first: the enrolment is refused by
    the chain (not bound to a version the patient never read) and the consent granted for it
    is revoked again."""
    trial_id = register(sponsor_client, chain)
    sponsor_client.amend_trial(
        trial_id, study(sponsor_client.address, secondary=(SECONDARY, "Quality of life")), "late"
    )
    with pytest.raises(ChainError, match="VersionChanged"):
        enrol(patient_client, trial_id, version=1)
    trials = sponsor_client.contracts.trials
    assert not trials.enrolment(trial_id, patient_client.address).enrolled_at
    assert not any(c.active for c in patient_client.consents() if c.purpose is Purpose.RESEARCH)
    enrol(patient_client, trial_id, version=2)
    assert trials.trial(trial_id).enrolled == 1
