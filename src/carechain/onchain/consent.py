"""The ConsentManager: grants, denials, guardians, EIP-712 signatures, break-glass."""

from __future__ import annotations

from typing import Any

from eth_abi import encode as abi_encode
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from ..model import (
    SIGNATURE_TTL,
    BreakGlassAccess,
    BreakGlassView,
    ConsentRecord,
    Purpose,
    Review,
    Scope,
    ScopeKind,
    SignedConsent,
    SignedRevocation,
    reason_code,
    utc_minutes,
)
from .contract import Contract, log_order
from .rpc import Node
from .signer import sign_typed


def typed_data(
    domain_name: str,
    contract: str,
    primary: str,
    fields: list[tuple[str, str]],
    message: dict[str, Any],
    chain_id: int,
) -> Any:
    """An EIP-712 message in carechain's domain shape (name, version 1, this chain, the
    verifying contract), ready to sign or to recover a signer from."""
    return encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                primary: [{"name": n, "type": t} for n, t in fields],
            },
            "primaryType": primary,
            "domain": {
                "name": domain_name,
                "version": "1",
                "chainId": chain_id,
                "verifyingContract": contract,
            },
            "message": message,
        }
    )


_GRANT_TYPES = [
    ("patient", "address"),
    ("grantee", "address"),
    ("kind", "uint8"),
    ("value", "bytes32"),
    ("purpose", "uint8"),
    ("start", "uint40"),
    ("end", "uint40"),
    ("deny", "bool"),
    ("keysDigest", "bytes32"),
    ("nonce", "uint256"),
    ("deadline", "uint256"),
]
_REVOKE_TYPES = [("grantId", "bytes32"), ("nonce", "uint256"), ("deadline", "uint256")]


class ConsentManager:
    """The ConsentManager contract: grants, denials, guardians, signatures, break-glass."""

    def __init__(self, node: Node, address: str, since: int = 0) -> None:
        self.contract = Contract(node, "ConsentManager", address, since)
        self.address = str(self.contract.address)

    # writes ------------------------------------------------------------------------
    def grant(
        self,
        sender: Any,
        grantee: str,
        scope: Scope,
        purpose: Purpose,
        end: int,
        keys_digest: bytes = bytes(32),
        patient: str | None = None,
        start: int = 0,
        deny: bool = False,
    ) -> tuple[bytes, Any]:
        """Create or replace a consent; returns its id and the receipt. ``patient`` defaults
        to the sender (a guardian passes the patient it acts for)."""
        owner = patient or str(sender.address)
        if end <= self.contract.node.head_timestamp():
            raise ValueError("a consent must end in the future")
        if start == 0 and not deny and owner == str(sender.address):
            receipt = self.contract.grant(
                grantee,
                int(scope.kind),
                scope.value,
                int(purpose),
                end,
                keys_digest,
                sender=sender,
            )
        else:
            request = (
                grantee,
                int(scope.kind),
                scope.value,
                int(purpose),
                start,
                end,
                deny,
                keys_digest,
            )
            receipt = self.contract.grantFor(owner, request, sender=sender)
        return self.grant_id(owner, grantee, scope, purpose), receipt

    def revoke(self, sender: Any, grant_id: bytes) -> Any:
        """Withdraw a consent (patient or guardian)."""
        return self.contract.revoke(grant_id, sender=sender)

    def appoint_guardian(self, patient: Any, guardian: str) -> Any:
        """Let ``guardian`` grant and revoke for ``patient``."""
        return self.contract.appointGuardian(guardian, sender=patient)

    def remove_guardian(self, patient: Any, guardian: str) -> Any:
        """Withdraw a guardian."""
        return self.contract.removeGuardian(guardian, sender=patient)

    def sign_grant(
        self,
        patient: Any,
        grantee: str,
        scope: Scope,
        purpose: Purpose,
        end: int,
        deadline: int | None = None,
        keys_digest: bytes = bytes(32),
    ) -> SignedConsent:
        """The patient signs a consent for a relayer to submit (no ETH needed). It can be
        relayed until ``deadline`` (default: SIGNATURE_TTL from now) and only while no other
        decision about the same consent has been made since it was signed."""
        deadline = deadline or self.contract.node.next_block_time() + SIGNATURE_TTL
        request = (grantee, int(scope.kind), scope.value, int(purpose), 0, end, False, keys_digest)
        nonce = self.signature_nonce(
            str(patient.address), self.grant_id(str(patient.address), grantee, scope, purpose)
        )
        message = dict(
            zip(
                [n for n, _ in _GRANT_TYPES],
                [str(patient.address), *request, nonce, deadline],
                strict=True,
            )
        )
        signature = self._sign(patient, "Grant", _GRANT_TYPES, message)
        return SignedConsent(str(patient.address), request, deadline, signature)

    def relay(self, relayer: Any, signed: SignedConsent) -> bytes:
        """Submit a patient's signed consent (anyone may); returns the consent id."""
        self.contract.grantBySig(
            signed.patient, signed.request, signed.deadline, signed.signature, sender=relayer
        )
        grantee, kind, value, purpose, *_ = signed.request
        return self.grant_id(
            signed.patient, grantee, Scope(ScopeKind(kind), value), Purpose(purpose)
        )

    def sign_revoke(
        self, patient: Any, grant_id: bytes, deadline: int | None = None
    ) -> SignedRevocation:
        """The patient signs the withdrawal of consent ``grant_id`` for a relayer to submit.
        A grant the patient signed earlier and someone relays first does not block it."""
        deadline = deadline or self.contract.node.next_block_time() + SIGNATURE_TTL
        nonce = self.signature_nonce(str(patient.address), grant_id)
        message = {"grantId": grant_id, "nonce": nonce, "deadline": deadline}
        signature = self._sign(patient, "Revoke", _REVOKE_TYPES, message)
        return SignedRevocation(str(patient.address), grant_id, deadline, signature)

    def relay_revoke(self, relayer: Any, signed: SignedRevocation) -> Any:
        """Submit a patient's signed revocation (anyone may)."""
        return self.contract.revokeBySig(
            signed.grant_id, signed.deadline, signed.signature, sender=relayer
        )

    def signature_nonce(self, patient: str, grant_id: bytes) -> int:
        """The nonce a signature of ``patient`` about consent ``grant_id`` carries now; every
        decision about that consent moves it on."""
        return int(self.contract.signatureNonce.call(patient, grant_id))

    def _sign(
        self, account: Any, primary: str, fields: list[tuple[str, str]], message: dict[str, Any]
    ) -> bytes:
        signable = typed_data(
            "carechain ConsentManager",
            self.address,
            primary,
            fields,
            message,
            self.contract.node.chain_id,
        )
        return sign_typed(account, signable)

    # reads -------------------------------------------------------------------------
    def grant_id(self, patient: str, grantee: str, scope: Scope, purpose: Purpose) -> bytes:
        """The id of the consent for this patient, grantee, scope and purpose."""
        return bytes(
            keccak(
                abi_encode(
                    ["address", "address", "uint8", "bytes32", "uint8"],
                    [patient, grantee, int(scope.kind), scope.value, int(purpose)],
                )
            )
        )

    def why_refused(
        self, patient: str, reader: str, record_id: bytes, category: Any, purpose: Purpose
    ) -> str:
        """Why ``reader`` may not read this record of ``patient`` for ``purpose`` now, in
        words: a live denial at the most specific scope that has one, else what the consents
        that once applied became (expired, revoked, not started yet), else none at all.
        (The chain's answer decides; this only explains it.)"""
        scopes = [
            ("this record", Scope.record(record_id)),
            (f"{category.name.lower().replace('_', ' ')} records", Scope.category(category)),
            ("all their records", Scope.all()),
        ]
        now = self.contract.node.head_timestamp()
        notes = []
        for label, scope in scopes:
            stored = self.contract.getConsent.call(self.grant_id(patient, reader, scope, purpose))
            start, end, deny = int(stored.start), int(stored.end), bool(stored.deny)
            if end == 0:  # never decided, or revoked (a revocation keeps the patient)
                if int(str(stored.patient), 16):
                    notes.append(f"the consent for {label} was revoked")
                continue
            if now >= end:
                notes.append(f"the consent for {label} expired at {utc_minutes(end)}")
            elif now < start:
                notes.append(f"the consent for {label} starts at {utc_minutes(start)}")
            elif deny:
                until = utc_minutes(end)
                return f"the patient denied {label} for {purpose.name.lower()} until {until}"
        if notes:
            return "; ".join(notes)
        return f"the patient has given no consent for {purpose.name.lower()}"

    def can_access(self, reader: str, record_id: bytes, purpose: Purpose) -> bool:
        """The chain's answer to "may ``reader`` read this record for ``purpose`` now?"."""
        return bool(self.contract.canAccess.call(reader, record_id, int(purpose)))

    def consents(
        self, patient: str | None = None, grantee: str | None = None
    ) -> list[ConsentRecord]:
        """Every consent of ``patient`` (and/or to ``grantee``), latest state first by block."""
        topics: dict[str, Any] = {}
        if patient:
            topics["patient"] = to_checksum_address(patient)
        if grantee:
            topics["grantee"] = to_checksum_address(grantee)
        latest: dict[bytes, tuple[Any, bool]] = {}
        for event, deny in (
            (self.contract.ConsentGranted, False),
            (self.contract.ConsentDenied, True),
        ):
            for log in self.contract.logs(event, topics):
                key = bytes(log.grantId)
                if key not in latest or log_order(log) > log_order(latest[key][0]):
                    latest[key] = (log, deny)
        now = self.contract.node.head_timestamp()
        out = []
        states = self.contract.getConsent.calls([(grant_id,) for grant_id in latest])
        for (grant_id, (log, deny)), stored in zip(latest.items(), states, strict=True):
            revoked = int(stored.end) == 0
            out.append(
                ConsentRecord(
                    grant_id=grant_id,
                    patient=str(log.patient),
                    grantee=str(log.grantee),
                    scope=Scope(ScopeKind(int(log.kind)), bytes(log.value)),
                    purpose=Purpose(int(log.purpose)),
                    start=int(stored.start) if not revoked else int(log.start),
                    end=int(stored.end) if not revoked else int(log.end),
                    deny=bool(stored.deny) if not revoked else deny,
                    keys_digest=bytes(log.keysDigest) if not deny else bytes(32),
                    active=not revoked and int(stored.start) <= now < int(stored.end),
                    revoked=revoked,
                    block=int(log.block_number),
                )
            )
        return sorted(out, key=lambda c: c.block)

    def open_break_glass(
        self, provider: Any, patient: str, justification: str, duration: int
    ) -> bytes:
        """An admitted provider opens time-boxed emergency access; returns its id. The
        justification is a reason code (``unconscious-in-ED``), never free text."""
        code = reason_code(justification)  # free text is refused before anything is sent
        receipt = self.contract.openBreakGlass(patient, code, duration, sender=provider)
        return bytes(receipt.decode_logs(self.contract.BreakGlassOpened)[0].accessId)

    def close_break_glass(self, sender: Any, access_id: bytes) -> Any:
        """End a break-glass access now (its patient, a guardian, its clinician or an
        auditor)."""
        return self.contract.closeBreakGlass(access_id, sender=sender)

    def break_glass_by_id(self, access_id: bytes) -> BreakGlassView:
        """A break-glass access (all zero if there is none with this id)."""
        stored = self.contract.getBreakGlass.call(access_id)
        return BreakGlassView(
            access_id,
            str(stored.clinician),
            str(stored.patient),
            int(stored.expiresAt),
            Review(int(stored.review)),
        )

    def review_break_glass(self, auditor: Any, access_id: bytes, justified: bool) -> Any:
        """An auditor marks a break-glass access justified or not."""
        return self.contract.reviewBreakGlass(access_id, justified, sender=auditor)

    def guardians(self, patient: str) -> list[str]:
        """The guardians ``patient`` has now (appointed and not removed), in appointment
        order."""
        topics = {"patient": to_checksum_address(patient)}
        named = {str(log.guardian): None for log in self.contract.logs(
            self.contract.GuardianAppointed, topics
        )}  # fmt: skip
        return [g for g in named if self.contract.isGuardian.call(patient, g)]

    def break_glass(
        self, patient: str | None = None, clinician: str | None = None
    ) -> list[BreakGlassAccess]:
        """Every break-glass access to ``patient``'s records (and/or by ``clinician``), oldest
        first, each with its state now: open or ended, and the auditor's review."""
        topics: dict[str, Any] = {}
        if patient:
            topics["patient"] = to_checksum_address(patient)
        if clinician:
            topics["clinician"] = to_checksum_address(clinician)
        now = self.contract.node.head_timestamp()
        out = []
        for log in self.contract.logs(self.contract.BreakGlassOpened, topics):
            stored = self.contract.getBreakGlass.call(bytes(log.accessId))
            out.append(
                BreakGlassAccess(
                    access_id=bytes(log.accessId),
                    patient=str(log.patient),
                    clinician=str(log.clinician),
                    justification=bytes(log.justification),
                    opened_block=int(log.block_number),
                    expires_at=int(stored.expiresAt),
                    review=Review(int(stored.review)),
                    open=int(stored.expiresAt) > now,
                )
            )
        return sorted(out, key=lambda access: access.opened_block)
