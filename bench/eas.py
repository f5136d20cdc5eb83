"""carechain's anchoring next to the Ethereum Attestation Service attesting the same data.

EAS is deployed from its npm package's own published build
(``@ethereum-attestation-service/eas-contracts``, hardhat artifacts: ABI and bytecode) on
the same anvil. Its schema holds what our registry anchors for a record — the record id, the
content digest and the category, with the patient as the attestation's recipient and the
provider as its attester — so both sides carry the same facts.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from eth_abi import encode
from ethpm_types import ContractType

ARTIFACTS = (
    Path(__file__).resolve().parents[1]
    / "node_modules/@ethereum-attestation-service/eas-contracts/artifacts/contracts"
)
SCHEMA = "bytes32 recordId,bytes32 cidDigest,uint8 category"


def _container(name: str) -> Any:
    from ape.contracts import ContractContainer

    artifact = json.loads((ARTIFACTS / f"{name}.sol/{name}.json").read_text())
    contract_type = ContractType(
        contractName=name,
        abi=artifact["abi"],
        deploymentBytecode={"bytecode": artifact["bytecode"]},
        runtimeBytecode={"bytecode": artifact["deployedBytecode"]},
    )
    return ContractContainer(contract_type)


def compare(registry: Any, deployer: Any, provider: Any, patient: Any, batch: int = 100) -> dict:
    """Gas of anchoring one record and ``batch`` records, ours and EAS's, on the connected
    chain. ``registry`` is our RecordRegistry with ``provider`` admitted."""
    schema_registry = _container("SchemaRegistry").deploy(sender=deployer)
    eas = _container("EAS").deploy(schema_registry, sender=deployer)
    receipt = schema_registry.register(SCHEMA, "0x" + "00" * 20, False, sender=deployer)
    schema_uid = receipt.decode_logs(schema_registry.Registered)[0].uid

    def request() -> tuple:
        data = encode(
            ["bytes32", "bytes32", "uint8"], [secrets.token_bytes(32), secrets.token_bytes(32), 2]
        )
        return (patient.address, 0, False, b"\x00" * 32, data, 0)

    def record() -> tuple:
        return (secrets.token_bytes(32), patient.address, 2, secrets.token_bytes(32))

    # warm-up: the first attestation and the first anchor pay for first-time slots
    eas.attest((schema_uid, request()), sender=provider)
    registry.anchor(*record(), sender=provider)

    ours_one = registry.anchor(*record(), sender=provider).gas_used
    eas_one = eas.attest((schema_uid, request()), sender=provider).gas_used
    ours_batch = registry.anchorBatch([record() for _ in range(batch)], sender=provider).gas_used
    eas_batch = eas.multiAttest(
        [(schema_uid, [request() for _ in range(batch)])], sender=provider
    ).gas_used
    return {
        "schema": SCHEMA,
        "ours": {"one": ours_one, f"batch_{batch}_per_record": ours_batch / batch},
        "eas": {"one": eas_one, f"batch_{batch}_per_record": eas_batch / batch},
        "ratio_one": round(eas_one / ours_one, 2),
        f"ratio_batch_{batch}": round(eas_batch / ours_batch, 2),
    }
