"""The patient client: keys, records, consent (grant, deny, revoke, by signature,
guardians) and the audit trail of who read what."""

from __future__ import annotations

import logging
from typing import Any

from .consent import build_key_object
from .crypto import KeyPair
from .errors import CarechainError, ConfigurationError
from .escrow import (
    RECOVERY_TTL,
    create_emergency_escrow,
    create_escrow,
    emergency_recipient,
    rebuild_key,
    require_escrow,
)
from .model import (
    BreakGlassAccess,
    ClaimView,
    ConsentRecord,
    EscrowKind,
    EscrowView,
    Purpose,
    RecordHead,
    RecordVersion,
    RecoveryRequest,
    Scope,
    ShareRelease,
    SignedConsent,
    SignedRevocation,
)
from .receipts import TrailEntry, audit_trail
from .records import Party

log = logging.getLogger(__name__)


class Patient(Party):
    """A patient: any address, no role needed. Holds the key pair that opens their records
    (``read_record``, inherited) and decides who else may."""

    def list_records(self) -> list[tuple[RecordHead, RecordVersion]]:
        """Every record about this patient, from the chain's events: head and latest version."""
        registry = self.contracts.registry
        versions = registry.records_of(self.address)
        heads = registry.heads([v.record_id for v in versions])
        return list(zip(heads, versions, strict=True))

    def _share_keys(self, grantee: str, scope: Scope) -> bytes:
        """Publish the data keys of my records in ``scope``, wrapped to ``grantee``."""
        heads = [
            head for head, _ in self.list_records() if scope.covers(head.record_id, head.category)
        ]
        if not heads:
            return bytes(32)
        grantee_key = self.contracts.reader_key(grantee)
        key_object = build_key_object(self.contracts, self.ipfs, self.key_pair, heads, grantee_key)
        return self.ipfs.add(key_object).digest

    def grant_access(
        self, grantee: str, scope: Scope, purpose: Purpose, until: int, share_keys: bool = True
    ) -> tuple[bytes, Any]:
        """Let ``grantee`` read my records in ``scope`` for ``purpose`` until ``until`` (unix
        time). With ``share_keys``, the data keys of the records already in scope are wrapped
        to the grantee's published key and published on IPFS first; records anchored later
        in scope are encrypted to the grantee by their authors. Returns (grant id, receipt).
        """
        keys_digest = self._share_keys(grantee, scope) if share_keys else bytes(32)
        try:
            return self.contracts.consent.grant(
                self.account, grantee, scope, purpose, until, keys_digest=keys_digest
            )
        except (CarechainError, ValueError):
            if keys_digest != bytes(32):
                self.ipfs.unpin(keys_digest)  # refused: leave nothing behind
            raise

    def deny_access(self, grantee: str, scope: Scope, purpose: Purpose, until: int) -> bytes:
        """Deny a narrower scope inside a wider grant (e.g. everything but mental health)."""
        grant_id, _ = self.contracts.consent.grant(
            self.account, grantee, scope, purpose, until, deny=True
        )
        return grant_id

    def revoke_access(self, grant_id: bytes) -> Any:
        """Withdraw a consent. Future reads are refused and new versions are not shared; what
        the grantee already decrypted cannot be taken back (ask the author to re-key)."""
        return self.contracts.consent.revoke(self.account, grant_id)

    def sign_access(
        self,
        grantee: str,
        scope: Scope,
        purpose: Purpose,
        until: int,
        deadline: int | None = None,
    ) -> SignedConsent:
        """Sign a consent for a relayer to submit, so the patient needs no ETH. The key
        object is published on IPFS first (that needs no ETH either). It can be relayed
        until ``deadline`` (default: an hour from now), and not after any later decision of
        mine about the same consent."""
        keys_digest = self._share_keys(grantee, scope)
        return self.contracts.consent.sign_grant(
            self.account, grantee, scope, purpose, until, deadline, keys_digest
        )

    def sign_revocation(self, grant_id: bytes, deadline: int | None = None) -> SignedRevocation:
        """Sign the withdrawal of a consent for a relayer to submit (no ETH needed)."""
        return self.contracts.consent.sign_revoke(self.account, grant_id, deadline)

    def close_break_glass(self, access_id: bytes) -> Any:
        """End a clinician's emergency access to my records now."""
        return self.contracts.consent.close_break_glass(self.account, access_id)

    def break_glass_accesses(self) -> list[BreakGlassAccess]:
        """Every emergency (break-glass) access a clinician opened to my records, oldest
        first: who, why (the reason code's hash), until when, the auditor's review."""
        return self.contracts.consent.break_glass(patient=self.address)

    def appoint_guardian(self, guardian: str) -> Any:
        """Let ``guardian`` grant and revoke on my behalf."""
        return self.contracts.consent.appoint_guardian(self.account, guardian)

    def remove_guardian(self, guardian: str) -> Any:
        """Withdraw a guardian."""
        return self.contracts.consent.remove_guardian(self.account, guardian)

    def guardians(self) -> list[str]:
        """Who may grant and revoke on my behalf now."""
        return self.contracts.consent.guardians(self.address)

    def consents(self) -> list[ConsentRecord]:
        """Every consent I gave or denied, with whether it is active now."""
        return self.contracts.consent.consents(patient=self.address)

    def claims(self) -> list[ClaimView]:
        """Every claim made against my policies, with where it stands."""
        return self.contracts.claims.claims_under(patient=self.address)

    def amount_owed(self) -> int:
        """What I owe providers (deductible and co-pay) on approved and paid claims."""
        return self.contracts.claims.amount_owed(self.address)

    def audit_trail(self) -> list[TrailEntry]:
        """Every anchored read of my records, each receipt's signature and Merkle inclusion
        verified against the anchored root; what cannot be verified (junk anyone anchored
        under my address, copied receipts) is listed flagged (``entry.problem``), never
        raised."""
        return audit_trail(self.contracts, self.ipfs, self.address, self.key_pair)

    # ------------------------------------------------------------------ key backup

    def back_up_key(self, holders: list[str], threshold: int) -> EscrowView:
        """Split my record key into shares, one per holder (``threshold`` of them rebuild it),
        each sealed to the holder's published key; guardians, relatives, a GP or the address
        of a second device can hold one. Calling it again re-shares (say, to replace a
        holder) without recovering: the earlier shares are never released again through the
        contract (holders who kept them could still combine them outside it: rotate the key
        if that matters). The key backed up must be the one I published."""
        published = self.contracts.reader_key(self.address)
        if published != (self.key_pair.suite, self.key_pair.public_key):
            raise ConfigurationError(
                "this key pair is not the one you published: publish it first (carechain keys "
                "publish), or load the key file you published"
            )
        return create_escrow(
            self.contracts,
            self.ipfs,
            self.account,
            EscrowKind.BACKUP,
            self.key_pair,
            holders,
            threshold,
        )

    def request_recovery(self, duration: int = RECOVERY_TTL) -> bytes:
        """On a new device (this client's key pair is the device's fresh one), ask the
        holders of my backup for their shares, sealed to this device's key. My account (its
        Ethereum key, not the lost record key) authorises it. Returns the request id."""
        require_escrow(self.contracts, self.address, EscrowKind.BACKUP)
        pair = self.key_pair
        return self.contracts.escrow.open_recovery(
            self.account, int(pair.suite), pair.public_key, duration
        )

    def recovery_request(self) -> RecoveryRequest | None:
        """My latest recovery request, and whether it is open."""
        return self.contracts.escrow.recovery(self.address)

    def recover_key(self) -> KeyPair:
        """Rebuild my lost record key from the shares holders released to this device for
        my open request, each checked against its on-chain commitment (a forged or wrong share
        is left out and named). Raises :class:`RecoveryError` with fewer good shares than the
        threshold."""
        request = self.recovery_request()
        if request is None or not request.open:
            raise ConfigurationError(
                "no open recovery request: start one (carechain keys recover start)"
            )
        if request.device_key != self.key_pair.public_key:
            raise ConfigurationError(
                "the open recovery request names another device's key: load that device's key "
                "file, or start a new request from this one"
            )
        escrow = require_escrow(self.contracts, self.address, EscrowKind.BACKUP)
        return rebuild_key(self.contracts, self.ipfs, self.key_pair, escrow, request.request_id)

    def rotate_key(self, old_keys: KeyPair) -> bytes:
        """Make this client's key pair my record key, after a recovery (or whenever the old
        one may be exposed): the data keys of every version of my records are re-wrapped to
        it and published (IPFS, digest on-chain) before the new key is published, which
        replaces the old one in the directory (a different KEM's old key is revoked). New
        records are then encrypted to the new key; back it up again (:meth:`back_up_key`).
        Returns the digest of the re-wrapped keys."""
        new = self.key_pair
        heads = [head for head, _ in self.list_records()]
        key_object = build_key_object(
            self.contracts, self.ipfs, old_keys, heads, (new.suite, new.public_key)
        )
        added = self.ipfs.add(key_object)
        try:
            self.contracts.escrow.record_rewrap(self.account, added.digest)
        except (CarechainError, ValueError):
            self.ipfs.unpin(added.digest)
            raise
        self.contracts.keys.publish(self.account, new.suite, new.public_key)
        if old_keys.suite is not new.suite:
            self.contracts.keys.revoke(self.account, old_keys.suite)
        return added.digest

    def close_recovery(self) -> object:
        """End my open recovery request (when done, or when I did not ask for it)."""
        return self.contracts.escrow.close_recovery(self.account)

    # ------------------------------------------------------------------ emergency escrow

    def enroll_emergency(self, institutions: list[str], threshold: int) -> EscrowView:
        """Let emergency clinicians open my records during an open break-glass: the data key
        of each of my records so far is split among emergency institutions the governor
        admitted (``threshold`` of them needed), each share encrypted to its institution, and
        hospitals split new records' keys the same way. No key exists that opens them all:
        during a break-glass the institutions release shares of the records that exist then,
        to that clinician only. Calling it again replaces the institutions: every record so
        far is split among the new ones too."""
        holders, recipient = emergency_recipient(
            self.contracts, self.address, institutions, threshold
        )  # every check first: nothing is stored for a refused enrolment
        heads = [head for head, _ in self.list_records()]
        skipped: list[str] = []  # records that cannot be read (junk anyone may anchor)
        key_object = build_key_object(
            self.contracts, self.ipfs, self.key_pair, heads, recipient, skipped
        )
        for problem in skipped:
            log.warning("emergency enrolment: left out %s", problem)
        keys = self.ipfs.add(key_object)
        try:
            return create_emergency_escrow(
                self.contracts, self.account, holders, threshold, keys.digest
            )
        except (CarechainError, ValueError):
            self.ipfs.unpin(keys.digest)
            raise

    def opt_out_emergency(self) -> object:
        """Opt out of emergency escrow: institutions release nothing more, hospitals stop
        splitting new records' keys among them. Break-glass then only authorises (the
        author hospital can still serve an emergency from what it wrote)."""
        return self.contracts.escrow.remove(self.account, EscrowKind.EMERGENCY)

    def emergency_releases(self) -> list[ShareRelease]:
        """Every release of an institution's shares of my records' keys, and for which
        break-glass (the access id): my trail of emergency openings, beside
        ``audit_trail``'s receipts."""
        return self.contracts.escrow.releases(self.address, EscrowKind.EMERGENCY)
