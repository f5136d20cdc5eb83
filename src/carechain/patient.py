"""The patient client: keys, records, consent (grant, deny, revoke, by signature,
guardians) and the audit trail of who read what."""

from __future__ import annotations

from typing import Any

from .consent import build_key_object
from .errors import CarechainError
from .model import (
    BreakGlassAccess,
    ClaimView,
    ConsentRecord,
    Purpose,
    RecordHead,
    RecordVersion,
    Scope,
    SignedConsent,
    SignedRevocation,
)
from .receipts import TrailEntry, audit_trail
from .records import Party


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
