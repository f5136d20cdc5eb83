"""A deployed contract bound to a node: ``contract.hasRole(role, account)`` calls a view,
``contract.grant(..., sender=account)`` signs and sends, ``contract.RecordAnchored`` is an
event to query. A refusal comes back as the package's own exception, naming the contract's
custom error with its arguments as a person reads them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from ..errors import ChainError, NotAuthorizedError
from ..model import ROLES, TOKEN_DECIMALS, ClaimStatus, Review
from .abi import ContractABI, Event, Function, Log
from .rpc import Node, Receipt, Reverted

#: Role names by role id (the governor's role is DEFAULT_ADMIN_ROLE, zero).
_ROLE_NAMES = {value: name for name, value in ROLES.items()} | {bytes(32): "governor"}

#: Errors whose cause is a missing permission rather than bad data. Every contract reports a
#: missing role the one way, OpenZeppelin's AccessControlUnauthorizedAccount(account, role).
_PERMISSION_ERRORS = {
    "AccessControlUnauthorizedAccount",
    "NotRecordAuthor",
    "NotPolicyInsurer",
    "NotPartyToClaim",
    "NotPatientOrGuardian",
    "NoCareRelationship",
    "NotEvidenceAuthor",
    "CompanyPrefixNotYours",
    "GuardianOwnAccess",
    "PatientDecided",
    "BreakGlassBlocked",
    "NotSponsor",
}


def missing_role(account: Any, role: bytes) -> str:
    """Why ``account`` is refused a call that needs ``role``, and what to do."""
    role_name = _ROLE_NAMES.get(role, "0x" + role.hex())
    if role == bytes(32):
        return (
            f"{account} is not the governor (AccessControlUnauthorizedAccount): only the "
            "governor (the deploying account, or whoever it handed the role to) may do this"
        )
    return (
        f"{account} does not hold the {role_name} role (AccessControlUnauthorizedAccount); "
        f"the governor admits parties (carechain admin admit {role_name} <address>)"
    )


#: Error arguments in UTC days since 1970, in Unix seconds, and in settlement-token units.
_DAY_ARGS = frozenset({"serviceDate", "today"})
_TIME_ARGS = frozenset(
    {"closedAt", "closesAt", "deadline", "nowTime", "start", "end", "until"}
    # ClinicalTrials
    | {"enrolmentCloses", "endsAt", "resultsDue", "resultsAt", "anchoredAt", "enrolledAt"}
    | {"lastCounted"}
)
_TOKEN_ERRORS = frozenset({"InsufficientEscrow", "InvalidAmount", "RewardCapReached"})


#: IConsentManager.Review, as an auditor's verdict reads.
def show(value: Any, name: str = "", error: str = "") -> str:
    """An error argument as a person reads it: dates, not day numbers or Unix seconds;
    claim statuses by name; escrow amounts in tokens, not 6-decimal units."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int) and not isinstance(value, bool):
        if name in _DAY_ARGS and 0 <= value < 2_000_000:
            return (dt.date(1970, 1, 1) + dt.timedelta(days=value)).isoformat()
        if name in _TIME_ARGS and 0 < value < 2**40:
            moment = dt.datetime.fromtimestamp(value, dt.UTC)
            return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
        if name == "status" and error == "WrongStatus" and value in iter(ClaimStatus):
            return ClaimStatus(value).name.lower()
        if name == "review" and error == "BreakGlassBlocked" and value in iter(Review):
            return Review(value).words
        if error in _TOKEN_ERRORS and name != "trialId":
            return f"{value / 10**TOKEN_DECIMALS:,.2f} tokens"
    return str(value)


#: What a refusal a command-line user meets most means and what to do, in words; the custom
#: error and its arguments follow in brackets (the rest are shown as those alone).
_MEANINGS = {
    "NotPolicyInsurer": "only the insurer that issued the policy decides its claims: use "
    "that insurer's account",
    "WrongStatus": "the claim is not in a state that allows this any more (see carechain "
    "claims show)",
    "UnknownClaim": "no such claim: check the id (carechain claims list)",
    "UnknownConsent": "no such consent: check the id (carechain consent list)",
    "UnknownRecord": "no such record is anchored: check the id (carechain records list)",
    "UnknownPolicy": "no such policy: check the number with the insurer",
    "PolicyNotActive": "the policy does not cover that date (not started, or ended)",
    "NotPatientOrGuardian": "only the patient, or a guardian the patient appointed, may do "
    "this: use the patient's account",
    "NotRecordAuthor": "only the provider that anchored the record may change it",
    "ConsentRequired": "the patient has given no consent that covers this: ask them to "
    "grant one (carechain consent grant)",
    "NoCareRelationship": "the patient has given this provider no treatment consent: a "
    "provider bills only patients it treats",
    "NoPaymentConsent": "the patient has not consented to this insurer reading for "
    "payment: ask them to grant it (--purpose payment)",
    "RecordNotOfPatient": "a record cited is not this patient's",
    "EvidenceAlreadyClaimed": "a record cited already backs another claim",
    "RetractedEvidence": "a record cited was retracted by its author (entered in error)",
    "ServiceDateInFuture": "the service date is after today",
    "InsufficientEscrow": "the insurer's escrow holds too little: fund it (carechain claims fund)",
    "NothingOwed": "nothing is owed here",
    "DisputeWindowClosed": "the 14 days to dispute this denial are over",
    "DisputeWindowOpen": "the 14-day dispute window is still open: wait until it closes",
    "RecordIsRetracted": "the record was retracted by its author (entered in error)",
    "RecordOutsideScope": "the record is outside what the consent covers",
    "SignatureExpired": "the signed consent expired before it was sent: sign it again",
    "InvalidSignature": "the signature is not the patient's: sign with the patient's account",
    "NoKey": "the party has published no encryption key (carechain keys publish)",
    "UnknownTrial": "no such trial: check the number (carechain trials list)",
    "NotEnrolled": "the patient is not enrolled in this trial",
    "EnrolmentClosed": "the trial's enrolment is closed",
}


def describe(exc: Reverted) -> str:
    """A refusal as one line: what it means in words (for the common ones), then the custom
    error and its arguments, read as a person would."""
    name, inputs = exc.error_name, exc.inputs
    if name == "AccessControlUnauthorizedAccount" and len(inputs) == 2:
        account, role = inputs.values()
        return missing_role(account, bytes(role))
    if not name:
        return str(exc)
    detail = ", ".join(f"{k}={show(v, k, name)}" for k, v in inputs.items())
    meaning = _MEANINGS.get(name)
    return f"{meaning} ({name}({detail}))" if meaning else f"{name}({detail})"


def refusal(exc: Reverted) -> ChainError:
    """The package's exception for a refusal: :class:`NotAuthorizedError` for a missing
    permission, :class:`ChainError` for anything else."""
    error = NotAuthorizedError if exc.error_name in _PERMISSION_ERRORS else ChainError
    return error(f"the contract refused: {describe(exc)}")


class BoundFunction:
    """One function of a deployed contract."""

    def __init__(self, contract: Contract, function: Function) -> None:
        self.contract = contract
        self.function = function

    def __call__(self, *args: Any, sender: Any = None, gas: int | None = None) -> Any:
        """A view's result, or (with ``sender``) the receipt of a sent transaction."""
        if sender is None:
            if not self.function.view:
                raise TypeError(f"{self.function.name} changes state: pass sender=")
            return self.call(*args)
        return self.transact(sender, *args, gas=gas)

    def encode(self, *args: Any) -> bytes:
        """The call data."""
        return self.function.encode(*args)

    def call(self, *args: Any) -> Any:
        """Call it with ``eth_call`` (at the head); a revert raises the package's error."""
        try:
            raw = self.contract.node.call(self.contract.address, self.function.encode(*args))
        except Reverted as exc:
            raise refusal(exc) from exc
        return self.function.decode(raw)

    def calls(self, arguments: Sequence[Sequence[Any]]) -> list[Any]:
        """Call it once per argument tuple, batched into few requests."""
        data = [self.function.encode(*args) for args in arguments]
        try:
            raws = self.contract.node.calls(self.contract.address, data)
        except Reverted as exc:
            raise refusal(exc) from exc
        return [self.function.decode(raw) for raw in raws]

    def transact(self, sender: Any, *args: Any, gas: int | None = None) -> Receipt:
        """Sign and send it as ``sender``; refused before sending if the chain would refuse."""
        try:
            return self.contract.node.transact(
                sender, self.contract.address, self.function.encode(*args), gas
            )
        except Reverted as exc:
            raise refusal(exc) from exc


class Contract:
    """A contract by its ABI name and address, on ``node``."""

    def __init__(self, node: Node, name: str, address: str, since: int = 0) -> None:
        self.node = node
        self.abi = ContractABI(name, address)
        self.address = self.abi.address
        #: The block it was deployed in: no log of it is older, so queries start there.
        self.since = since
        #: A local index of its events (:class:`LogIndex`), if its deployment keeps one.
        self.index: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self.abi.events:
            return self.abi.events[name]
        return BoundFunction(self, self.abi.function(name))

    def logs(
        self,
        event: Event,
        search: dict[str, Any] | None = None,
        start: int | None = None,
        stop: int | str = "latest",
    ) -> list[Log]:
        """The logs of ``event`` from block ``start`` (by default the deployment's) to
        ``stop`` whose indexed arguments equal ``search``'s values, decoded, oldest first."""
        first = self.since if start is None else start
        source = self.index or self.node
        raws = source.logs(self.address, event.topics(search), first, stop)
        return [event.decode(raw) for raw in raws]


def log_order(log: Log) -> tuple[int, int]:
    """Where a log sits in the chain, for sorting."""
    return log.block_number, log.log_index
