"""The record paths every role shares: seal-and-store before anchoring, fetch-verify-open
after. Role clients (:mod:`hospital`, :mod:`patient`) compose these; they never talk to
IPFS or the crypto layer any other way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .consent import own_data_key, shared_data_key
from .crypto import KemSuite, KeyPair, Recipient, encrypt_record, open_envelope
from .devices import (
    ReadingVerifier,
    UntrustedReadingError,
    Verdict,
    check_record_readings,
    device_readings,
)
from .errors import ConsentRequiredError, NotAuthorizedError
from .escrow import (
    EmergencyRelease,
    emergency_data_key,
    release_emergency_shares,
    release_share,
    require_escrow,
)
from .fhir import Category, canonical_bytes, category_for, parse_resource
from .ipfs import AddedContent, IPFSClient
from .model import EscrowKind, PendingAnchor, Purpose, RecordHead, RecordVersion
from .onchain import Contracts
from .receipts import ReceiptBook


@dataclass(frozen=True)
class RecordRef:
    """A record version a provider anchored: what to keep to find it again."""

    record_id: bytes
    version: int
    patient: str
    category: Category
    cid: str
    digest: bytes
    transaction: str
    gas_used: int
    #: True when an idempotent anchoring found this record already anchored (by an earlier,
    #: perhaps interrupted, run) and sent nothing for it.
    existing: bool = False

    @property
    def record_id_hex(self) -> str:
        """The record id as 0x-prefixed hex."""
        return "0x" + self.record_id.hex()


@dataclass(frozen=True)
class DecryptedRecord:
    """A record version fetched from IPFS, verified against the chain, and decrypted."""

    head: RecordHead
    version: RecordVersion
    #: The FHIR resource as it is to be shown: device readings carry this read's untrusted
    #: marks (stored marks are not believed).
    resource: dict[str, Any]
    #: (entry index, verdict) of every device reading in it, checked on this read.
    readings: tuple[tuple[int, Verdict], ...] = ()
    #: The resource exactly as decrypted, when the shown one differs (marks): what a new
    #: version of the same content must store.
    stored: dict[str, Any] | None = None

    @property
    def as_stored(self) -> dict[str, Any]:
        """The FHIR resource as it was written (without this read's marks)."""
        return self.resource if self.stored is None else self.stored

    @property
    def retracted(self) -> bool:
        """Whether the author marked the record entered-in-error."""
        return self.head.retracted


def seal_and_store(
    contracts: Contracts,
    ipfs: IPFSClient,
    resource: dict[str, Any],
    patient: str,
    record_id: bytes,
    version: int,
    readers: list[Recipient],
    category: Category | None = None,
) -> tuple[PendingAnchor, AddedContent]:
    """Validate, encrypt to ``readers``, add and pin on IPFS: ready to anchor (one record;
    :func:`seal_and_store_many` does the work)."""
    plaintext = canonical_bytes(resource)  # validates first
    kind = category if category is not None else category_for(resource)
    job = SealJob(patient, record_id, version, readers, kind, plaintext)
    return seal_and_store_many(contracts, ipfs, [job])[0]


@dataclass(frozen=True)
class SealJob:
    """One record version to encrypt and store (see :func:`seal_and_store_many`)."""

    patient: str
    record_id: bytes
    version: int
    readers: list[Recipient]
    category: Category
    plaintext: bytes  # canonical, already validated FHIR


def seal_and_store_many(
    contracts: Contracts, ipfs: IPFSClient, jobs: list[SealJob], pin: bool = True
) -> list[tuple[PendingAnchor, AddedContent]]:
    """Encrypt each job's record to its readers and add all of them to IPFS in one request
    (pinned, unless ``pin`` is False: the caller pins them once they are anchored); ready to
    anchor, in input order."""
    envelopes = [
        encrypt_record(
            job.plaintext,
            contracts.record_context(job.patient, job.record_id, job.version),
            job.readers,
        )
        for job in jobs
    ]
    added = ipfs.add_many(envelopes, pin=pin)
    return [
        (PendingAnchor(job.record_id, job.patient, job.category, content.digest), content)
        for job, content in zip(jobs, added, strict=True)
    ]


def fetch_and_open(
    contracts: Contracts,
    ipfs: IPFSClient,
    key_pair: KeyPair,
    record_id: bytes,
    version: int | None = None,
    untrusted: str | None = None,
    verifier: ReadingVerifier | None = None,
) -> DecryptedRecord:
    """Read a record version: chain → IPFS (verified against the digest) → decrypt → FHIR,
    its device readings checked (:func:`opened_record`)."""
    head = contracts.registry.head(record_id)
    anchored = contracts.registry.version(record_id, version, head)
    envelope = ipfs.cat(anchored.cid_digest)
    context = contracts.record_context(head.patient, record_id, anchored.version)
    data_key = own_data_key(contracts, ipfs, key_pair, head, anchored.version, envelope)
    plaintext = open_envelope(envelope, data_key, context)
    return opened_record(contracts, head, anchored, parse_resource(plaintext), untrusted, verifier)


def opened_record(
    contracts: Contracts,
    head: RecordHead,
    anchored: RecordVersion,
    resource: dict[str, Any],
    untrusted: str | None = None,
    verifier: ReadingVerifier | None = None,
) -> DecryptedRecord:
    """A decrypted record with its device readings checked (every read goes through here):
    each Observation naming a device or carrying a device signature is checked against the
    chain at its time and the record's first anchoring (a re-keyed or superseded version
    keeps its readings' standing); ``untrusted`` (``refuse``/``mark``, by default
    ``CARECHAIN_UNTRUSTED_READINGS``) says whether one that fails refuses the read
    (:class:`~carechain.devices.UntrustedReadingError`) or is shown marked; ``verifier``: a
    running one to reuse (its cache), else one for this read."""
    if not device_readings(resource):
        return DecryptedRecord(head=head, version=anchored, resource=resource)
    first = anchored
    if anchored.version != 1:
        first = contracts.registry.version(head.record_id, 1, head)
    try:
        shown, verdicts = check_record_readings(
            contracts, resource, head.patient, first.block, untrusted, verifier
        )
    except UntrustedReadingError as exc:
        raise UntrustedReadingError(
            f"record 0x{head.record_id.hex()}: {exc}", exc.verdicts
        ) from None
    return DecryptedRecord(
        head=head,
        version=anchored,
        resource=shown,
        readings=tuple(verdicts),
        stored=None if shown is resource else resource,
    )


class Party:
    """What every role client has: an account that signs, the contracts, an IPFS client,
    and the key pair that opens what was encrypted to this party."""

    def __init__(
        self, account: Any, contracts: Contracts, ipfs: IPFSClient, key_pair: KeyPair
    ) -> None:
        self.account = account
        self.address = str(account.address)
        self.contracts = contracts
        self.ipfs = ipfs
        self.key_pair = key_pair
        #: Signed receipts of this party's consented reads, anchored in batches.
        self.receipts = ReceiptBook(account, contracts, ipfs, key_pair)

    def publish_key(self) -> Any:
        """Publish this party's encryption key so others can encrypt to it."""
        pair = self.key_pair
        return self.contracts.keys.publish(self.account, pair.suite, pair.public_key)

    def read_record(
        self,
        record_id: bytes,
        version: int | None = None,
        purpose: Purpose = Purpose.TREATMENT,
        untrusted: str | None = None,
        verifier: ReadingVerifier | None = None,
    ) -> DecryptedRecord:
        """Fetch a record version (the latest by default), verify it against the chain, and
        decrypt it; device readings in it are checked (``untrusted``, ``verifier``: see
        :func:`opened_record`).

        The record's patient and author read directly. Anyone else reads only if the chain
        says their consent covers this record for ``purpose`` now; the data key then comes
        from the envelope or the grant's key object, and a signed access receipt is kept
        (anchor pending receipts with ``self.receipts.flush()``).
        """
        head = self.contracts.registry.head(record_id)
        if self.address in (head.patient, head.author):
            return fetch_and_open(
                self.contracts, self.ipfs, self.key_pair, record_id, version, untrusted, verifier
            )

        def consented_key(head: RecordHead, anchored: RecordVersion, envelope: bytes) -> bytes:
            return shared_data_key(
                self.contracts,
                self.ipfs,
                self.key_pair,
                self.address,
                head,
                anchored.version,
                envelope,
            )

        return self._read_as_reader(head, version, purpose, consented_key, untrusted, verifier)

    def read_in_emergency(
        self, record_id: bytes, access_id: bytes, version: int | None = None
    ) -> DecryptedRecord:
        """Read a record of a patient enrolled in emergency escrow during this clinician's
        open break-glass ``access_id``: its data key is rebuilt (in memory) from the shares
        emergency institutions released to this clinician for that access — that record's
        key only — and the read is receipted with purpose emergency like any other. Refused
        (before anything is fetched) once the break-glass has closed, expired or been found
        unjustified."""
        head = self.contracts.registry.head(record_id)
        access = self.contracts.consent.break_glass_by_id(access_id)
        if access.patient != head.patient or access.clinician != self.address:
            raise ConsentRequiredError(
                f"break-glass 0x{access_id.hex()} is not {self.address}'s access to "
                f"{head.patient}'s records"
            )

        def emergency_key(head: RecordHead, record: RecordVersion, envelope: bytes) -> bytes:
            return emergency_data_key(
                self.contracts, self.ipfs, self.key_pair, access_id, record, envelope
            )

        return self._read_as_reader(head, version, Purpose.EMERGENCY, emergency_key)

    def _read_as_reader(
        self,
        head: RecordHead,
        version: int | None,
        purpose: Purpose,
        data_key_for: Callable[[RecordHead, RecordVersion, bytes], bytes],
        untrusted: str | None = None,
        verifier: ReadingVerifier | None = None,
    ) -> DecryptedRecord:
        """A third party's read: the chain's permission first, then the data key from
        ``data_key_for``, then a signed access receipt."""
        record_id = head.record_id
        if not self.contracts.consent.can_access(self.address, record_id, purpose):
            why = self.contracts.consent.why_refused(
                head.patient, self.address, record_id, head.category, purpose
            )
            raise ConsentRequiredError(
                f"{self.address} has no active consent from {head.patient} to read record "
                f"0x{record_id.hex()} for {purpose.name.lower()} ({why}); ask the patient to "
                "grant it"
                + (
                    " (or open break-glass: it may have closed, expired or been found unjustified)"
                    if purpose is Purpose.EMERGENCY
                    else ""
                )
            )
        anchored = self.contracts.registry.version(record_id, version, head)
        envelope = self.ipfs.cat(anchored.cid_digest)
        data_key = data_key_for(head, anchored, envelope)
        context = self.contracts.record_context(head.patient, record_id, anchored.version)
        plaintext = open_envelope(envelope, data_key, context)
        self.receipts.record(head.patient, record_id, anchored.version, purpose)
        return opened_record(
            self.contracts, head, anchored, parse_resource(plaintext), untrusted, verifier
        )

    # ------------------------------------------------------------------ holding shares
    def release_backup_share(self, patient: str) -> bytes:
        """As a holder of ``patient``'s key backup, release my share to the new device named
        in the patient's open recovery request (only the patient's account opens one).
        Refused, with nothing stored or sent, when no request is open. Confirm with the
        patient out of band first: a stolen account could open a request too. Returns the
        release's digest on IPFS."""
        request = self.contracts.escrow.recovery(patient)
        if request is None or not request.open:
            raise NotAuthorizedError(
                f"{patient} has no open recovery request: a holder releases a share only when "
                "the patient asks (carechain keys recover start, from the patient's account)"
            )
        escrow = require_escrow(self.contracts, patient, EscrowKind.BACKUP)
        device = (KemSuite(request.kem_id), request.device_key)
        return release_share(
            self.contracts,
            self.ipfs,
            self.account,
            self.key_pair,
            escrow,
            request.request_id,
            device,
        )

    def release_emergency_share(self, patient: str, access_id: bytes) -> EmergencyRelease:
        """As an emergency institution, release my shares of the data keys of ``patient``'s
        records to the clinician of break-glass ``access_id`` — only while it is open, for
        that patient, by a clinician who is still a provider (checked here on the chain's
        state before anything is stored, and again by the contract). The clinician still
        needs the threshold of institutions, and learns the keys of records that exist now,
        nothing anchored later (release again, while it is open, for records anchored since).
        An institution never releases to a break-glass it opened itself: its own share would
        count towards the threshold. Returns what was released (and what was left out)."""
        escrow = require_escrow(self.contracts, patient, EscrowKind.EMERGENCY)
        access = self.contracts.consent.break_glass_by_id(access_id)
        clinician = access.clinician
        now = self.contracts.node.head_timestamp()
        if (
            access.patient != escrow.patient
            or access.expires_at <= now
            or not self.contracts.registry.has_role("provider", clinician)
        ):
            raise NotAuthorizedError(
                f"break-glass 0x{access_id.hex()} is not an open emergency access to "
                f"{escrow.patient}'s records (never opened, for another patient, closed, "
                "expired, found unjustified, or its clinician is no longer a provider): "
                "nothing released"
            )
        if clinician == self.address:
            raise NotAuthorizedError(
                f"break-glass 0x{access_id.hex()} is your own: an institution does not release "
                "to itself (its share would count towards the threshold); nothing released"
            )
        return release_emergency_shares(
            self.contracts,
            self.ipfs,
            self.account,
            self.key_pair,
            escrow,
            access_id,
            self.contracts.reader_key(clinician),
        )
