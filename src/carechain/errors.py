"""The package's exceptions: one root, and messages that say what to do next."""

from __future__ import annotations


class CarechainError(Exception):
    """Root of every error carechain raises on purpose."""


class ConfigurationError(CarechainError):
    """Set-up is missing or wrong (no deployment file, no Kubo binary, bad settings)."""


class IPFSError(CarechainError):
    """The IPFS node could not be reached or refused a request."""


class IPFSUnavailableError(IPFSError, ConnectionError):
    """The Kubo node is down or not answering."""


class ContentNotFoundError(IPFSError, LookupError):
    """The node does not have (and could not fetch) the requested content."""


class IntegrityError(CarechainError):
    """Bytes did not match the digest anchored on-chain: the source is not trustworthy."""


class DecryptionError(CarechainError, ValueError):
    """A ciphertext could not be opened: wrong key, tampered bytes or wrong context."""


class KeyNotFoundError(CarechainError, LookupError):
    """A party has no published key, or the caller holds no wrapped key for a record."""


class InvalidRecordError(CarechainError, ValueError):
    """A record is not valid FHIR R4 (the validator's reason is in the message)."""


class RecordNotFoundError(CarechainError, LookupError):
    """No record with this id is anchored."""


class ChainError(CarechainError):
    """A transaction reverted or the chain refused a request."""


class ChainUnavailableError(ChainError, ConnectionError):
    """No Ethereum node answers at the configured URL."""


class NotAuthorizedError(ChainError, PermissionError):
    """The sender lacks the role or ownership the action needs."""


class ConsentRequiredError(NotAuthorizedError):
    """The chain says this reader may not read this record for this purpose now."""


class RecoveryError(CarechainError):
    """Shares could not rebuild a key: too few valid shares, or shares that fail their
    on-chain commitments (the message lists which, and why)."""
