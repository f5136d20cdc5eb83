"""carechain: encrypted FHIR medical records on IPFS, anchored and shared on Ethereum.

The public SDK: the role clients (:class:`Hospital`, :class:`Patient`), the contracts
wrapper (:class:`Contracts`), the IPFS client and managed node, key pairs, and errors.

The data types, errors, keys and FHIR helpers load with the package; what talks to the
chain or to IPFS (the contracts wrapper, the role clients, the IPFS client and node) loads
on first use, so that ``import carechain`` and ``carechain --help`` do not pay for the chain layer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .crypto import KemSuite, KeyPair
from .errors import (
    CarechainError,
    ChainError,
    ConfigurationError,
    ConsentRequiredError,
    ContentNotFoundError,
    DecryptionError,
    IntegrityError,
    InvalidRecordError,
    IPFSError,
    IPFSUnavailableError,
    KeyNotFoundError,
    NotAuthorizedError,
    RecordNotFoundError,
    RecoveryError,
)
from .fhir import Category
from .model import (
    ClaimStatus,
    ClaimView,
    Deployment,
    Purpose,
    Scope,
    SignedConsent,
    SignedRevocation,
)

if TYPE_CHECKING:
    from .hospital import Hospital
    from .insurer import Insurer
    from .ipfs import IPFSClient
    from .kubo import KuboNode
    from .onchain.contracts import Contracts
    from .onchain.deploy import deploy
    from .patient import Patient
    from .receipts import AccessReceipt, TrailEntry
    from .records import DecryptedRecord, Party, RecordRef
    from .trials import Sponsor

#: Names loaded on first use, and the module that defines each.
_ON_FIRST_USE = {
    "Contracts": "onchain.contracts",
    "deploy": "onchain.deploy",
    "AccessReceipt": "receipts",
    "TrailEntry": "receipts",
    "Hospital": "hospital",
    "Insurer": "insurer",
    "IPFSClient": "ipfs",
    "KuboNode": "kubo",
    "Patient": "patient",
    "DecryptedRecord": "records",
    "Party": "records",
    "RecordRef": "records",
    "Sponsor": "trials",
}


def __getattr__(name: str) -> Any:
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module 'carechain' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AccessReceipt",
    "CarechainError",
    "Category",
    "ChainError",
    "ClaimStatus",
    "ClaimView",
    "ConfigurationError",
    "ConsentRequiredError",
    "ContentNotFoundError",
    "Contracts",
    "DecryptedRecord",
    "DecryptionError",
    "Deployment",
    "Hospital",
    "IPFSClient",
    "IPFSError",
    "IPFSUnavailableError",
    "Insurer",
    "IntegrityError",
    "InvalidRecordError",
    "KemSuite",
    "KeyNotFoundError",
    "KeyPair",
    "KuboNode",
    "NotAuthorizedError",
    "Party",
    "Patient",
    "Purpose",
    "RecordNotFoundError",
    "RecordRef",
    "RecoveryError",
    "Scope",
    "SignedConsent",
    "SignedRevocation",
    "Sponsor",
    "TrailEntry",
    "deploy",
]
