"""The hospital (provider) client: publish a key, anchor records, supersede, retract."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import date
from typing import Any

from .consent import permitted_readers
from .crypto import Recipient, RecordContext, encrypt_record
from .errors import (
    CarechainError,
    ChainError,
    InvalidRecordError,
    IPFSError,
    KeyNotFoundError,
    NotAuthorizedError,
)
from .fhir import Category, canonical_bytes, category_for, logical_id, parse_resource
from .fhir_claims import (
    build_claim,
    claim_amount,
    claim_codes,
    claim_patient,
    claim_service_date,
    codes_hash,
)
from .model import ClaimStatus, ProgressCallback, Purpose, new_record_id
from .records import Party, RecordRef, SealJob, seal_and_store, seal_and_store_many
from .unixfs import cid_from_digest

#: How many groups of a batch are encrypted and added to IPFS at once.
IPFS_PIPELINE = 4
#: Records per multipart IPFS add, and roughly the most FHIR bytes in one.
IPFS_GROUP = 25
IPFS_GROUP_BYTES = 1 << 20


def _groups(indices: list[int], plaintexts: list[bytes]) -> list[list[int]]:
    """Split a batch (record indices, in order) into groups of at most IPFS_GROUP records and
    about IPFS_GROUP_BYTES of plaintext (a single larger record is a group of its own)."""
    groups: list[list[int]] = []
    size = 0
    for index in indices:
        length = len(plaintexts[index])
        if not groups or len(groups[-1]) >= IPFS_GROUP or size + length > IPFS_GROUP_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(index)
        size += length
    return groups


class Hospital(Party):
    """A provider that writes records: everything it anchors is encrypted to the patient
    (and to itself, so it can read back and later re-share what it wrote)."""

    def _readers(
        self, patient: str, category: Category, record_id: bytes | None = None
    ) -> list[Recipient]:
        """Who a new record version is encrypted to: the patient, this hospital, the
        patient's emergency institutions if they are enrolled in emergency escrow (the data
        key split among them), and every grantee the patient's active consents let read it
        (so consent given before a record exists covers it). Grantees with no published key
        are skipped; they get keys when the patient next shares them."""
        readers: list[Recipient] = [
            self.contracts.reader_key(patient),
            (self.key_pair.suite, self.key_pair.public_key),
        ]
        emergency = self.contracts.emergency_shares(patient)  # None if not enrolled
        if emergency is not None:
            readers.append(emergency)
        consents = self.contracts.consent.consents(patient=patient)
        for grantee in sorted(permitted_readers(consents, record_id, int(category))):
            with contextlib.suppress(KeyNotFoundError):
                readers.append(self.contracts.reader_key(grantee))
        return readers

    def anchor_record(
        self, patient: str, resource: dict[str, Any], category: Category | None = None
    ) -> RecordRef:
        """Encrypt one FHIR record for ``patient``, store it on IPFS, anchor it on-chain."""
        return self.anchor_records([(patient, resource)], category=category)[0]

    def anchor_records(
        self,
        items: Sequence[tuple[str, dict[str, Any]]],
        batch_size: int = 100,
        category: Category | None = None,
        progress: ProgressCallback | None = None,
        idempotent: bool = False,
    ) -> list[RecordRef]:
        """Anchor many records, ``batch_size`` per transaction; ``progress(done, total)``
        is called as batches are anchored.

        Everything is checked first (FHIR validity, the sender's role, every patient's
        key), so bad input fails before anything is stored. Records are encrypted and added
        to IPFS in groups (one request each, several in flight), unpinned, and each batch is
        stored while the previous batch's transaction is being mined. Only once a batch's
        transaction is mined are its records pinned, with one pin for the whole batch
        (:meth:`IPFSClient.pin_together`): nothing is ever pinned without its anchor, even if
        the process is killed mid-batch (what was stored and not anchored is left unpinned,
        for Kubo's garbage collection). If a batch's transaction fails, the error is raised;
        batches anchored before it stay anchored (their refs are on the exception, as
        ``exc.anchored``).

        With ``idempotent``, each record's id is derived from the patient and the FHIR
        resource's logical id (``Type/id``) with a key only this hospital holds
        (:meth:`record_id_for`), so running the same ingest again — after a crash, a
        killed process or a lost receipt — anchors nothing twice: records already on-chain
        are returned with ``existing=True`` and nothing is sent for them (their content is
        pinned again, in case the earlier run was killed between anchoring and pinning).
        Every resource then needs an ``id``, and a changed resource is not re-anchored
        (supersede it).
        """
        registry = self.contracts.registry
        batch_size = max(1, min(batch_size, registry.max_batch))
        registry.require_provider(self.address)
        # Validate everything first (and keep the canonical bytes: validating is most of the
        # per-record cost, so it is done once).
        plaintexts = [canonical_bytes(r) for _, r in items]
        kinds = [category if category is not None else category_for(r) for _, r in items]
        record_ids = self._derived_ids(items) if idempotent else [new_record_id() for _ in items]
        results: list[RecordRef | None] = [None] * len(items)
        if idempotent:
            for index, anchored in enumerate(registry.exists_each(record_ids)):
                if anchored:
                    results[index] = self._existing_ref(record_ids[index])
            existing = [ref.digest for ref in results if ref is not None]
            if existing:
                self.ipfs.pin_together(existing)
        todo = [i for i, ref in enumerate(results) if ref is None]
        # Who may read depends only on (patient, category): look it up once per pair, not
        # once per record (each lookup is several RPC calls).
        readers: dict[tuple[str, Category], list[Recipient]] = {}
        for index in todo:
            pair = (items[index][0], kinds[index])
            if pair not in readers:
                readers[pair] = self._readers(*pair)

        refs: list[RecordRef] = []
        # A batch is stored as groups of up to IPFS_GROUP records (and about IPFS_GROUP_BYTES
        # of FHIR): each group is encrypted and added to IPFS in one multipart request, and
        # IPFS_PIPELINE groups are in flight at once (Kubo works in its own process while
        # Python encrypts the next group). A stored batch is anchored by a second executor
        # while the next batch is being stored; its transaction is awaited before the next
        # one is sent, so there is one anchoring transaction in flight at a time. Content is
        # stored unpinned and pinned (one pin per batch) only after its anchor is mined.
        batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        in_flight: tuple[list[int], list[Any], list[Any], Future[Any]] | None = None

        def settle(flight: tuple[list[int], list[Any], list[Any], Future[Any]]) -> None:
            """Wait for a batch's anchoring transaction, record its refs, pin its content."""
            chunk, pending, added, future = flight
            receipt = future.result()
            gas_each = int(receipt.gas_used) // len(pending)
            tx = _tx_hash(receipt)
            for i, item, content in zip(chunk, pending, added, strict=True):
                ref = RecordRef(
                    item.record_id, 1, item.patient, item.category, content.cid,
                    content.digest, tx, gas_each,
                )  # fmt: skip
                results[i] = ref
                refs.append(ref)
            self.ipfs.pin_together([content.digest for content in added])
            report(len(chunk))

        done = 0

        def report(count: int) -> None:
            nonlocal done
            done += count
            if progress is not None:
                progress(done, len(items))

        with (
            ThreadPoolExecutor(max_workers=IPFS_PIPELINE) as pool,
            ThreadPoolExecutor(max_workers=1) as sender,
        ):
            report(len(items) - len(todo))
            try:
                for chunk in batches:
                    futures = [
                        pool.submit(
                            seal_and_store_many,
                            self.contracts,
                            self.ipfs,
                            [
                                SealJob(
                                    items[i][0],
                                    record_ids[i],
                                    1,
                                    readers[(items[i][0], kinds[i])],
                                    kinds[i],
                                    plaintexts[i],
                                )
                                for i in group
                            ],
                            pin=False,
                        )
                        for group in _groups(chunk, plaintexts)
                    ]
                    wait(futures)
                    pending, added = [], []
                    for future in futures:  # the first failure, if any, is raised here
                        for item, content in future.result():
                            pending.append(item)
                            added.append(content)
                    if in_flight is not None:  # the previous batch's transaction
                        flight, in_flight = in_flight, None
                        settle(flight)
                    send = registry.anchor if len(pending) == 1 else registry.anchor_batch
                    anchor = pending[0] if len(pending) == 1 else pending
                    in_flight = (chunk, pending, added, sender.submit(send, self.account, anchor))
                if in_flight is not None:
                    flight, in_flight = in_flight, None
                    settle(flight)
            except (CarechainError, KeyboardInterrupt) as exc:  # Ctrl-C: the same clean-up
                if in_flight is not None and in_flight[3].exception() is None:
                    with contextlib.suppress(CarechainError):
                        settle(in_flight)  # it landed: its records are anchored, pin them
                exc.anchored = refs  # type: ignore[attr-defined]
                raise
        return [ref for ref in results if ref is not None]

    def record_id_for(self, patient: str, resource: dict[str, Any]) -> bytes:
        """The record id :meth:`anchor_records` uses with ``idempotent``: an HMAC, under a key
        derived from this hospital's private key, of the patient's address and the
        resource's ``Type/id``. The same resource gets the same id every time, but nobody
        without the key can tell which patient or resource an id stands for."""
        logical = logical_id(resource)
        if logical is None:
            raise InvalidRecordError(
                f"idempotent anchoring needs a FHIR id on every resource; this "
                f"{resource.get('resourceType', 'resource')} has none (give it one, or anchor "
                "without idempotent)"
            )
        message = f"{patient.lower()}\n{resource['resourceType']}/{logical}".encode()
        return hmac.new(self._secret(b"record-ids"), message, hashlib.sha256).digest()

    def _derived_ids(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[bytes]:
        """Every record's derived id; all or nothing: one resource without an id refuses
        the whole batch, naming it, before anything is stored."""
        missing = [i for i, (_, r) in enumerate(items) if logical_id(r) is None]
        if missing:
            named = ", ".join(
                f"item {i} ({items[i][1].get('resourceType', 'resource')})" for i in missing[:5]
            )
            raise InvalidRecordError(
                f"idempotent anchoring needs a FHIR id on every resource; {named} "
                f"{'has' if len(missing) == 1 else 'have'} none, so nothing was anchored "
                "(give each an id, or anchor with new ids)"
            )
        ids = [self.record_id_for(patient, resource) for patient, resource in items]
        seen: dict[bytes, int] = {}
        for index, record_id in enumerate(ids):
            if record_id in seen:
                _, resource = items[index]
                raise InvalidRecordError(
                    f"{resource['resourceType']}/{resource['id']} for the same patient is "
                    f"items {seen[record_id]} and {index} of this batch; anchor it once "
                    "(nothing was stored)"
                )
            seen[record_id] = index
        return ids

    def _existing_ref(self, record_id: bytes) -> RecordRef:
        """The first version of a record anchored before, as ``anchor_records`` returns it."""
        registry = self.contracts.registry
        head = registry.head(record_id)
        if head.author.lower() != self.address.lower():
            raise ChainError(
                f"record 0x{record_id.hex()} was anchored by {head.author}, not by this "
                "hospital; nothing was sent"
            )
        first = registry.version(record_id, 1, head=head)
        return RecordRef(
            record_id,
            1,
            head.patient,
            head.category,
            cid_from_digest(first.cid_digest),
            first.cid_digest,
            first.transaction,
            0,
            existing=True,
        )

    def _secret(self, purpose: bytes) -> bytes:
        """A key for ``purpose`` derived from this hospital's private key."""
        return hashlib.sha256(b"carechain/" + purpose + self.key_pair.private_bytes()).digest()

    def supersede_record(self, record_id: bytes, resource: dict[str, Any]) -> RecordRef:
        """Anchor a new version of a record this hospital wrote."""
        registry = self.contracts.registry
        head = registry.head(record_id)
        version = head.version + 1
        _, added = seal_and_store(
            self.contracts,
            self.ipfs,
            resource,
            head.patient,
            record_id,
            version,
            self._readers(head.patient, head.category, record_id),
            head.category,
        )
        try:
            receipt = registry.supersede(self.account, record_id, added.digest)
        except CarechainError:
            self._unpin([added.digest])
            raise
        return RecordRef(
            record_id,
            version,
            head.patient,
            head.category,
            added.cid,
            added.digest,
            _tx_hash(receipt),
            int(receipt.gas_used),
        )

    def rotate_record_key(self, record_id: bytes) -> RecordRef:
        """Re-key a record this hospital wrote: the same content as a new version under a
        fresh data key, encrypted only to the patient, this hospital and the grantees whose
        consent is active now. Revoked readers cannot open the new version."""
        current = self.read_record(record_id, untrusted="mark")  # re-keying is not reading
        return self.supersede_record(record_id, current.as_stored)

    def open_break_glass(self, patient: str, justification: str, duration: int = 3600) -> bytes:
        """Open time-boxed emergency access to a patient's records (always evented; an
        auditor reviews it). Returns the access id."""
        return self.contracts.consent.open_break_glass(
            self.account, patient, justification, duration
        )

    def submit_claim(
        self,
        policy_id: int,
        insurer: str,
        claim: dict[str, Any],
        record_ids: list[bytes],
        service_date: date | None = None,
    ) -> tuple[bytes, Any]:
        """Submit a FHIR Claim citing ``record_ids`` as evidence; returns (claim id, receipt).
        The day of service is the Claim's own (``item.servicedDate`` or ``billablePeriod``);
        ``service_date``, if given, must agree with it.

        The Claim is validated, encrypted to the insurer, the patient and this hospital, and
        stored on IPFS; the chain gets its digest, the amount, the service date and a keyed
        hash of the billing codes. The contract refuses it unless the patient's payment
        consent lets the insurer read every cited record."""
        if not record_ids:
            raise InvalidRecordError(
                "NoEvidence: a claim must cite at least one record the patient consented to "
                "share for payment; nothing was sent"
            )
        resource = parse_resource(claim)
        if resource["resourceType"] != "Claim":
            raise InvalidRecordError(f"expected a FHIR Claim, got {resource['resourceType']}")
        patient = claim_patient(resource)
        amount = claim_amount(resource)  # exact, or refused before anything is sent
        service_date = claim_service_date(resource, service_date)
        codes = codes_hash(self._secret(b"codes"), claim_codes(resource))
        day = service_date.toordinal() - date(1970, 1, 1).toordinal()
        claims = self.contracts.claims
        claim_id = claims.claim_id(policy_id, patient, self.address, day, codes)
        if claims.status(claim_id) is not ClaimStatus.NONE:
            raise ChainError(
                f"DuplicateClaim: this provider already claimed these codes for this patient on "
                f"{service_date.isoformat()} under policy {policy_id} (claim 0x{claim_id.hex()}); "
                "nothing was sent"
            )
        self._check_evidence(record_ids)
        context = RecordContext(self.contracts.chain_id, claims.address, patient, claim_id, 1)
        readers = [
            self.contracts.reader_key(insurer),
            self.contracts.reader_key(patient),
            (self.key_pair.suite, self.key_pair.public_key),
        ]
        added = self.ipfs.add(encrypt_record(canonical_bytes(resource), context, readers))
        request = (policy_id, patient, amount, day, codes, record_ids, added.digest)
        try:
            return claims.submit(self.account, request)
        except CarechainError:
            self._unpin([added.digest])
            raise

    def _check_evidence(self, record_ids: list[bytes]) -> None:
        """What the contract would refuse about the evidence, said before anything is stored:
        a retracted record, one this provider has no Treatment consent for (its care
        relationship), one that already backs a claim."""
        for record_id in record_ids:
            if self.contracts.registry.head(record_id).retracted:
                raise ChainError(
                    f"RetractedEvidence: record 0x{record_id.hex()} was retracted as entered in "
                    "error and cannot back a claim; nothing was sent"
                )
            if not self.contracts.consent.can_access(self.address, record_id, Purpose.TREATMENT):
                raise NotAuthorizedError(
                    f"NoCareRelationship: the patient has not consented to this provider "
                    f"treating them for record 0x{record_id.hex()}; a provider bills only for "
                    "records it may read for treatment (ask the patient to grant Treatment "
                    "consent); nothing was sent"
                )
            earlier = self.contracts.claims.evidence_claim(record_id)
            if earlier is not None:
                raise ChainError(
                    f"EvidenceAlreadyClaimed: record 0x{record_id.hex()} already backs claim "
                    f"0x{earlier.hex()} (a record backs at most one claim); nothing was sent"
                )

    def bill(
        self,
        policy_id: int,
        insurer: str,
        patient: str,
        items: list[tuple[str, str, int]],
        record_ids: list[bytes],
        service_date: date | None = None,
    ) -> tuple[bytes, Any]:
        """Build a FHIR Claim for ``items`` ((billing code, display, amount in token units))
        citing ``record_ids``, and submit it (see :meth:`submit_claim`). One service date
        (today by default) is used for both, so a call made around midnight cannot put
        different days in the Claim and on the chain."""
        day = service_date or date.today()
        claim = build_claim(patient, self.address, insurer, policy_id, day, items, list(record_ids))
        return self.submit_claim(policy_id, insurer, claim, list(record_ids), day)

    def retract_record(self, record_id: bytes, reason: str = "entered-in-error") -> Any:
        """Mark a record entered-in-error. Its history stays on-chain and readable."""
        return self.contracts.registry.retract(self.account, record_id, reason)

    def _unpin(self, digests: Iterable[bytes]) -> None:
        for digest in digests:
            # If the node is gone too, nothing anchored points at this content anyway.
            with contextlib.suppress(IPFSError):
                self.ipfs.unpin(digest)


def _tx_hash(receipt: Any) -> str:
    value = receipt.txn_hash
    return value if isinstance(value, str) else "0x" + bytes(value).hex()
