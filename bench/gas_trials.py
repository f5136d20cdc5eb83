"""Gas of the ClinicalTrials calls next to their EVM floors (rows of bench/gas.py).

Storage layout the floors count (contracts/ClinicalTrials.sol): a trial is seven slots —
(0) sponsor, version, switches, enrolled; (1) first enrolment, results time, planned, dates,
scope kind; (2) scope value; (3) primary-outcome hash; (4) results digest; (5) the three reward
amounts; (6) escrow and reserved — a version is four (three digests, time and flag), an
enrolment one, a rewarded contribution or milestone one.
"""

from __future__ import annotations

import secrets
from typing import Any

from ape import accounts

from carechain.model import PROVIDER_ROLE, SPONSOR_ROLE, Purpose
from carechain.onchain import Contracts
from carechain.receipts import AccessReceipt, merkle_proof, merkle_root


def trials_rows(
    chain_api: Any,
    contracts: Contracts,
    governor: Any,
    hospital: Any,
    patient: Any,
    measure: Any,
    log_gas: Any,
) -> list[dict]:
    """register, amend (an outcome switch), enrol, fund, a contribution claim, a milestone
    attested and claimed, results, a recorded withdrawal."""
    sponsor = accounts.test_accounts[13]
    registry = contracts.registry.contract
    trials = contracts.trials.contract
    token = contracts.claims.token
    registry.grantRole(SPONSOR_ROLE, sponsor, sender=governor)
    if not registry.hasRole(PROVIDER_ROLE, hospital):
        registry.grantRole(PROVIDER_ROLE, hospital, sender=governor)
    token.mint(sponsor, 10**12, sender=governor)
    token.approve(trials, 2**256 - 1, sender=sponsor)
    record_id = secrets.token_bytes(32)
    registry.anchor(record_id, patient, 2, secrets.token_bytes(32), sender=hospital)
    now = chain_api.blocks.head.timestamp
    day = 86400
    primary = secrets.token_bytes(32)
    terms = (
        secrets.token_bytes(32),  # protocol
        secrets.token_bytes(32),  # ResearchStudy
        primary,
        1,  # category scope
        (2).to_bytes(32, "big"),  # observations
        100,
        now + 30 * day,
        now + 180 * day,
        now + 365 * day,
        5 * 10**6,
        10 * 10**6,
        20 * 10**6,
    )
    rows = []
    receipt = trials.register(terms, sender=sponsor)
    trial_id = int(receipt.decode_logs(trials.TrialRegistered)[0].trialId)
    # fresh: five trial slots (0, 1, 2, 3, 5), four version slots, the trial counter; reads:
    # the sponsor role (registry cold); TrialRegistered: sig, id, sponsor | 7 words
    fixed = 10 * 22_100 + 2_600 + log_gas(3, 7 * 32)
    rows.append({"name": "ClinicalTrials.register", **measure(chain_api, receipt, fixed, 1)})

    end = now + 180 * day
    scope = (2).to_bytes(32, "big")
    contracts.consent.contract.grant(sponsor, 1, scope, 2, end, bytes(32), sender=patient)
    receipt = trials.enrol(trial_id, 1, sender=patient)  # version 1: just registered
    # reads: trial slots 0, 1, 2, the consent (ConsentManager cold), the enrolment; fresh:
    # the enrolment; rewrites: slot 0 (enrolled), slot 1 (first enrolment); 3-topic log, 1 word
    fixed = 22_100 + 2 * 2_900 + 2_600 + log_gas(3, 32)
    rows.append({"name": "enrol (consent checked)", **measure(chain_api, receipt, fixed, 4)})

    receipt = trials.amend(
        trial_id, terms[0], secrets.token_bytes(32), secrets.token_bytes(32), "slow-recruitment",
        sender=sponsor,
    )  # fmt: skip
    # reads: trial slots 0, 1, 3; fresh: four version slots; rewrites: slot 0 (version,
    # switches), slot 3 (outcomes); TrialAmended: sig, id | 7 words + a one-word reason
    fixed = 4 * 22_100 + 2 * 2_900 + log_gas(2, 9 * 32)
    rows.append({"name": "amend (an outcome switch)", **measure(chain_api, receipt, fixed, 3)})

    receipt = trials.fund(trial_id, 10**9, sender=sponsor)
    # as ClaimsManager.deposit: fresh escrow slot and token balance, the sponsor's balance
    # rewritten, the token cold; reads: trial slot 0, the sponsor's balance; Transfer + funded
    fixed = 2 * 22_100 + 2_900 + 2_600 + 2 * log_gas(3, 32)
    rows.append({"name": "fund (first)", **measure(chain_api, receipt, fixed, 2)})

    read = AccessReceipt(sponsor.address, patient.address, record_id, 1, Purpose.RESEARCH, now)
    others = [
        AccessReceipt(
            sponsor.address, patient.address, secrets.token_bytes(32), 1, Purpose.RESEARCH, now
        )
        for _ in range(7)
    ]
    leaves = [r.leaf(contracts) for r in [read, *others]]
    root = merkle_root(leaves)
    log = contracts.access_log.contract
    log.anchorBatch(patient, root, secrets.token_bytes(32), 8, sender=sponsor)
    receipt = trials.claimContribution(
        trial_id, record_id, 1, now, root, merkle_proof(leaves, 0), sender=patient
    )
    # reads: trial slots 0, 1, 2, 5, 6, the enrolment, the consent, the batch, the record
    # (registry), the contract's token balance; cold accounts: AccessLog, ConsentManager,
    # RecordRegistry, token; fresh: the rewarded key, the participant's balance; rewrites:
    # the enrolment, slot 6, the contract's balance; ContributionRewarded + Transfer
    fixed = 2 * 22_100 + 3 * 2_900 + 4 * 2_600 + log_gas(3, 64) + log_gas(3, 32)
    rows.append(
        {
            "name": "claimContribution (receipt proven in an 8-read batch)",
            **measure(chain_api, receipt, fixed, 10),
        }
    )

    receipt = trials.attestMilestone(trial_id, patient, secrets.token_bytes(32), sender=sponsor)
    # reads: trial slots 0, 1, 2, 5, 6, the enrolment, the consent (cold account); fresh: the
    # milestone key; rewrites: the enrolment, slot 6; MilestoneAttested: 3 topics, 2 words
    fixed = 22_100 + 2 * 2_900 + 2_600 + log_gas(3, 64)
    rows.append({"name": "attestMilestone", **measure(chain_api, receipt, fixed, 7)})

    receipt = trials.claimMilestones(trial_id, sender=patient)
    # reads: trial slots 0, 6, the enrolment, two token balances (token cold); rewrites: the
    # enrolment, slot 6, both balances; RewardsClaimed + Transfer
    fixed = 4 * 2_900 + 2_600 + 2 * log_gas(3, 32)
    rows.append({"name": "claimMilestones", **measure(chain_api, receipt, fixed, 5)})

    receipt = trials.postResults(trial_id, secrets.token_bytes(32), sender=sponsor)
    # reads: trial slots 0, 1; fresh: the results digest; rewrite: slot 1; ResultsPosted: 2
    # topics, 2 words
    fixed = 22_100 + 2_900 + log_gas(2, 64)
    rows.append({"name": "postResults", **measure(chain_api, receipt, fixed, 2)})

    grant_id = contracts.consent.grant_id(
        patient.address, sponsor.address, contracts.trials.trial(trial_id).scope, Purpose.RESEARCH
    )
    contracts.consent.contract.revoke(grant_id, sender=patient)
    receipt = trials.recordWithdrawal(trial_id, patient, sender=governor)
    # reads: trial slots 0, 1, 2, the enrolment, the consent (cold account); rewrite: the
    # enrolment; WithdrawalRecorded: 3 topics
    fixed = 2_900 + 2_600 + log_gas(3, 0)
    rows.append({"name": "recordWithdrawal", **measure(chain_api, receipt, fixed, 5)})
    return rows
