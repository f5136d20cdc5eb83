"""Typed wrappers over the deployed contracts, and the deployment files that locate them.

An SDK object wraps each contract: it checks inputs before it sends a transaction, turns
reverts into the package's own exceptions, and returns domain objects built from event
logs rather than raw receipts. This is the only module that talks to Ape directly.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from ape import Project, chain, networks
from ape.exceptions import ContractLogicError, TransactionError
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from .crypto import KemSuite
from .errors import (
    ChainError,
    ConfigurationError,
    KeyNotFoundError,
    NotAuthorizedError,
    RecordNotFoundError,
)
from .fhir import Category
from .settings import PROJECT_ROOT, get_settings

PROVIDER_ROLE = keccak(text="carechain.role.provider")
INSURER_ROLE = keccak(text="carechain.role.insurer")
AUDITOR_ROLE = keccak(text="carechain.role.auditor")
ROLES = {"provider": PROVIDER_ROLE, "insurer": INSURER_ROLE, "auditor": AUDITOR_ROLE}

#: Errors whose cause is a missing permission rather than bad data.
_PERMISSION_ERRORS = {"NotProvider", "NotRecordAuthor", "AccessControlUnauthorizedAccount"}

T = TypeVar("T")


def _project() -> Any:
    return Project(PROJECT_ROOT)


def new_record_id() -> bytes:
    """A fresh random record id. Never derive ids from identifiers: they are public."""
    return secrets.token_bytes(32)


# --------------------------------------------------------------------------- deployments


@dataclass(frozen=True)
class Deployment:
    """Where carechain lives on one network (``deployments/<network>.json``)."""

    network: str
    chain_id: int
    registry: str
    key_directory: str
    block: int

    def save(self, directory: Path | None = None) -> Path:
        """Write the deployment file; returns its path."""
        directory = directory or get_settings().deployments_dir
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.network}.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, network: str, directory: Path | None = None) -> Deployment:
        """Read ``deployments/<network>.json``."""
        path = (directory or get_settings().deployments_dir) / f"{network}.json"
        if not path.exists():
            raise ConfigurationError(
                f"no carechain deployment for network '{network}' ({path} is missing); "
                f"deploy first: ape run deploy --network ethereum:{network}:foundry"
            )
        return cls(**json.loads(path.read_text()))


def network_name() -> str:
    """The connected Ape network's name (``local``, ``sepolia-fork``...)."""
    return str(networks.provider.network.name)


def deploy(sender: Any) -> Deployment:
    """Deploy the registry (with ``sender`` as governor) and the key directory."""
    project = _project()
    registry = project.RecordRegistry.deploy(sender, sender=sender)
    keys = project.KeyDirectory.deploy(sender=sender)
    return Deployment(
        network=network_name(),
        chain_id=chain.chain_id,
        registry=str(registry.address),
        key_directory=str(keys.address),
        block=chain.blocks.height,
    )


@contextmanager
def reverts_as_errors() -> Iterator[None]:
    """Translate a contract revert into a :class:`ChainError` naming the custom error."""
    try:
        yield
    except ContractLogicError as exc:
        name = getattr(exc, "name", None) or exc.__class__.__name__
        inputs = getattr(exc, "inputs", None) or {}
        detail = ", ".join(f"{k}={_show(v)}" for k, v in inputs.items())
        message = f"the contract refused: {name}({detail})" if inputs else f"refused: {exc}"
        error = NotAuthorizedError if name in _PERMISSION_ERRORS else ChainError
        raise error(message) from exc
    except TransactionError as exc:
        raise ChainError(f"transaction failed: {exc}") from exc


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def _transact(call: Callable[[], T]) -> T:
    with reverts_as_errors():
        return call()


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RecordHead:
    """What the chain stores about a record."""

    record_id: bytes
    patient: str
    author: str
    version: int
    category: Category
    retracted: bool


@dataclass(frozen=True)
class RecordVersion:
    """One anchored version of a record, from its ``RecordAnchored`` event."""

    record_id: bytes
    patient: str
    version: int
    cid_digest: bytes
    block: int
    transaction: str


@dataclass(frozen=True)
class PendingAnchor:
    """A record ready to anchor: its ciphertext is already stored and pinned."""

    record_id: bytes
    patient: str
    category: Category
    cid_digest: bytes


class Registry:
    """The RecordRegistry contract: roles and record anchors."""

    def __init__(self, address: str) -> None:
        self.contract = _project().RecordRegistry.at(address)
        self.address = str(self.contract.address)
        self.max_batch = int(self.contract.MAX_BATCH())

    # roles -------------------------------------------------------------------------
    def has_role(self, role: str, account: Any) -> bool:
        """Whether ``account`` holds ``role`` (provider, insurer or auditor)."""
        return bool(self.contract.hasRole(ROLES[role], account))

    def admit(self, governor: Any, role: str, account: Any) -> Any:
        """Admit ``account`` to ``role``; only the governor may."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; choose one of {sorted(ROLES)}")
        return _transact(lambda: self.contract.grantRole(ROLES[role], account, sender=governor))

    def remove(self, governor: Any, role: str, account: Any) -> Any:
        """Remove ``account`` from ``role``; only the governor may."""
        return _transact(lambda: self.contract.revokeRole(ROLES[role], account, sender=governor))

    def require_provider(self, account: Any) -> None:
        """Raise unless ``account`` is an admitted provider."""
        if not self.has_role("provider", account):
            raise NotAuthorizedError(
                f"{account} is not an admitted provider: the governor must admit it first "
                "(carechain admin admit provider <address>)"
            )

    # writes ------------------------------------------------------------------------
    def anchor(self, sender: Any, item: PendingAnchor) -> Any:
        """Anchor version 1 of a record; returns the receipt."""
        return _transact(
            lambda: self.contract.anchor(
                item.record_id, item.patient, int(item.category), item.cid_digest, sender=sender
            )
        )

    def anchor_batch(self, sender: Any, items: list[PendingAnchor]) -> Any:
        """Anchor version 1 of up to ``max_batch`` records in one transaction."""
        if not 0 < len(items) <= self.max_batch:
            raise ValueError(f"a batch holds 1 to {self.max_batch} records, got {len(items)}")
        rows = [(i.record_id, i.patient, int(i.category), i.cid_digest) for i in items]
        return _transact(lambda: self.contract.anchorBatch(rows, sender=sender))

    def supersede(self, sender: Any, record_id: bytes, cid_digest: bytes) -> Any:
        """Anchor the next version of a record."""
        return _transact(lambda: self.contract.supersede(record_id, cid_digest, sender=sender))

    def retract(self, sender: Any, record_id: bytes, reason: str) -> Any:
        """Mark a record entered-in-error with a reason code (hashed; never free text)."""
        code = keccak(text=reason)
        return _transact(lambda: self.contract.retract(record_id, code, sender=sender))

    # reads -------------------------------------------------------------------------
    def exists(self, record_id: bytes) -> bool:
        """Whether the record is anchored."""
        return bool(self.contract.recordExists(record_id))

    def head(self, record_id: bytes) -> RecordHead:
        """The stored head of a record; raises :class:`RecordNotFoundError` if unknown."""
        if not self.exists(record_id):
            raise RecordNotFoundError(
                f"no record 0x{record_id.hex()} is anchored in {self.address}"
            )
        raw = self.contract.getRecord(record_id)
        return RecordHead(
            record_id=record_id,
            patient=str(raw.patient),
            author=str(self.contract.providerAddress(raw.authorId)),
            version=int(raw.version),
            category=Category(int(raw.category)),
            retracted=int(raw.status) == 2,
        )

    def versions(self, record_id: bytes) -> list[RecordVersion]:
        """Every anchored version of a record, oldest first."""
        logs = self.contract.RecordAnchored.range(
            0, chain.blocks.height + 1, search_topics={"recordId": record_id}
        )
        return sorted((_version_from_log(log) for log in logs), key=lambda v: v.version)

    def version(self, record_id: bytes, version: int | None = None) -> RecordVersion:
        """One version (the latest by default) of a record."""
        head = self.head(record_id)
        wanted = version or head.version
        for item in self.versions(record_id):
            if item.version == wanted:
                return item
        raise RecordNotFoundError(f"record 0x{record_id.hex()} has no version {wanted}")

    def records_of(self, patient: str) -> list[RecordVersion]:
        """The latest anchored version of every record about ``patient``."""
        logs = self.contract.RecordAnchored.range(
            0, chain.blocks.height + 1, search_topics={"patient": to_checksum_address(patient)}
        )
        latest: dict[bytes, RecordVersion] = {}
        for log in logs:
            item = _version_from_log(log)
            if item.record_id not in latest or item.version > latest[item.record_id].version:
                latest[item.record_id] = item
        return sorted(latest.values(), key=lambda v: (v.block, v.record_id))


def _version_from_log(log: Any) -> RecordVersion:
    return RecordVersion(
        record_id=bytes(log.recordId),
        patient=str(log.patient),
        version=int(log.version),
        cid_digest=bytes(log.cidDigest),
        block=int(log.block_number),
        transaction=str(
            log.transaction_hash.hex()
            if hasattr(log.transaction_hash, "hex")
            else log.transaction_hash
        ),
    )


# --------------------------------------------------------------------------- keys


class KeyDirectory:
    """The KeyDirectory contract: published HPKE public keys."""

    def __init__(self, address: str) -> None:
        self.contract = _project().KeyDirectory.at(address)
        self.address = str(self.contract.address)

    def publish(self, sender: Any, suite: KemSuite, public_key: bytes) -> Any:
        """Publish (or rotate to) ``public_key`` for ``suite``."""
        if len(public_key) != suite.public_key_size:
            raise ValueError(f"a {suite.name} public key is {suite.public_key_size} bytes")
        return _transact(lambda: self.contract.publishKey(int(suite), public_key, sender=sender))

    def public_key(self, party: str, suite: KemSuite) -> bytes:
        """The party's current key for ``suite``, checked against its on-chain commitment."""
        commitment, version = self.contract.keyCommitment(party, int(suite))
        if bytes(commitment) == bytes(32):
            raise KeyNotFoundError(
                f"{party} has no published {suite.name} key; they must publish one first "
                "(carechain keys publish)"
            )
        logs = self.contract.KeyPublished.range(
            0,
            chain.blocks.height + 1,
            search_topics={"party": to_checksum_address(party), "kemId": int(suite)},
        )
        for log in logs:
            if int(log.keyVersion) != int(version):
                continue
            key = bytes(log.publicKey)
            expected = keccak(abi_encode(["uint16", "uint32", "bytes"], [int(suite), version, key]))
            if expected == bytes(commitment):
                return key
        raise KeyNotFoundError(f"no event matches {party}'s committed {suite.name} key")


# --------------------------------------------------------------------------- the set


class Contracts:
    """Every carechain contract of one deployment."""

    def __init__(self, deployment: Deployment) -> None:
        if deployment.chain_id != chain.chain_id:
            raise ConfigurationError(
                f"deployment '{deployment.network}' is for chain {deployment.chain_id}, but the "
                f"connected chain is {chain.chain_id}; connect to the right network or redeploy"
            )
        for name, address in (
            ("registry", deployment.registry),
            ("keys", deployment.key_directory),
        ):
            if not chain.provider.get_code(address):
                raise ConfigurationError(
                    f"no contract at the {name} address {address} on chain {chain.chain_id}: "
                    "the chain was restarted or the deployment file is stale; redeploy "
                    "(ape run deploy --network ...)"
                )
        self.deployment = deployment
        self.registry = Registry(deployment.registry)
        self.keys = KeyDirectory(deployment.key_directory)

    @property
    def chain_id(self) -> int:
        """The chain these contracts live on."""
        return self.deployment.chain_id

    @classmethod
    def load(cls, network: str | None = None) -> Contracts:
        """The deployment recorded for ``network`` (the connected one by default)."""
        return cls(Deployment.load(network or network_name()))
