"""Typed wrappers over the deployed contracts, and the deployment files that locate them.

An SDK object wraps each contract: it checks inputs before it sends a transaction, turns
reverts into the package's own exceptions, and returns domain objects built from event
logs rather than raw receipts. This is the only module that talks to Ape directly.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from ape import Project, chain, networks
from ape.exceptions import ContractLogicError, TransactionError
from eth_abi import encode as abi_encode
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from .crypto import KemSuite, RecordContext
from .errors import (
    ChainError,
    ConfigurationError,
    KeyNotFoundError,
    NotAuthorizedError,
    RecordNotFoundError,
)
from .fhir import Category
from .model import (
    INSURER_ROLE,
    LOCAL_CHAIN_IDS,
    ROLES,
    SIGNATURE_TTL,
    TOKEN_DECIMALS,
    AnchoredBatch,
    ClaimStatus,
    ClaimView,
    ConsentRecord,
    Deployment,
    PendingAnchor,
    PolicyTerms,
    ProgressCallback,
    Purpose,
    RecordHead,
    RecordVersion,
    Scope,
    ScopeKind,
    Segment,
    SignedConsent,
    SignedRevocation,
    StoredBatch,
    reason_code,
)
from .settings import PROJECT_ROOT

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
    "CompanyPrefixNotYours",
    "GuardianOwnAccess",
    "PatientDecided",
    "BreakGlassBlocked",
}

T = TypeVar("T")


def _project() -> Any:
    return Project(PROJECT_ROOT)


# --------------------------------------------------------------------------- deployments


def network_name() -> str:
    """The connected Ape network's name (``local``, ``sepolia-fork``...)."""
    return str(networks.provider.network.name)


def deployment_network() -> str:
    """The network whose deployment file applies: a fork (``sepolia-fork``) uses its
    upstream's (``sepolia``), since the contracts it holds are the upstream's."""
    return network_name().removesuffix("-fork")


def deploy(sender: Any, token: str | None = None) -> Deployment:
    """Deploy every carechain contract, with ``sender`` as governor. Claims settle in
    ``token`` (an ERC-20 address); without one, a test stablecoin is deployed (local
    chains only)."""
    project = _project()
    if token is not None:
        _require_settlement_token(project, token)
    registry = project.RecordRegistry.deploy(sender, sender=sender)
    keys = project.KeyDirectory.deploy(sender=sender)
    consent = project.ConsentManager.deploy(registry, sender=sender)
    access_log = project.AccessLog.deploy(sender=sender)
    if token is None:
        token = str(project.MockStablecoin.deploy(sender=sender).address)
    claims = project.ClaimsManager.deploy(registry, consent, token, sender=sender)
    trace = project.Traceability.deploy(registry, sender=sender)
    return Deployment(
        network=network_name(),
        chain_id=chain.chain_id,
        registry=str(registry.address),
        key_directory=str(keys.address),
        consent=str(consent.address),
        access_log=str(access_log.address),
        claims=str(claims.address),
        token=str(token),
        block=chain.blocks.height,
        trace=str(trace.address),
    )


def _require_settlement_token(project: Any, token: str) -> None:
    """Refuse, before anything is deployed, a token the ClaimsManager would refuse: amounts
    are uint64 token units, so carechain settles in a 6-decimal stablecoin (USDC-like)."""
    try:
        decimals = int(project.MockStablecoin.at(token).decimals())
    except Exception as exc:
        raise ConfigurationError(
            f"{token} does not answer decimals() like an ERC-20 token; claims settle in a "
            f"{TOKEN_DECIMALS}-decimal stablecoin (USDC-like): pass its address as the token"
        ) from exc
    if decimals != TOKEN_DECIMALS:
        raise ConfigurationError(
            f"the token at {token} has {decimals} decimals; carechain settles claims in a "
            f"{TOKEN_DECIMALS}-decimal stablecoin (USDC-like: amounts are 64-bit token units, "
            f"so {decimals} decimals would cap a claim at "
            f"{(2**64 - 1) / 10**decimals:,.2f} tokens)"
        )


#: Set while :func:`reverts_as_errors` translates a call's reverts.
_translating = threading.local()


def _quiet_revert_traces() -> None:
    """Ape's foundry provider prints a call trace ("reverted without message", the call
    tree) to stdout for every revert, before the error reaches the caller: a library must
    not print, and the error carechain raises already names the refusal. While a revert is
    being translated the trace is not shown (``CARECHAIN_DEBUG=1`` shows it, on stderr)."""
    from ape_ethereum.trace import Trace

    if getattr(Trace.show, "_carechain", False):
        return
    original = Trace.show

    @functools.wraps(original)
    def show(self: Any, verbose: bool = False, file: Any = None) -> None:
        if not getattr(_translating, "active", False):
            return original(self, verbose=verbose, file=file or sys.stdout)
        if os.environ.get("CARECHAIN_DEBUG") == "1":
            return original(self, verbose=verbose, file=sys.stderr)
        return None

    show._carechain = True  # type: ignore[attr-defined]
    Trace.show = show


@contextmanager
def reverts_as_errors() -> Iterator[None]:
    """Translate a contract revert into a :class:`ChainError` naming the custom error."""
    _quiet_revert_traces()
    outer = getattr(_translating, "active", False)
    _translating.active = True
    try:
        yield
    except ContractLogicError as exc:
        name = getattr(exc, "name", None) or exc.__class__.__name__
        inputs = getattr(exc, "inputs", None) or {}
        detail = ", ".join(f"{k}={_show(v, k, name)}" for k, v in inputs.items())
        message = f"the contract refused: {name}({detail})" if inputs else f"refused: {exc}"
        if name == "AccessControlUnauthorizedAccount" and len(inputs) == 2:
            account, role = inputs.values()
            message = "the contract refused: " + _missing_role(account, bytes(role))
        error = NotAuthorizedError if name in _PERMISSION_ERRORS else ChainError
        raise error(message) from exc
    except TransactionError as exc:
        raise ChainError(f"transaction failed: {exc}") from exc
    finally:
        _translating.active = outer


def _missing_role(account: Any, role: bytes) -> str:
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
_TIME_ARGS = frozenset({"closedAt", "closesAt", "deadline", "nowTime", "start", "end", "until"})
_TOKEN_ERRORS = frozenset({"InsufficientEscrow", "InvalidAmount"})
#: IConsentManager.Review, as an auditor's verdict reads.
_REVIEWS = ("pending review", "justified", "unjustified")


def _show(value: Any, name: str = "", error: str = "") -> str:
    """An error argument as a person reads it: dates, not day numbers or Unix seconds;
    claim statuses by name; escrow amounts in tokens, not 6-decimal units."""
    import datetime as dt

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
        if name == "review" and error == "BreakGlassBlocked" and 0 <= value < len(_REVIEWS):
            return _REVIEWS[value]
        if error in _TOKEN_ERRORS:
            return f"{value / 10**TOKEN_DECIMALS:,.2f} tokens"
    return str(value)


def _eth_call(method: Any, args: tuple[Any, ...]) -> list[Any]:
    """The ``eth_call`` parameters for ``method(*args)``, encoded by Ape."""
    call = {
        "to": str(method.contract.address),
        "data": HexBytes(method.encode_input(*args)).to_0x_hex(),
    }
    return [call, "latest"]


def _decoder(method: Any, arity: int) -> Any:
    """Ape's decoder of what ``method`` returns, for its overload taking ``arity`` inputs."""
    from ape.contracts.base import ContractCall

    [abi] = [a for a in method.abis if len(a.inputs) == arity]
    return ContractCall(abi, method.contract.address)


def _view(method: Any, *args: Any) -> Any:
    """Call a view function with one ``eth_call``, encoded and decoded by Ape but without
    its per-call overhead (a code-size lookup and a full transaction model: about 10 ms each
    on anvil, most of a read). Anything unusual (a revert, an overloaded name) goes through
    Ape's own call, so errors look the same either way."""
    try:
        # Straight to the provider: web3's validation middleware would first ask the node
        # for its chain id (a second round trip per call) to check a field we do not send.
        reply = chain.provider.web3.provider.make_request("eth_call", _eth_call(method, args))
        raw = HexBytes(reply["result"])  # KeyError on an error reply: Ape's call explains it
        return _decoder(method, len(args))._decode_returndata(raw)
    except Exception:
        return method(*args)


def _views(method: Any, calls: list[tuple[Any, ...]], chunk: int = 500) -> list[Any]:
    """Many calls of one view function, ``chunk`` at a time in one JSON-RPC batch request
    each, encoded and decoded as :func:`_view` does. Falls back to one :func:`_view` per
    call when the node or the provider refuses a batch, so results are the same."""
    if not calls:
        return []
    try:
        decoder = _decoder(method, len(calls[0]))
        out: list[Any] = []
        for start in range(0, len(calls), chunk):
            requests = [
                ("eth_call", _eth_call(method, args)) for args in calls[start : start + chunk]
            ]
            replies = chain.provider.web3.provider.make_batch_request(requests)
            if not isinstance(replies, list) or len(replies) != len(requests):
                raise ValueError("the node did not answer the batch call by call")
            out += [decoder._decode_returndata(HexBytes(r["result"])) for r in replies]
        return out
    except Exception:
        return [_view(method, *args) for args in calls]


def _logs(event: Any, search_topics: dict[str, Any] | None = None, start: int = 0) -> list[Any]:
    """The logs of a contract event from block ``start`` on, decoded by Ape, in one
    ``eth_getLogs`` (Ape's ``range`` also looks up the head block and the contract's
    creation first: several round trips per query). Falls back to ``range`` when the node
    refuses the query (a live node limiting block ranges, say)."""
    from ape import networks
    from ape.types import LogFilter

    try:
        address = str(event.contract.address)
        log_filter = LogFilter.from_event(
            event=event.abi, search_topics=search_topics or {}, addresses=[address]
        )
        query = {"address": address, "fromBlock": hex(start), "toBlock": "latest",
                 "topics": log_filter.topic_filter}  # fmt: skip
        raw = chain.provider.web3.eth.get_logs(query)  # type: ignore[arg-type]
        return list(networks.ecosystem.decode_logs(raw, event.abi))
    except Exception:
        return list(event.range(start, chain.blocks.height + 1, search_topics=search_topics))


def _transact(call: Callable[[], T]) -> T:
    _quick_receipts()
    with reverts_as_errors():
        return call()


#: The first pause while waiting for a receipt; it doubles up to web3's poll latency.
RECEIPT_FIRST_POLL = 0.002


def _quick_receipts() -> None:
    """Make the connected provider wait for receipts with short, growing pauses.

    Ape waits for every receipt with web3's ``wait_for_transaction_receipt``, which asks once
    and then sleeps ``poll_latency`` (0.1 s) between asks. A local anvil answers a send a
    moment before it has mined the transaction, so the first ask nearly always misses and
    every transaction cost 100 ms of sleep (anchoring 1,000 records in batches of 100 spent
    1 s of 2.2 s asleep). Here the pauses start at 2 ms and double up to the same ceiling,
    so a live node sees few extra requests. Installed once per web3 object."""
    eth = chain.provider.web3.eth
    if getattr(eth, "_carechain_quick_receipts", False):
        return
    eth.wait_for_transaction_receipt = functools.partial(_wait_for_receipt, eth)  # type: ignore[method-assign]
    eth._carechain_quick_receipts = True  # type: ignore[attr-defined]


def _wait_for_receipt(
    eth: Any, transaction_hash: Any, timeout: float = 120, poll_latency: float = 0.1
) -> Any:
    """web3's ``wait_for_transaction_receipt`` with pauses from RECEIPT_FIRST_POLL doubling
    to ``poll_latency``; raises web3's ``TimeExhausted`` after ``timeout`` seconds as it does."""
    from web3.exceptions import TimeExhausted, TransactionIndexingInProgress, TransactionNotFound

    deadline = time.monotonic() + timeout
    pause = RECEIPT_FIRST_POLL
    while True:
        try:
            return eth.get_transaction_receipt(transaction_hash)
        except (TransactionNotFound, TransactionIndexingInProgress):
            pass
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeExhausted(
                f"Transaction {HexBytes(transaction_hash).to_0x_hex()} is not in the chain "
                f"after {timeout} seconds"
            )
        time.sleep(min(pause, poll_latency, left))
        pause *= 2


# --------------------------------------------------------------------------- records


class Registry:
    """The RecordRegistry contract: roles and record anchors."""

    def __init__(self, address: str) -> None:
        self.contract = _project().RecordRegistry.at(address)
        self.address = str(self.contract.address)
        self.max_batch = int(self.contract.MAX_BATCH())

    # roles -------------------------------------------------------------------------
    def has_role(self, role: str, account: Any) -> bool:
        """Whether ``account`` holds ``role`` (provider, insurer or auditor)."""
        return bool(_view(self.contract.hasRole, ROLES[role], account))

    def has_role_id(self, role: bytes, account: Any) -> bool:
        """Whether ``account`` holds the role with this id (``bytes(32)``: the governor)."""
        return bool(_view(self.contract.hasRole, role, account))

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
        code = reason_code(reason)
        return _transact(lambda: self.contract.retract(record_id, code, sender=sender))

    # reads -------------------------------------------------------------------------
    def exists(self, record_id: bytes) -> bool:
        """Whether the record is anchored."""
        return bool(_view(self.contract.recordExists, record_id))

    def exists_each(self, record_ids: Sequence[bytes]) -> list[bool]:
        """Whether each record is anchored, asked in batched calls (for many records)."""
        return [bool(x) for x in _views(self.contract.recordExists, [(r,) for r in record_ids])]

    def head(self, record_id: bytes) -> RecordHead:
        """The stored head of a record; raises :class:`RecordNotFoundError` if unknown."""
        try:
            raw = _view(self.contract.getRecord, record_id)  # one call: reverts if unknown
        except ContractLogicError:
            if self.exists(record_id):
                raise
            raise RecordNotFoundError(
                f"no record 0x{record_id.hex()} is anchored in {self.address}"
            ) from None
        return RecordHead(
            record_id=record_id,
            patient=str(raw.patient),
            author=str(_view(self.contract.providerAddress, raw.authorId)),
            version=int(raw.version),
            category=Category(int(raw.category)),
            retracted=int(raw.status) == 2,
        )

    def versions(self, record_id: bytes) -> list[RecordVersion]:
        """Every anchored version of a record, oldest first."""
        logs = _logs(self.contract.RecordAnchored, {"recordId": record_id})
        return sorted((_version_from_log(log) for log in logs), key=lambda v: v.version)

    def version(
        self, record_id: bytes, version: int | None = None, head: RecordHead | None = None
    ) -> RecordVersion:
        """One version (the latest by default) of a record (pass its ``head`` if you have it:
        saves the lookup)."""
        head = head or self.head(record_id)
        wanted = head.version if version is None else version
        if not 1 <= wanted <= head.version:
            raise RecordNotFoundError(
                f"record 0x{record_id.hex()} has versions 1 to {head.version}, not {wanted}"
            )
        for item in self.versions(record_id):
            if item.version == wanted:
                return item
        raise RecordNotFoundError(f"record 0x{record_id.hex()} has no version {wanted}")

    def records_of(self, patient: str) -> list[RecordVersion]:
        """The latest anchored version of every record about ``patient``."""
        logs = _logs(self.contract.RecordAnchored, {"patient": to_checksum_address(patient)})
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
        transaction=_hex_hash(log.transaction_hash),
    )


def _hex_hash(value: Any) -> str:
    """A transaction or block hash as 0x-prefixed hex, whichever form the log carries."""
    if isinstance(value, str):
        return value if value.startswith("0x") else "0x" + value
    return "0x" + bytes(value).hex()


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
        commitment, version = _view(self.contract.keyCommitment, party, int(suite))
        if bytes(commitment) == bytes(32):
            raise KeyNotFoundError(
                f"{party} has no published {suite.name} key; they must publish one first "
                "(carechain keys publish)"
            )
        topics = {"party": to_checksum_address(party), "kemId": int(suite)}
        logs = _logs(self.contract.KeyPublished, topics)
        for log in logs:
            if int(log.keyVersion) != int(version):
                continue
            key = bytes(log.publicKey)
            expected = keccak(abi_encode(["uint16", "uint32", "bytes"], [int(suite), version, key]))
            if expected == bytes(commitment):
                return key
        raise KeyNotFoundError(f"no event matches {party}'s committed {suite.name} key")


# --------------------------------------------------------------------------- EIP-712


def typed_data(
    domain_name: str,
    contract: str,
    primary: str,
    fields: list[tuple[str, str]],
    message: dict[str, Any],
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
                "chainId": chain.chain_id,
                "verifyingContract": contract,
            },
            "message": message,
        }
    )


def sign_typed(account: Any, signable: Any) -> bytes:
    """An Ape account's 65-byte (r, s, v) signature over an EIP-712 message."""
    signature = account.sign_message(signable)
    # Ape may hand r and s back without their leading zero bytes (about 1 signature in 128);
    # the contract reads fixed 32-byte words, so pad them back.
    r, s = (bytes(part).rjust(32, b"\x00") for part in (signature.r, signature.s))
    return r + s + bytes([signature.v])


# --------------------------------------------------------------------------- consent


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

    def __init__(self, address: str) -> None:
        self.contract = _project().ConsentManager.at(address)
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
        if end <= chain.blocks.head.timestamp:
            raise ValueError("a consent must end in the future")
        if start == 0 and not deny and owner == str(sender.address):
            receipt = _transact(
                lambda: self.contract.grant(
                    grantee,
                    int(scope.kind),
                    scope.value,
                    int(purpose),
                    end,
                    keys_digest,
                    sender=sender,
                )
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
            receipt = _transact(lambda: self.contract.grantFor(owner, request, sender=sender))
        return self.grant_id(owner, grantee, scope, purpose), receipt

    def revoke(self, sender: Any, grant_id: bytes) -> Any:
        """Withdraw a consent (patient or guardian)."""
        return _transact(lambda: self.contract.revoke(grant_id, sender=sender))

    def appoint_guardian(self, patient: Any, guardian: str) -> Any:
        """Let ``guardian`` grant and revoke for ``patient``."""
        return _transact(lambda: self.contract.appointGuardian(guardian, sender=patient))

    def remove_guardian(self, patient: Any, guardian: str) -> Any:
        """Withdraw a guardian."""
        return _transact(lambda: self.contract.removeGuardian(guardian, sender=patient))

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
        deadline = deadline or _signature_deadline()
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
        _transact(
            lambda: self.contract.grantBySig(
                signed.patient, signed.request, signed.deadline, signed.signature, sender=relayer
            )
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
        deadline = deadline or _signature_deadline()
        nonce = self.signature_nonce(str(patient.address), grant_id)
        message = {"grantId": grant_id, "nonce": nonce, "deadline": deadline}
        signature = self._sign(patient, "Revoke", _REVOKE_TYPES, message)
        return SignedRevocation(str(patient.address), grant_id, deadline, signature)

    def relay_revoke(self, relayer: Any, signed: SignedRevocation) -> Any:
        """Submit a patient's signed revocation (anyone may)."""
        return _transact(
            lambda: self.contract.revokeBySig(
                signed.grant_id, signed.deadline, signed.signature, sender=relayer
            )
        )

    def signature_nonce(self, patient: str, grant_id: bytes) -> int:
        """The nonce a signature of ``patient`` about consent ``grant_id`` carries now; every
        decision about that consent moves it on."""
        return int(_view(self.contract.signatureNonce, patient, grant_id))

    def _sign(
        self, account: Any, primary: str, fields: list[tuple[str, str]], message: dict[str, Any]
    ) -> bytes:
        signable = typed_data("carechain ConsentManager", self.address, primary, fields, message)
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

    def can_access(self, reader: str, record_id: bytes, purpose: Purpose) -> bool:
        """The chain's answer to "may ``reader`` read this record for ``purpose`` now?"."""
        return bool(_view(self.contract.canAccess, reader, record_id, int(purpose)))

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
            for log in _logs(event, topics):
                key = bytes(log.grantId)
                if key not in latest or _log_order(log) > _log_order(latest[key][0]):
                    latest[key] = (log, deny)
        now = chain.blocks.head.timestamp
        out = []
        for grant_id, (log, deny) in latest.items():
            stored = _view(self.contract.getConsent, grant_id)
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
        receipt = _transact(
            lambda: self.contract.openBreakGlass(patient, code, duration, sender=provider)
        )
        return bytes(receipt.decode_logs(self.contract.BreakGlassOpened)[0].accessId)

    def close_break_glass(self, sender: Any, access_id: bytes) -> Any:
        """End a break-glass access now (its patient, a guardian, its clinician or an
        auditor)."""
        return _transact(lambda: self.contract.closeBreakGlass(access_id, sender=sender))

    def review_break_glass(self, auditor: Any, access_id: bytes, justified: bool) -> Any:
        """An auditor marks a break-glass access justified or not."""
        return _transact(
            lambda: self.contract.reviewBreakGlass(access_id, justified, sender=auditor)
        )


def next_block_time() -> int:
    """The time the next block will carry, at the earliest: the later of the wall clock and
    the last block's time (an idle anvil's last block can be minutes old, so a period
    counted from it could end before the transaction that starts it is mined)."""
    return max(int(time.time()), int(chain.blocks.head.timestamp))


def _signature_deadline() -> int:
    """SIGNATURE_TTL from the time the next block will carry."""
    return next_block_time() + SIGNATURE_TTL


def _log_order(log: Any) -> tuple[int, int]:
    return int(log.block_number), int(log.log_index)


# --------------------------------------------------------------------------- access log


class AccessLog:
    """The AccessLog contract: Merkle roots of signed access receipts, keyed by (reader,
    root)."""

    def __init__(self, address: str) -> None:
        self.contract = _project().AccessLog.at(address)
        self.address = str(self.contract.address)

    def anchor(
        self, reader: Any, patient: str, root: bytes, batch_digest: bytes, count: int
    ) -> Any:
        """Anchor one batch's root (the reader sends it; the batch is keyed by (reader,
        root), so a copy of the root anchored by anyone else never blocks it)."""
        return _transact(
            lambda: self.contract.anchorBatch(patient, root, batch_digest, count, sender=reader)
        )

    def batches(self, patient: str) -> list[AnchoredBatch]:
        """Every batch of receipts anchored under ``patient``, oldest first — by anyone: the
        audit trail checks who signed what."""
        logs = _logs(self.contract.AccessBatchAnchored, {"patient": to_checksum_address(patient)})
        return [
            AnchoredBatch(
                bytes(log.root),
                str(log.reader),
                str(log.patient),
                bytes(log.batchDigest),
                int(log.count),
                int(log.block_number),
            )
            for log in logs
        ]

    def batch(self, reader: str, root: bytes) -> StoredBatch | None:
        """The batch ``reader`` anchored under ``root``, or None."""
        stored = _view(self.contract.getBatch, to_checksum_address(reader), root)
        if int(stored.count) == 0:
            return None
        return StoredBatch(
            str(stored.reader), str(stored.patient), int(stored.count), int(stored.anchoredAt)
        )

    def verify(self, reader: str, root: bytes, receipt_digest: bytes, proof: list[bytes]) -> bool:
        """The chain's own check that the receipt with EIP-712 digest ``receipt_digest`` is
        in the batch ``reader`` anchored under ``root`` (the contract builds the leaf)."""
        return bool(
            _view(
                self.contract.verifyReceipt,
                to_checksum_address(reader),
                root,
                receipt_digest,
                proof,
            )
        )


# --------------------------------------------------------------------------- claims


class ClaimsManager:
    """The ClaimsManager contract and the token it settles in."""

    def __init__(self, address: str, token: str) -> None:
        project = _project()
        self.contract = project.ClaimsManager.at(address)
        self.address = str(self.contract.address)
        self.token = project.MockStablecoin.at(token)  # any ERC-20: only the standard ABI is used

    def balance_of(self, account: str) -> int:
        """Token balance of ``account``."""
        return int(self.token.balanceOf(account))

    def deposit(self, insurer: Any, amount: int) -> Any:
        """Move ``amount`` of the insurer's tokens into its escrow (approves first). Nothing is
        sent, not even the approval, unless ``insurer`` holds the insurer role and the tokens."""
        registry = _project().RecordRegistry.at(_view(self.contract.registry))
        if not _view(registry.hasRole, INSURER_ROLE, insurer.address):
            raise NotAuthorizedError(
                "refused before sending: " + _missing_role(insurer.address, INSURER_ROLE)
            )
        if self.balance_of(insurer.address) < amount:
            raise ValueError(f"{insurer.address} holds fewer than {amount} tokens")
        if int(self.token.allowance(insurer.address, self.address)) < amount:
            _transact(lambda: self.token.approve(self.address, amount, sender=insurer))
        return _transact(lambda: self.contract.deposit(amount, sender=insurer))

    def mint_test_tokens(self, sender: Any, to: str, amount: int) -> Any:
        """Mint ``amount`` of the test stablecoin to ``to``: a faucet for local development
        chains only (anvil's chain ids), where ``ape run deploy`` deployed a test token
        anyone may mint. A real token (USDC on a live network) is never minted."""
        chain_id = int(chain.chain_id)
        if chain_id not in LOCAL_CHAIN_IDS:
            raise ConfigurationError(
                f"the test-token faucet works only on a local development chain (chain ids "
                f"{sorted(LOCAL_CHAIN_IDS)}), not chain {chain_id}: buy or transfer the "
                "settlement token instead"
            )
        try:
            return _transact(lambda: self.token.mint(to, amount, sender=sender))
        except ChainError as exc:
            raise ChainError(
                f"the settlement token {self.token.address} cannot be minted here: it is not "
                f"the test stablecoin `ape run deploy` deploys ({exc})"
            ) from exc

    def withdraw(self, insurer: Any, amount: int) -> Any:
        """Take back escrow not reserved for approved claims."""
        return _transact(lambda: self.contract.withdraw(amount, sender=insurer))

    def escrow(self, insurer: str) -> tuple[int, int]:
        """(balance, reserved) of an insurer's escrow."""
        escrow = _view(self.contract.escrowOf, insurer)
        return int(escrow.balance), int(escrow.reserved)

    def issue_policy(self, insurer: Any, terms: PolicyTerms) -> int:
        """Issue a policy; returns its id."""
        receipt = _transact(lambda: self.contract.issuePolicy(terms.as_tuple(), sender=insurer))
        return int(receipt.decode_logs(self.contract.PolicyIssued)[0].policyId)

    def claim_id(
        self, policy_id: int, patient: str, provider: str, service_day: int, codes_hash: bytes
    ) -> bytes:
        """The id a claim gets (the contract's ``claimIdOf``): it binds the policy."""
        return bytes(
            _view(self.contract.claimIdOf, policy_id, patient, provider, service_day, codes_hash)
        )

    def status(self, claim_id: bytes) -> ClaimStatus:
        """Where a claim stands (``NONE`` if it was never submitted)."""
        return ClaimStatus(int(_view(self.contract.getClaim, claim_id).status))

    def evidence_claim(self, record_id: bytes) -> bytes | None:
        """The claim a record already backs, or None (a record backs at most one claim)."""
        claim_id = bytes(_view(self.contract.evidenceClaim, record_id))
        return None if claim_id == bytes(32) else claim_id

    def denial(self, claim_id: bytes) -> tuple[int, int]:
        """(reserved, disputable until) of a denial; (0, 0) once it is final."""
        reserved, until = _view(self.contract.denialOf, claim_id)
        return int(reserved), int(until)

    def finalize_denial(self, sender: Any, claim_id: bytes) -> Any:
        """End an undisputed denial after its window: its reserve returns to the insurer."""
        return _transact(lambda: self.contract.finalizeDenial(claim_id, sender=sender))

    def owed_to(self, provider: str) -> int:
        """Payments the token refused to deliver to ``provider``, waiting for it."""
        return int(_view(self.contract.owedTo, provider))

    def withdraw_owed(self, provider: Any, to: str) -> Any:
        """A provider collects its deferred payments to ``to``."""
        return _transact(lambda: self.contract.withdrawOwed(to, sender=provider))

    def submit(self, provider: Any, request: tuple) -> tuple[bytes, Any]:
        """Submit a claim request tuple; returns (claim id, receipt)."""
        receipt = _transact(lambda: self.contract.submitClaim(request, sender=provider))
        return bytes(receipt.decode_logs(self.contract.ClaimSubmitted)[0].claimId), receipt

    def approve(self, insurer: Any, claim_id: bytes, amount: int) -> Any:
        """Approve ``amount`` of a claim (shares computed on-chain)."""
        return _transact(lambda: self.contract.approveClaim(claim_id, amount, sender=insurer))

    def deny(self, insurer: Any, claim_id: bytes, reason: str) -> Any:
        """Deny a claim with a reason code (hashed on-chain)."""
        code = reason_code(reason)
        return _transact(lambda: self.contract.denyClaim(claim_id, code, sender=insurer))

    def settle(self, insurer: Any, claim_ids: list[bytes]) -> Any:
        """Pay approved claims from escrow in one transaction."""
        return _transact(lambda: self.contract.settle(claim_ids, sender=insurer))

    def dispute(self, party: Any, claim_id: bytes) -> Any:
        """The provider or patient disputes a denial within the window."""
        return _transact(lambda: self.contract.disputeClaim(claim_id, sender=party))

    def claims(self, **topics: Any) -> list[ClaimView]:
        """Claims filtered by event topics (``policyId=``, ``provider=``), oldest first."""
        logs = _logs(self.contract.ClaimSubmitted, topics)
        views = []
        for log in logs:
            stored = _view(self.contract.getClaim, bytes(log.claimId))
            views.append(
                ClaimView(
                    claim_id=bytes(log.claimId),
                    policy_id=int(log.policyId),
                    # ``log.provider`` is Ape's own attribute (the RPC provider object),
                    # hiding the event field of the same name
                    provider=str(log.event_arguments["provider"]),
                    amount=int(log.amount),
                    service_date=int(log.serviceDate),
                    record_ids=[bytes(r) for r in log.recordIds],
                    claim_digest=bytes(log.claimDigest),
                    status=ClaimStatus(int(stored.status)),
                    approved=int(stored.approved),
                    patient_share=int(stored.patientShare),
                    block=int(log.block_number),
                )
            )
        return views

    def settle_all(
        self,
        insurer: Any,
        claim_ids: list[bytes] | None = None,
        batch_size: int = 50,
        progress: ProgressCallback | None = None,
    ) -> tuple[list[Any], int, int]:
        """Pay approved claims (by default every approved claim of ``insurer``) in batches of
        ``batch_size``; ``progress(done, total)`` is called after each batch. Returns the
        receipts, how many claims were paid and the total paid (from the ``ClaimPaid``
        events)."""
        if claim_ids is None:
            views = self.claims_under(insurer=insurer.address)
            claim_ids = [v.claim_id for v in views if v.status is ClaimStatus.APPROVED]
        receipts = []
        for start in range(0, len(claim_ids), batch_size):
            batch = claim_ids[start : start + batch_size]
            receipts.append(self.settle(insurer, batch))
            if progress is not None:
                progress(start + len(batch), len(claim_ids))
        paid = [int(log.amount) for r in receipts for log in r.decode_logs(self.contract.ClaimPaid)]
        return receipts, len(paid), sum(paid)

    def claim(self, claim_id: bytes) -> ClaimView:
        """One claim by id; ``NotFoundError``-style ``ChainError`` if it was never submitted."""
        found = self.claims(claimId=claim_id)
        if not found:
            raise ChainError(f"UnknownClaim: no claim 0x{claim_id.hex()} was ever submitted")
        return found[0]

    def claims_under(
        self, insurer: str | None = None, patient: str | None = None
    ) -> list[ClaimView]:
        """Every claim against the policies of an insurer and/or patient, oldest first."""
        return [
            view
            for policy_id in self.policies(insurer=insurer, patient=patient)
            for view in self.claims(policyId=policy_id)
        ]

    def amount_owed(self, patient: str) -> int:
        """What ``patient`` owes providers (deductible and co-pay) on approved and paid claims."""
        owed = (ClaimStatus.APPROVED, ClaimStatus.PAID)
        return sum(v.patient_share for v in self.claims_under(patient=patient) if v.status in owed)

    def parties_of_policy(self, policy_id: int) -> tuple[str, str]:
        """(insurer, insured patient) of a policy."""
        insurer, terms, _ = self.contract.policy(policy_id)
        return str(insurer), str(terms[0])  # PolicyTerms.patient

    @property
    def decimals(self) -> int:
        """Decimals of the settlement token (6 for a USDC-like stablecoin)."""
        return int(self.token.decimals())

    def policies(self, insurer: str | None = None, patient: str | None = None) -> list[int]:
        """Ids of the policies of an insurer and/or patient."""
        topics = {}
        if insurer:
            topics["insurer"] = to_checksum_address(insurer)
        if patient:
            topics["patient"] = to_checksum_address(patient)
        logs = _logs(self.contract.PolicyIssued, topics)
        return [int(log.policyId) for log in logs]


# --------------------------------------------------------------------------- traceability


def _view_or_missing(method: Any, key: bytes, missing: str) -> Any:
    """A view that reverts for an unknown id, its revert as :class:`RecordNotFoundError`
    with ``missing`` (Ape cannot name the custom error of a reverted view call)."""
    try:
        return _view(method, key)
    except (ContractLogicError, TransactionError):
        raise RecordNotFoundError(missing) from None


def _unknown_batch(batch_id: bytes) -> str:
    return f"UnknownBatch: no batch 0x{batch_id.hex()} was registered (check the GTIN and lot)"


_ZERO_ADDRESS = "0x" + "00" * 20


def _company_prefix(prefix: str) -> tuple[int, int]:
    """A GS1 company prefix as the contract takes it: (its number, its digit count)."""
    if not (prefix.isascii() and prefix.isdigit() and 6 <= len(prefix) <= 12):
        raise ValueError(f"a GS1 company prefix is 6 to 12 digits, got {prefix!r}")
    return int(prefix), len(prefix)


class Traceability:
    """The Traceability contract: medicine batches (GS1) and medical devices (UDI)."""

    SERVICE_KINDS = ("maintenance", "calibration", "quality-check")

    def __init__(self, address: str) -> None:
        self.contract = _project().Traceability.at(address)
        self.address = str(self.contract.address)

    def assign_company_prefix(self, governor: Any, prefix: str, manufacturer: str) -> Any:
        """(Governor) Let ``manufacturer`` register GTINs and UDI-DIs whose GS1 company
        prefix is ``prefix`` (6 to 12 digits, leading zeros included); reassigns it if it
        was another's."""
        number, digits = _company_prefix(prefix)
        return _transact(
            lambda: self.contract.assignCompanyPrefix(number, digits, manufacturer, sender=governor)
        )

    def revoke_company_prefix(self, governor: Any, prefix: str) -> Any:
        """(Governor) Take a company prefix away (what was registered under it stays)."""
        number, digits = _company_prefix(prefix)
        return _transact(lambda: self.contract.revokeCompanyPrefix(number, digits, sender=governor))

    def company_prefix_of(self, gtin: int) -> tuple[str, str]:
        """(company prefix with its leading zeros, its manufacturer) for a GTIN or UDI-DI;
        ("", "") if no assigned prefix covers it."""
        prefix, digits, owner = _view(self.contract.companyPrefixOf, gtin)
        if not int(digits):
            return "", ""
        return str(int(prefix)).rjust(int(digits), "0"), str(owner)

    def max_segments(self) -> int:
        """How many segments a batch may be split into (MAX_SEGMENTS)."""
        return int(_view(self.contract.MAX_SEGMENTS))

    def register_batch(
        self,
        manufacturer: Any,
        gtin: int,
        lot: bytes,
        expiry: int,
        first: int,
        last: int,
        doc_digest: bytes,
    ) -> tuple[bytes, Any]:
        """Register a batch; returns (batch id, receipt)."""
        receipt = _transact(
            lambda: self.contract.registerBatch(
                gtin, lot, expiry, first, last, doc_digest, sender=manufacturer
            )
        )
        return bytes(receipt.decode_logs(self.contract.BatchRegistered)[0].batchId), receipt

    def offer(
        self, holder: Any, batch_id: bytes, segment: int, first: int, last: int, to: str
    ) -> Any:
        """Offer serials first..last of one of the holder's segments to ``to``."""
        return _transact(
            lambda: self.contract.offer(batch_id, segment, first, last, to, sender=holder)
        )

    def accept(self, receiver: Any, batch_id: bytes, segment: int) -> Any:
        """Accept a range offered to ``receiver``."""
        return _transact(lambda: self.contract.accept(batch_id, segment, sender=receiver))

    def cancel_offer(self, party: Any, batch_id: bytes, segment: int) -> Any:
        """Withdraw (holder) or decline (receiver) an offer."""
        return _transact(lambda: self.contract.cancelOffer(batch_id, segment, sender=party))

    def dispense(self, dispenser: Any, batch_id: bytes, segment: int, serial: int) -> Any:
        """Dispense one unit (no patient is named)."""
        return _transact(
            lambda: self.contract.dispense(batch_id, segment, serial, sender=dispenser)
        )

    def recall(self, party: Any, batch_id: bytes, reason: str) -> Any:
        """Recall a batch (its manufacturer or a regulator); the reason is hashed."""
        return _transact(lambda: self.contract.recall(batch_id, keccak(text=reason), sender=party))

    def batch_id(self, gtin: int, lot: bytes) -> bytes:
        """keccak256(gtin, lot), as the contract computes it."""
        return bytes(keccak(abi_encode(["uint64", "bytes20"], [gtin, lot])))

    def batch(self, batch_id: bytes) -> Any:
        """The stored batch (manufacturer, expiry, recalled, gtin, serial range)."""
        return _view_or_missing(self.contract.getBatch, batch_id, _unknown_batch(batch_id))

    def segments(self, batch_id: bytes) -> list[Segment]:
        """Every segment of a batch, in index order (the index is what offer, accept and
        dispense take)."""
        raw = _view_or_missing(self.contract.segments, batch_id, _unknown_batch(batch_id))
        segments = []
        for s in raw:
            offered = str(s.pendingTo).lower() != _ZERO_ADDRESS
            segments.append(
                Segment(
                    holder=str(s.holder),
                    first=int(s.firstSerial),
                    last=int(s.lastSerial),
                    offered_to=str(s.pendingTo) if offered else "",
                    offered_first=int(s.offeredFirst) if offered else 0,
                    offered_last=int(s.offeredLast) if offered else 0,
                )
            )
        return segments

    def verify(self, gtin: int, lot: bytes, serial: int) -> tuple:
        """(genuine, holder, offered to, recalled, dispensed, expired) for one unit."""
        return tuple(_view(self.contract.verify, gtin, lot, serial))

    def events(self, batch_id: bytes) -> list[Any]:
        """Every event of a batch (registration, transfers, dispensing, recall), in order."""
        logs = []
        for event in (
            self.contract.BatchRegistered,
            self.contract.TransferOffered,
            self.contract.TransferAccepted,
            self.contract.TransferCancelled,
            self.contract.Dispensed,
            self.contract.BatchRecalled,
        ):
            logs += _logs(event, {"batchId": batch_id})
        return sorted(logs, key=_log_order)

    def register_device(
        self, manufacturer: Any, di: int, production: bytes, doc_digest: bytes
    ) -> tuple[bytes, Any]:
        """Register a device by its UDI-DI and the keccak256 of its production identifiers;
        returns (device id, receipt)."""
        receipt = _transact(
            lambda: self.contract.registerDevice(di, production, doc_digest, sender=manufacturer)
        )
        return bytes(receipt.decode_logs(self.contract.DeviceRegistered)[0].deviceId), receipt

    @staticmethod
    def device_id(di: int, production: bytes) -> bytes:
        """keccak256(di, production), as the contract computes it."""
        return bytes(keccak(abi_encode(["uint64", "bytes32"], [di, production])))

    def assign_device(self, party: Any, device_id: bytes, hospital: str) -> Any:
        """Assign a device to a hospital."""
        return _transact(lambda: self.contract.assignDevice(device_id, hospital, sender=party))

    def log_service(
        self, party: Any, device_id: bytes, kind: str, passed: bool, report_digest: bytes
    ) -> Any:
        """Log maintenance, a calibration or a quality check."""
        if kind not in self.SERVICE_KINDS:
            raise ValueError(f"unknown service kind {kind!r}; choose one of {self.SERVICE_KINDS}")
        code = self.SERVICE_KINDS.index(kind)
        return _transact(
            lambda: self.contract.logService(device_id, code, passed, report_digest, sender=party)
        )

    def decommission(self, party: Any, device_id: bytes, reason: str) -> Any:
        """Take a device out of service for good."""
        return _transact(
            lambda: self.contract.decommission(device_id, keccak(text=reason), sender=party)
        )

    def device(self, device_id: bytes) -> Any:
        """The stored device (manufacturer, status, services, holder)."""
        return _view_or_missing(
            self.contract.getDevice,
            device_id,
            f"UnknownDevice: no device 0x{device_id.hex()} was registered (check the UDI)",
        )

    def device_events(self, device_id: bytes) -> list[Any]:
        """A device's whole history, oldest first."""
        logs = []
        for event in (
            self.contract.DeviceRegistered,
            self.contract.DeviceAssigned,
            self.contract.DeviceServiced,
            self.contract.DeviceDecommissioned,
        ):
            logs += _logs(event, {"deviceId": device_id})
        return sorted(logs, key=_log_order)


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
        self.consent = ConsentManager(deployment.consent)
        self.access_log = AccessLog(deployment.access_log)
        self.claims = ClaimsManager(deployment.claims, deployment.token)
        self.trace = Traceability(deployment.trace) if deployment.trace else None

    @property
    def chain_id(self) -> int:
        """The chain these contracts live on."""
        return self.deployment.chain_id

    def record_context(self, patient: str, record_id: bytes, version: int) -> RecordContext:
        """The context a record version's ciphertext is bound to."""
        return RecordContext(self.chain_id, self.registry.address, patient, record_id, version)

    def reader_key(self, party: str) -> tuple[KemSuite, bytes]:
        """The key to wrap data keys to for ``party``: the post-quantum hybrid if published."""
        for suite in (KemSuite.MLKEM768_X25519, KemSuite.X25519):
            try:
                return suite, self.keys.public_key(party, suite)
            except KeyNotFoundError:
                continue
        raise KeyNotFoundError(
            f"{party} has not published an encryption key, so nothing can be encrypted to "
            "them; they must publish one first (Party.publish_key / carechain keys publish)"
        )

    @classmethod
    def load(cls, network: str | None = None) -> Contracts:
        """The deployment recorded for ``network`` (the connected one by default)."""
        return cls(Deployment.load(network or deployment_network()))
