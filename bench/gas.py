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

from carechain import KemSuite, KeyPair, deploy  # noqa: E402
from carechain.chain import PROVIDER_ROLE, Contracts  # noqa: E402


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
                **measure(chain, receipt, 22_100 + grant_log),
            }
        )
        receipt = consent.revoke(grant_id, sender=patient)
        # clearing a slot: cold read 2,100 + 2,900, less the 4,800 refund
        rows.append(
            {
                "name": "revoke (net of refund)",
                **measure(chain, receipt, 5_000 - 4_800 + log_gas(3, 0), per_tx_reads=0),
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
        rows.append(
            {
                "name": "AccessLog.anchorBatch (one root)",
                **measure(chain, receipt, 2 * 22_100 + log_gas(4, 64)),
            }
        )
        del provider

    table = Table("call", "gas", "floor", "ratio", title="carechain gas (anvil, solc 0.8.30)")
    for row in rows:
        row["ratio"] = round(row["gas"] / row["floor"], 3)
        table.add_row(
            row["name"], f"{row['gas']:,.0f}", f"{row['floor']:,.0f}", f"{row['ratio']:.3f}"
        )
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gas.json").write_text(json.dumps({"gas": rows}, indent=2) + "\n")
    console.print(f"written to {RESULTS / 'gas.json'}")


if __name__ == "__main__":
    main()
