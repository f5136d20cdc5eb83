"""Copy the ABIs of the contracts the runtime talks to from Ape's build into the package
(src/carechain/onchain/abi/), so that an installed carechain needs neither Ape nor a compiler.
`make compile` runs it after `ape compile`; tests/tools/test_layering.py checks the copies match
the build."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".build" / "__local__.json"
OUT = ROOT / "src" / "carechain" / "onchain" / "abi"
#: The deployed contracts, and the test stablecoin (its ABI is ERC-20's plus the faucet).
SHIPPED = (
    "AccessLog",
    "ClaimsManager",
    "ClinicalTrials",
    "ConsentManager",
    "DeviceKeys",
    "KeyDirectory",
    "KeyEscrow",
    "MockStablecoin",
    "RecordRegistry",
    "Traceability",
)


def exported() -> dict[str, str]:
    """File name -> content, as they should be in the package."""
    types = json.loads(BUILD.read_text())["contractTypes"]
    return {f"{name}.json": json.dumps(types[name]["abi"], indent=1) + "\n" for name in SHIPPED}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in exported().items():
        path = OUT / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
