"""carechain: encrypted FHIR medical records on IPFS, anchored and shared on Ethereum.

The public SDK: the role clients (:class:`Hospital`, :class:`Patient`), the contracts
wrapper (:class:`Contracts`), the IPFS client and managed node, key pairs, and errors.
"""

from .chain import (
    ClaimStatus,
    ClaimView,
    Contracts,
    Deployment,
    Purpose,
    Scope,
    SignedConsent,
    SignedRevocation,
    deploy,
)
from .consent import AccessReceipt, ConsentRequiredError, TrailEntry
from .crypto import KemSuite, KeyPair
from .errors import (
    CarechainError,
    ChainError,
    ConfigurationError,
    ContentNotFoundError,
    DecryptionError,
    IntegrityError,
    InvalidRecordError,
    IPFSError,
    IPFSUnavailableError,
    KeyNotFoundError,
    NotAuthorizedError,
    RecordNotFoundError,
)
from .fhir import Category
from .hospital import Hospital
from .insurer import Insurer
from .ipfs import IPFSClient
from .kubo import KuboNode
from .patient import Patient
from .records import DecryptedRecord, Party, RecordRef

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
    "Scope",
    "SignedConsent",
    "SignedRevocation",
    "TrailEntry",
    "deploy",
]
