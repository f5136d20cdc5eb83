"""Gas of every state-changing call, measured on a local anvil, next to its EVM floor.

    make bench      (or: python bench/gas.py)

The floor is what the EVM charges at least for the same data: 21,000 per transaction,
calldata at 4/16 gas per zero/non-zero byte, 22,100 per fresh storage slot (cold), 2,100
per cold storage read the call must make, and 375 + 375 per topic + 8 per data byte per
log. Prints a table and writes bench/results/gas.json.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Any

from ape import accounts, networks
from ape.logging import logger
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from eas import compare  # noqa: E402  (bench/eas.py)
from gas_trials import trials_rows  # noqa: E402  (bench/gas_trials.py)

from carechain import KemSuite, KeyPair, deploy  # noqa: E402
from carechain.model import (  # noqa: E402
    DISTRIBUTOR_ROLE,
    INSURER_ROLE,
    MANUFACTURER_ROLE,
    PROVIDER_ROLE,
)
from carechain.onchain import Contracts  # noqa: E402


def calldata_gas(data: bytes) -> int:
    """Intrinsic calldata cost: 4 per zero byte, 16 per non-zero byte."""
    return sum(16 if byte else 4 for byte in data)


def log_gas(topics: int, data_bytes: int) -> int:
    return 375 + 375 * topics + 8 * data_bytes


def measure(
    chain_api: Any, receipt: Any, fixed: int, per_tx_reads: int = 0, records: int = 1
) -> dict:
    """Gas used by ``receipt`` and its floor, per record."""
    tx = chain_api.provider.web3.eth.get_transaction(receipt.txn_hash)
    floor = 21_000 + calldata_gas(bytes(tx["input"])) + fixed + 2_100 * per_tx_reads
    return {"gas": receipt.gas_used / records, "floor": floor / records, "records": records}


def _measure_reads(chain_api: Any, receipt: Any, fixed: int, reads: int) -> dict:
    return measure(chain_api, receipt, fixed, per_tx_reads=reads)


def claims_rows(
    chain_api: Any, contracts: Contracts, governor: Any, hospital: Any, patient: Any
) -> list[dict]:
    """Deposit, policy, claim submission (reviewed and auto-approved), approval, denial and
    settlement of a batch of 50, each next to its floor."""
    insurer = accounts.test_accounts[3]
    registry = contracts.registry.contract
    claims = contracts.claims.contract
    token = contracts.claims.token
    registry.grantRole(INSURER_ROLE, insurer, sender=governor)
    token.mint(insurer, 10**15, sender=governor)
    token.approve(claims, 2**256 - 1, sender=insurer)
    rows = []

    # escrow slot fresh; the manager's token balance fresh, the insurer's rewritten;
    # token and registry cold; Transfer + Deposited logs
    receipt = claims.deposit(10**13, sender=insurer)
    fixed = 22_100 * 2 + 5_000 + 2 * 2_600 + log_gas(3, 32) + log_gas(2, 32)
    rows.append({"name": "deposit (first)", **measure(chain_api, receipt, fixed, per_tx_reads=2)})

    now = chain_api.blocks.head.timestamp
    terms = (patient.address, 10**12, 0, 2_000, 1 << 2, now - 86400, now + 365 * 86400, 100)
    receipt = claims.issuePolicy(terms, sender=insurer)
    policy_id = receipt.decode_logs(claims.PolicyIssued)[0].policyId
    # three fresh policy slots, the counter, the role read in the registry
    fixed = 22_100 * 3 + 22_100 + 2_600 + log_gas(4, 8 * 32)
    rows.append({"name": "issuePolicy", **measure(chain_api, receipt, fixed, per_tx_reads=1)})

    contracts.consent.contract.grant(
        insurer, 2, bytes(32), 1, now + 365 * 86400, bytes(32), sender=patient
    )
    contracts.consent.contract.grant(
        hospital, 2, bytes(32), 0, now + 365 * 86400, bytes(32), sender=patient
    )
    day = now // 86400

    def submit(amount: int) -> tuple[bytes, Any]:
        record_id = secrets.token_bytes(32)  # a record backs at most one claim
        registry.anchor(record_id, patient, 2, secrets.token_bytes(32), sender=hospital)
        request = (
            policy_id,
            patient.address,
            amount,
            day,
            secrets.token_bytes(32),
            [record_id],
            secrets.token_bytes(32),
        )
        receipt = claims.submitClaim(request, sender=hospital)
        return bytes(receipt.decode_logs(claims.ClaimSubmitted)[0].claimId), receipt

    # fresh slots: the claim and the record's evidence binding; registry and consent cold;
    # cold reads the rules require: the provider's id, two policy slots, the record, and the
    # consent lookups the most specific scope rule makes for the insurer's Payment and the
    # provider's Treatment (record, category, all: three each) -- 10 in all; ClaimSubmitted
    submit_log = log_gas(4, 6 * 32 + 32)
    _, receipt = submit(5_000)
    fixed = 2 * 22_100 + 2 * 2_600 + submit_log
    rows.append(
        {
            "name": "submitClaim (1 record, for review)",
            **measure(chain_api, receipt, fixed, per_tx_reads=10),
        }
    )
    _, receipt = submit(50)
    # ... and approved on submit: the provider's daily auto-approval total (fresh), escrow
    # and policy usage rewritten, the third policy slot read, ClaimApproved log
    fixed += 22_100 + 2 * 5_000 + 2_100 + log_gas(3, 96)
    rows.append(
        {
            "name": "submitClaim (auto-approved)",
            **measure(chain_api, receipt, fixed, per_tx_reads=10),
        }
    )

    pending = [submit(1_000 + i)[0] for i in range(52)]
    receipt = claims.approveClaim(pending[0], 1_000, sender=insurer)
    # claim, escrow and policy usage rewritten (cold); policy slots read; ClaimApproved log
    fixed = 3 * 5_000 + log_gas(3, 96)
    rows.append({"name": "approveClaim", **measure(chain_api, receipt, fixed, per_tx_reads=1)})
    receipt = claims.denyClaim(pending[1], secrets.token_bytes(32), sender=insurer)
    # claim rewritten, denial (time and dispute reserve) fresh, escrow reserve rewritten;
    # policy slots read; ClaimDenied log
    fixed = 5_000 + 22_100 + 5_000 + log_gas(3, 32)
    rows.append({"name": "denyClaim", **measure(chain_api, receipt, fixed, per_tx_reads=1)})

    batch = pending[2:]
    for claim_id in batch:
        claims.approveClaim(claim_id, 1_000, sender=insurer)
    receipt = claims.settle(batch, sender=insurer)
    # per claim: claim slot rewritten, a ClaimPaid log; once (claims in a row to the same
    # provider are one payment, so one token transfer pays all 50): a Transfer log, the
    # escrow rewritten, both token balances (the provider's fresh), registry and token cold
    size = len(batch)
    fixed = size * (5_000 + log_gas(3, 32)) + log_gas(3, 32) + 5_000 + 22_100 + 5_000 + 2 * 2_600
    rows.append(
        {
            "name": f"settle ({size} claims), per claim",
            **measure(chain_api, receipt, fixed, per_tx_reads=2, records=size),
        }
    )
    return rows


def trace_rows(chain_api: Any, contracts: Contracts, governor: Any, hospital: Any) -> list[dict]:
    """Traceability: a batch of 1,000 serials, one custody transfer (offer + accept), one
    dispensing, each next to its floor."""
    maker, wholesaler = accounts.test_accounts[11:13]
    registry = contracts.registry.contract
    trace = contracts.trace.contract
    registry.grantRole(MANUFACTURER_ROLE, maker, sender=governor)
    registry.grantRole(DISTRIBUTOR_ROLE, wholesaler, sender=governor)
    trace.assignCompanyPrefix(9506000, 7, maker, sender=governor)  # the maker's brand
    expiry = chain_api.blocks.head.timestamp + 365 * 86400
    lot = b"LOT-1000".ljust(20, b"\0")
    receipt = trace.registerBatch(
        9506000134352, lot, expiry, 1, 1000, secrets.token_bytes(32), sender=maker
    )
    batch = bytes(receipt.decode_logs(trace.BatchRegistered)[0].batchId)
    rows = []
    # two batch slots, the segment array's length and its first segment (two slots; the
    # third, pendingTo, stays zero), all fresh; the registry cold; reads: the role and the
    # company prefix (6 digits: none, 7: the maker); BatchRegistered log (3 topics, 6 words)
    fixed = 5 * 22_100 + 2_600 + log_gas(3, 6 * 32)
    rows.append(
        {
            "name": "registerBatch (1,000 serials)",
            **measure(chain_api, receipt, fixed, per_tx_reads=3),
        }
    )
    offer = trace.offer(batch, 0, 1, 600, wholesaler, sender=maker)
    # constant whatever the range. reads: the sender's and the receiver's roles, the batch,
    # the array length, the segment (3 slots); writes: the offered range into the segment's
    # first slot, pendingTo from zero; a 4-topic log
    offer_fixed = 2_600 + 2_900 + 20_000 + log_gas(4, 3 * 32)
    accept = trace.accept(batch, 0, sender=wholesaler)
    # reads: the receiver's role, the batch, the length, the segment (3 slots); writes: the
    # segment's three slots, the remainder pushed (length + 2 fresh slots); a 4-topic log
    accept_fixed = 2_600 + 4 * 2_900 + 2 * 22_100 + log_gas(4, 3 * 32)
    offer_row = measure(chain_api, offer, offer_fixed, per_tx_reads=7)
    accept_row = measure(chain_api, accept, accept_fixed, per_tx_reads=6)
    rows.append({"name": "offer (600 units; any number costs the same)", **offer_row})
    rows.append(
        {
            "name": "custody transfer (offer + accept, 600 units, split on accept)",
            "gas": offer_row["gas"] + accept_row["gas"],
            "floor": offer_row["floor"] + accept_row["floor"],
            "records": 1,
        }
    )
    if not registry.hasRole(PROVIDER_ROLE, hospital):
        registry.grantRole(PROVIDER_ROLE, hospital, sender=governor)
    trace.offer(batch, 0, 1, 100, hospital, sender=wholesaler)
    trace.accept(batch, 0, sender=hospital)
    receipt = trace.dispense(batch, 0, 42, sender=hospital)
    # reads: two roles (pharmacy, then provider), the batch, the length, the segment, the
    # bit word; the word written from zero; Dispensed log (3 topics, 1 word)
    fixed = 2_600 + 20_000 + log_gas(3, 32)
    rows.append(
        {"name": "dispense (one unit)", **measure(chain_api, receipt, fixed, per_tx_reads=7)}
    )
    return rows


def device_rows(chain_api: Any, contracts: Contracts, governor: Any, hospital: Any) -> list[dict]:
    """DeviceKeys: a device's first key, a rotation, a revocation, its first patient and a
    reassignment, each next to its floor. Every call first asks Traceability for the device
    (its two slots, a cold contract) and, for a binding or an assignment, the registry for
    the caller's role (a cold contract, one slot)."""
    maker = accounts.test_accounts[11]
    registry = contracts.registry.contract
    trace = contracts.trace.contract
    keys = contracts.device_keys.contract
    if not registry.hasRole(MANUFACTURER_ROLE, maker):
        registry.grantRole(MANUFACTURER_ROLE, maker, sender=governor)
    if trace.companyPrefixOf(844588003288)[2] != maker.address:
        trace.assignCompanyPrefix(844588, 7, maker, sender=governor)
    receipt = trace.registerDevice(
        844588003288, secrets.token_bytes(32), secrets.token_bytes(32), sender=maker
    )
    device = bytes(receipt.decode_logs(trace.DeviceRegistered)[0].deviceId)
    trace.assignDevice(device, hospital, sender=maker)
    set_log = log_gas(3, 64)  # DeviceKeySet: sig, deviceId, by | index, publicKey
    two_contracts = 2 * 2_600  # Traceability and the registry, cold
    rows = []
    receipt = keys.setKey(device, secrets.token_bytes(32), sender=maker)
    # fresh: the history's length, the key (two slots), the device's "had this key" bit
    fixed = 4 * 22_100 + two_contracts + set_log
    rows.append({"name": "DeviceKeys.setKey (first key)", **measure(chain_api, receipt, fixed, 3)})
    receipt = keys.setKey(device, secrets.token_bytes(32), sender=maker)
    # fresh: the new key (two slots) and its bit; rewritten: the length and the old key's
    # validity slot (2,100 cold read + 2,900 each)
    fixed = 3 * 22_100 + 2 * 5_000 + two_contracts + set_log
    rows.append({"name": "DeviceKeys.setKey (rotation)", **measure(chain_api, receipt, fixed, 3)})
    receipt = keys.revokeKey(device, sender=maker)
    # the manufacturer needs no role read; rewritten: the key's validity slot; read: length
    fixed = 5_000 + 2_600 + log_gas(3, 32)
    rows.append({"name": "DeviceKeys.revokeKey", **measure(chain_api, receipt, fixed, 3)})
    assigned_log = log_gas(3, 64)  # DevicePatientAssigned: sig, deviceId, hospital | 2 words
    receipt = keys.assignPatient(device, secrets.token_bytes(32), sender=hospital)
    # fresh: the length and the assignment (two slots: commitment; times + hospital)
    fixed = 3 * 22_100 + two_contracts + assigned_log
    rows.append(
        {"name": "DeviceKeys.assignPatient (first)", **measure(chain_api, receipt, fixed, 3)}
    )
    receipt = keys.assignPatient(device, secrets.token_bytes(32), sender=hospital)
    # fresh: the new assignment (two slots); rewritten: the length and the previous one's
    # times; read: the previous commitment (is it the same patient?)
    fixed = 2 * 22_100 + 2 * 5_000 + two_contracts + assigned_log
    rows.append(
        {"name": "DeviceKeys.assignPatient (reassign)", **measure(chain_api, receipt, fixed, 4)}
    )
    return rows


def main() -> None:
    """Measure, print the table, write the JSON."""
    logger.set_level("WARNING")
    console = Console()
    rows: list[dict] = []
    with networks.parse_network_choice("ethereum:local:foundry") as provider:
        from ape import chain

        governor, hospital, patient = accounts.test_accounts[:3]
        contracts = Contracts(deploy(governor))
        registry = contracts.registry.contract
        keys = contracts.keys.contract

        receipt = registry.grantRole(PROVIDER_ROLE, hospital, sender=governor)
        # role slot + provider slot + id->address slot + counter, and two events
        rows.append(
            {
                "name": "grantRole (provider, first time)",
                **measure(
                    chain, receipt, 22_100 * 4 + log_gas(4, 0) + log_gas(2, 32), per_tx_reads=1
                ),
            }
        )

        record_log = log_gas(3, 64)  # RecordAnchored: sig, recordId, patient | version, cidDigest
        receipt = registry.anchor(
            secrets.token_bytes(32), patient, 2, secrets.token_bytes(32), sender=hospital
        )
        rows.append(
            {
                "name": "anchor (one record)",
                **measure(chain, receipt, 22_100 + record_log, per_tx_reads=1),
            }
        )

        for size in (10, 100):
            batch = [
                (secrets.token_bytes(32), patient.address, 2, secrets.token_bytes(32))
                for _ in range(size)
            ]
            receipt = registry.anchorBatch(batch, sender=hospital)
            rows.append(
                {
                    "name": f"anchorBatch ({size} records), per record",
                    **measure(
                        chain, receipt, size * (22_100 + record_log), per_tx_reads=1, records=size
                    ),
                }
            )

        record_id = batch[0][0]
        receipt = registry.supersede(record_id, secrets.token_bytes(32), sender=hospital)
        # warm rewrite of the head slot after its cold read (2,100 + 2,900)
        rows.append(
            {"name": "supersede", **measure(chain, receipt, 5_000 + record_log, per_tx_reads=1)}
        )
        receipt = registry.retract(record_id, secrets.token_bytes(32), sender=hospital)
        rows.append(
            {"name": "retract", **measure(chain, receipt, 5_000 + log_gas(3, 64), per_tx_reads=1)}
        )

        for suite in KemSuite:
            key = KeyPair.generate(suite).public_key
            receipt = keys.publishKey(int(suite), key, sender=patient)
            padded = (len(key) + 31) // 32 * 32
            rows.append(
                {
                    "name": f"publishKey ({suite.name}, {len(key)} B)",
                    **measure(chain, receipt, 2 * 22_100 + log_gas(3, 96 + padded)),
                }
            )
        consent = contracts.consent.contract
        end = chain.blocks.head.timestamp + 30 * 86400
        grant_log = log_gas(4, 6 * 32)  # ConsentGranted: sig, id, patient, grantee | 6 words
        receipt = consent.grant(
            hospital, 2, bytes(32), 0, end, secrets.token_bytes(32), sender=patient
        )
        grant_id = bytes(receipt.decode_logs(consent.ConsentGranted)[0].grantId)
        rows.append(
            {
                "name": "grant (with key object digest)",
                # a fresh slot, read first for the consent's signature nonce (a cold read)
                **measure(chain, receipt, 22_100 + grant_log, per_tx_reads=1),
            }
        )
        receipt = consent.revoke(grant_id, sender=patient)
        # rewriting a slot (cold read 2,100 + 2,900): the patient and the signature nonce
        # stay, so there is no clearing refund
        rows.append(
            {
                "name": "revoke",
                **measure(chain, receipt, 5_000 + log_gas(3, 0), per_tx_reads=0),
            }
        )
        receipt = consent.openBreakGlass(patient, secrets.token_bytes(32), 3600, sender=hospital)
        # two fresh slots for the access, one for the emergency window, the counter
        rows.append(
            {
                "name": "openBreakGlass",
                **measure(chain, receipt, 4 * 22_100 + log_gas(4, 64) + 2_600, per_tx_reads=1),
            }
        )
        receipt = contracts.access_log.contract.anchorBatch(
            patient, secrets.token_bytes(32), secrets.token_bytes(32), 50, sender=hospital
        )
        # one fresh slot (patient, time, count: the reader is in the key, keccak(reader,
        # root)); AccessBatchAnchored: sig, root, reader, patient | batchDigest, count
        rows.append(
            {
                "name": "AccessLog.anchorBatch (one root)",
                **measure(chain, receipt, 22_100 + log_gas(4, 64)),
            }
        )
        rows.extend(claims_rows(chain, contracts, governor, hospital, patient))
        rows.extend(trace_rows(chain, contracts, governor, hospital))
        rows.extend(device_rows(chain, contracts, governor, hospital))
        rows.extend(
            trials_rows(chain, contracts, governor, hospital, patient, _measure_reads, log_gas)
        )
        eas = compare(registry, governor, hospital, patient)
        del provider

    table = Table("call", "gas", "floor", "ratio", title="carechain gas (anvil, solc 0.8.30)")
    for row in rows:
        row["ratio"] = round(row["gas"] / row["floor"], 3)
        table.add_row(
            row["name"], f"{row['gas']:,.0f}", f"{row['floor']:,.0f}", f"{row['ratio']:.3f}"
        )
    console.print(table)
    versus = Table(
        "anchoring",
        "carechain",
        "EAS (its npm build)",
        "EAS / carechain",
        title=f"against the Ethereum Attestation Service ({eas['schema']})",
    )
    versus.add_row(
        "one record",
        f"{eas['ours']['one']:,}",
        f"{eas['eas']['one']:,}",
        f"{eas['ratio_one']:.2f}x",
    )
    versus.add_row(
        "batch of 100, per record",
        f"{eas['ours']['batch_100_per_record']:,.0f}",
        f"{eas['eas']['batch_100_per_record']:,.0f}",
        f"{eas['ratio_batch_100']:.2f}x",
    )
    console.print(versus)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gas.json").write_text(json.dumps({"gas": rows, "eas": eas}, indent=2) + "\n")
    console.print(f"written to {RESULTS / 'gas.json'}")


if __name__ == "__main__":
    main()
