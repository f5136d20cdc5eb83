"""carechain's data: the enums, records and units every layer shares, with nothing from the
chain layer (no Ape, no web3), so that the FHIR mappers, the CLI's choices and scripts can use
them without connecting to anything."""

from __future__ import annotations

import enum
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from eth_utils import keccak, to_checksum_address

from .errors import ConfigurationError
from .fhir import Category

#: How the SDK reports progress on long operations: called with (done, total) after each
#: step. The SDK never draws anything itself; the CLI passes a progress bar.
ProgressCallback = Callable[[int, int], None]

PROVIDER_ROLE = keccak(text="carechain.role.provider")


INSURER_ROLE = keccak(text="carechain.role.insurer")


AUDITOR_ROLE = keccak(text="carechain.role.auditor")


ARBITRATOR_ROLE = keccak(text="carechain.role.arbitrator")


MANUFACTURER_ROLE = keccak(text="carechain.role.manufacturer")


DISTRIBUTOR_ROLE = keccak(text="carechain.role.distributor")


PHARMACY_ROLE = keccak(text="carechain.role.pharmacy")


REGULATOR_ROLE = keccak(text="carechain.role.regulator")


#: Emergency-care institutions: they hold shares of the data keys of patients' records (KeyEscrow).
EMERGENCY_ROLE = keccak(text="carechain.role.emergency")


#: Clinical-trial sponsors: they register trials and fund participants' rewards.
SPONSOR_ROLE = keccak(text="carechain.role.sponsor")


ROLES = {
    "provider": PROVIDER_ROLE,
    "insurer": INSURER_ROLE,
    "auditor": AUDITOR_ROLE,
    "arbitrator": ARBITRATOR_ROLE,
    "manufacturer": MANUFACTURER_ROLE,
    "distributor": DISTRIBUTOR_ROLE,
    "pharmacy": PHARMACY_ROLE,
    "regulator": REGULATOR_ROLE,
    "emergency": EMERGENCY_ROLE,
    "sponsor": SPONSOR_ROLE,
}


_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def reason_code(reason: str) -> bytes:
    """The on-chain form of a reason about a patient's record, claim or emergency access: the
    keccak256 of a *code* ("entered-in-error", "not-covered", "unconscious-in-ED"). Codes
    come from a vocabulary the parties share, so anyone holding it can read the hash — as an
    auditor must. Free text is refused: its hash could be guessed, and it could say more
    about the patient than a code does; details belong in the encrypted FHIR resource."""
    if not _CODE.fullmatch(reason):
        raise ValueError(
            f"a reason must be a code (letters, digits, '.', '_' or '-', at most 64), not free "
            f"text: {reason!r}. Its hash is public and guessable; put details in the "
            "encrypted FHIR resource"
        )
    return keccak(text=reason)


def new_record_id() -> bytes:
    """A fresh random record id. Never derive ids from identifiers: they are public."""
    return secrets.token_bytes(32)


@dataclass(frozen=True)
class Deployment:
    """Where carechain lives on one network (``deployments/<network>.json``)."""

    network: str
    chain_id: int
    registry: str
    key_directory: str
    consent: str
    access_log: str
    claims: str
    token: str
    block: int
    #: The Traceability contract (deployments made before it existed have none).
    trace: str = ""
    #: The KeyEscrow contract: backups and emergency escrow (none in older deployments).
    escrow: str = ""
    #: The DeviceKeys contract: medical devices' signing keys (none in older deployments).
    device_keys: str = ""
    #: The ClinicalTrials contract: registered trials and rewards (none in older deployments).
    trials: str = ""

    def save(self, directory: Path | None = None) -> Path:
        """Write the deployment file; returns its path."""
        from .settings import get_settings

        directory = directory or get_settings().deployments_dir
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.network}.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, network: str, directory: Path | None = None) -> Deployment:
        """Read ``deployments/<network>.json``."""
        from .settings import get_settings

        path = (directory or get_settings().deployments_dir) / f"{network}.json"
        if not path.exists():
            raise ConfigurationError(
                f"no carechain deployment for network '{network}' ({path} is missing); "
                f"deploy first (ape run deploy --network ethereum:{network}:...), or point "
                "CARECHAIN_DEPLOYMENTS_DIR at the folder holding it"
            )
        return cls(**json.loads(path.read_text()))

    @classmethod
    def for_chain(cls, chain_id: int, directory: Path | None = None) -> Deployment:
        """The deployment file recorded for chain ``chain_id`` (a fork of Sepolia runs
        Sepolia's chain id, so it finds Sepolia's deployment)."""
        from .settings import get_settings

        directory = directory or get_settings().deployments_dir
        found = []
        for path in sorted(directory.glob("*.json")):
            try:
                payload = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(payload, dict) and payload.get("chain_id") == chain_id:
                found.append(cls(**payload))
        if len(found) == 1:
            return found[0]
        if not found:
            raise ConfigurationError(
                f"no carechain deployment for chain {chain_id} in {directory}; deploy first "
                "(ape run deploy --network ...), or point CARECHAIN_DEPLOYMENTS_DIR at the "
                "folder holding its file"
            )
        names = ", ".join(d.network for d in found)
        raise ConfigurationError(
            f"several deployments ({names}) are for chain {chain_id}; name one (--deployment)"
        )


#: The node a client talks to when none is named: ``make chain``'s anvil.
DEFAULT_RPC_URL = "http://127.0.0.1:8545"

#: Chains where the test stablecoin may be minted: anvil (31337, 1337) and the consortium
#: network `make network` runs on this machine (7341; see carechain.consortium).
LOCAL_CHAIN_IDS = frozenset({31337, 1337, 7341})


#: The settlement token's decimals the ClaimsManager accepts (its TOKEN_DECIMALS).
TOKEN_DECIMALS = 6


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


class Purpose(enum.IntEnum):
    """Why a party reads (FHIR purpose-of-use, v3 ActReason)."""

    TREATMENT = 0  # TREAT
    PAYMENT = 1  # HPAYMT
    RESEARCH = 2  # HRESCH
    EMERGENCY = 3  # ETREAT


class ScopeKind(enum.IntEnum):
    """What a consent covers."""

    RECORD = 0
    CATEGORY = 1
    ALL = 2


@dataclass(frozen=True)
class Scope:
    """One record, one category, or all of a patient's records."""

    kind: ScopeKind
    value: bytes = bytes(32)

    @classmethod
    def record(cls, record_id: bytes) -> Scope:
        """Exactly one record (all its versions)."""
        return cls(ScopeKind.RECORD, record_id)

    @classmethod
    def category(cls, category: Category) -> Scope:
        """Every record of a category, including records anchored later."""
        return cls(ScopeKind.CATEGORY, int(category).to_bytes(32, "big"))

    @classmethod
    def all(cls) -> Scope:
        """Every record of the patient, including records anchored later."""
        return cls(ScopeKind.ALL)

    def covers(self, record_id: bytes, category: Category) -> bool:
        """Whether a record with this id and category is inside the scope."""
        if self.kind is ScopeKind.ALL:
            return True
        if self.kind is ScopeKind.CATEGORY:
            return int.from_bytes(self.value, "big") == int(category)
        return self.value == record_id

    def describe(self) -> str:
        """A short human label."""
        if self.kind is ScopeKind.ALL:
            return "all records"
        if self.kind is ScopeKind.CATEGORY:
            return f"category {Category(int.from_bytes(self.value, 'big')).name}"
        return f"record 0x{self.value.hex()[:10]}…"


@dataclass(frozen=True)
class ConsentRecord:
    """A consent as the chain knows it: the latest event for its id, and its stored state."""

    grant_id: bytes
    patient: str
    grantee: str
    scope: Scope
    purpose: Purpose
    start: int
    end: int
    deny: bool
    keys_digest: bytes
    active: bool
    revoked: bool
    block: int


class Review(enum.IntEnum):
    """An auditor's verdict on a break-glass access."""

    PENDING = 0
    JUSTIFIED = 1
    UNJUSTIFIED = 2

    @property
    def words(self) -> str:
        """The verdict as a person reads it: pending review, justified, unjustified."""
        return "pending review" if self is Review.PENDING else self.name.lower()


def utc_minutes(seconds: int) -> str:
    """A Unix time as a person reads it, to the minute: ``2026-12-03 14:05 UTC``."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class BreakGlassAccess:
    """A clinician's emergency access to a patient's records, as the chain knows it now."""

    access_id: bytes
    patient: str
    clinician: str
    justification: bytes  # keccak256 of the reason code (see :func:`reason_code`)
    opened_block: int
    expires_at: int  # the end, or when it was closed early
    review: Review
    open: bool  # whether it still lets the clinician read (at the chain's latest block)


#: How long a signed consent or revocation can be relayed, by default (seconds). Short: an
#: unrelayed signature is a decision someone else holds, and a later decision by the patient
#: voids it anyway.
SIGNATURE_TTL = 3600


@dataclass(frozen=True)
class SignedRevocation:
    """A revocation signed by the patient (EIP-712), for any relayer to submit."""

    patient: str
    grant_id: bytes
    deadline: int
    signature: bytes


@dataclass(frozen=True)
class SignedConsent:
    """A consent request signed by the patient (EIP-712), for any relayer to submit."""

    patient: str
    request: tuple
    deadline: int
    signature: bytes

    def to_json(self) -> str:
        """The payload a relayer needs, as JSON."""
        grantee, kind, value, purpose, start, end, deny, keys = self.request
        return json.dumps(
            {
                "patient": self.patient,
                "request": [
                    grantee,
                    kind,
                    "0x" + value.hex(),
                    purpose,
                    start,
                    end,
                    deny,
                    "0x" + keys.hex(),
                ],
                "deadline": self.deadline,
                "signature": "0x" + self.signature.hex(),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> SignedConsent:
        """Read a payload written by :meth:`to_json`."""
        data = json.loads(text)
        grantee, kind, value, purpose, start, end, deny, keys = data["request"]
        request = (
            grantee,
            kind,
            bytes.fromhex(value[2:]),
            purpose,
            start,
            end,
            deny,
            bytes.fromhex(keys[2:]),
        )
        return cls(
            data["patient"], request, int(data["deadline"]), bytes.fromhex(data["signature"][2:])
        )


@dataclass(frozen=True)
class AnchoredBatch:
    """A batch of access receipts anchored on-chain (from its ``AccessBatchAnchored`` log)."""

    root: bytes
    reader: str
    patient: str
    batch_digest: bytes
    count: int
    block: int

    @property
    def batch_id(self) -> bytes:
        """The batch's key in the AccessLog: keccak256(abi.encode(reader, root))."""
        return batch_id(self.reader, self.root)


@dataclass(frozen=True)
class StoredBatch:
    """What the AccessLog keeps for one (reader, root) batch."""

    reader: str
    patient: str
    count: int
    anchored_at: int


def batch_id(reader: str, root: bytes) -> bytes:
    """keccak256(abi.encode(reader, root)), as AccessLog keys a batch: only ``reader`` can
    fill it, so nobody can occupy another reader's root."""
    from eth_abi import encode as abi_encode

    return bytes(keccak(abi_encode(["address", "bytes32"], [to_checksum_address(reader), root])))


class ClaimStatus(enum.IntEnum):
    """Where a claim is (FHIR ClaimResponse.outcome follows from it)."""

    NONE = 0
    SUBMITTED = 1
    APPROVED = 2
    DENIED = 3
    DISPUTED = 4
    PAID = 5


@dataclass(frozen=True)
class PolicyTerms:
    """A policy an insurer issues to a patient (amounts in token units)."""

    patient: str
    limit: int
    deductible: int
    copay_bps: int
    covered: frozenset[Category]
    start: int
    end: int
    auto_approve_below: int

    def as_tuple(self) -> tuple:
        """The ABI tuple."""
        mask = sum(1 << int(c) for c in self.covered if int(c) < 32)
        return (
            self.patient,
            self.limit,
            self.deductible,
            self.copay_bps,
            mask,
            self.start,
            self.end,
            self.auto_approve_below,
        )


@dataclass(frozen=True)
class ClaimView:
    """A claim: what was submitted (event) and where it stands (storage)."""

    claim_id: bytes
    policy_id: int
    provider: str
    amount: int
    service_date: int
    record_ids: list[bytes]
    claim_digest: bytes
    status: ClaimStatus
    approved: int
    patient_share: int
    block: int


@dataclass(frozen=True)
class Segment:
    """Who holds serials first..last of a batch, and what part of them is offered to whom."""

    holder: str
    first: int
    last: int
    offered_to: str = ""  # "" when nothing is offered
    offered_first: int = 0
    offered_last: int = 0


class EscrowKind(enum.IntEnum):
    """Which key a KeyEscrow escrow holds (IKeyEscrow.Kind)."""

    BACKUP = 0  # the patient's record key, for recovery on a new device
    EMERGENCY = 1  # the data keys of the patient's records, for break-glass readers


@dataclass(frozen=True)
class EscrowView:
    """A patient's escrow of one kind: storage, with the holders and the escrowed public key
    from its ``EscrowCreated`` event (checked against the stored commitment)."""

    patient: str
    kind: EscrowKind
    epoch: int
    threshold: int
    holders: list[str]
    commitments: list[bytes]
    kem_id: int
    public_key: bytes
    shares_digest: bytes
    keys_digest: bytes  # Emergency: the data keys wrapped to the key; Backup: zero


@dataclass(frozen=True)
class RecoveryRequest:
    """A patient's recovery request: shares go to ``device_key`` until ``expires_at``."""

    patient: str
    request_id: bytes
    epoch: int
    kem_id: int
    device_key: bytes
    expires_at: int
    open: bool


@dataclass(frozen=True)
class ShareRelease:
    """A holder released share ``index`` for a request (recovery or break-glass)."""

    patient: str
    kind: EscrowKind
    request_id: bytes
    holder: str
    index: int
    epoch: int
    release_digest: bytes
    block: int


@dataclass(frozen=True)
class BreakGlassView:
    """A break-glass access: who opened it for whom, until when, and the auditor's verdict."""

    access_id: bytes
    clinician: str
    patient: str
    expires_at: int
    review: Review

    @property
    def verdict(self) -> str:
        """The auditor's verdict in words."""
        return self.review.words


@dataclass(frozen=True)
class TrialVersion:
    """One version of a trial's protocol, as the chain stores it."""

    number: int  # 1 = as registered
    protocol_digest: bytes  # the public protocol document on IPFS
    study_digest: bytes  # the FHIR ResearchStudy (outcome measures) on IPFS
    primary_outcomes: bytes  # keccak256 of the primary outcomes' names
    registered_at: int  # block time
    outcome_switch: bool  # changed the primary outcomes after the first enrolment


@dataclass(frozen=True)
class TrialView:
    """A trial as the chain stores it (amounts in token units, times in Unix seconds)."""

    trial_id: int
    sponsor: str
    version: int
    outcome_switches: int
    enrolled: int
    first_enrolment_at: int  # 0: nobody enrolled yet
    results_at: int  # 0: no results
    planned_enrolment: int
    enrolment_closes: int
    ends_at: int
    results_due: int
    scope: Scope
    primary_outcomes: bytes
    results_digest: bytes
    reward_per_contribution: int
    reward_per_milestone: int
    reward_cap: int
    escrow: int
    reserved: int

    def overdue(self, now: int) -> bool:
        """Past its results date without results."""
        return self.results_at == 0 and now > self.results_due

    def status(self, now: int) -> str:
        """recruiting, closed, ended, results posted, or overdue."""
        if self.results_at:
            return "results posted"
        if self.overdue(now):
            return "overdue"
        if now >= self.ends_at:
            return "ended"
        if now >= self.enrolment_closes or self.enrolled >= self.planned_enrolment:
            return "enrolment closed"
        return "recruiting"


@dataclass(frozen=True)
class TrialEnrolment:
    """A participant's enrolment in a trial (``enrolled_at`` 0: not enrolled)."""

    enrolled_at: int
    consent_version: int
    withdrawn_at: int
    paid: int
    owed: int
