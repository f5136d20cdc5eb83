"""The worker's loop: follow the chain, judge new claims by the rules, send decisions and
settlements through the outbox, and keep the journal's claims true to the chain."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from ..errors import CarechainError, ConfigurationError, IPFSUnavailableError
from ..fhir_claims import claim_codes
from ..insurer import Insurer
from ..model import ClaimStatus, ClaimView
from ..onchain.contract import BoundFunction
from ..onchain.signer import as_signer
from .journal import LIVE_TX_STATES, OPEN_STATES, RECEIPT_ATTEMPTS, STATE_OF, Journal
from .outbox import Outbox, hex_of, is_connection_error
from .rules import Decision, Rules

log = logging.getLogger("carechain.worker")

#: How many scanned block hashes are kept to find where a reorg forked.
REORG_WINDOW = 128
#: How many claims' evidence is read at once while deciding.
JUDGES = 8
#: The most decisions estimated, written and sent together.
SEND_BATCH = 100

#: What each decision becomes once its transaction is final, and what it was before.
_AFTER = {"approve": "approved", "deny": "denied", "settle": "paid"}
_BEFORE = {"approve": "approve", "deny": "deny", "settle": "approved"}


@dataclass
class StepResult:
    """What one step did (for logs, tests and the idle check)."""

    scanned: int = 0
    decided: int = 0
    sent: int = 0
    finalized: int = 0
    replaced: int = 0
    reorg: bool = False
    idle: bool = False
    notes: list[str] = field(default_factory=list)


class Worker:
    """Follows one insurer's claims on the ClaimsManager and acts on them exactly once.

    ``step()`` does one round (reorg check, scan, reconcile, decide, send, settle);
    ``run()`` repeats it until stopped (SIGINT/SIGTERM finish the current step first).
    """

    def __init__(
        self,
        insurer: Insurer,
        rules: Rules,
        journal: Journal,
        start_block: int | None = None,
    ) -> None:
        self.insurer = insurer
        self.rules = rules
        self.journal = journal
        self.claims = insurer.contracts.claims
        self.contract = self.claims.contract
        self.node = insurer.contracts.node
        self.decimals = self.claims.decimals
        self.outbox = Outbox(
            self.node,
            as_signer(insurer.account),
            journal,
            self._call_of,
            self,
            confirmations=rules.confirmations,
            fee_bump=rules.fee_bump,
            replace_after=rules.replace_after,
        )
        # Receipts are anchored by the worker, through its journal, once per round; never
        # from inside a read (that would send a transaction the journal does not know).
        insurer.receipts.batch_size = None
        self._stop = False
        self._known_states: dict[str, tuple[ClaimStatus, int]] = {}
        self._check_identity()
        if self.journal.get("cursor") is None:
            start = insurer.contracts.deployment.block if start_block is None else start_block
            with self.journal.transaction() as db:
                self.journal.put("cursor", max(start - 1, -1), db)

    def _check_identity(self) -> None:
        """Refuse a journal written for another insurer, chain or ClaimsManager."""
        mine = {
            "insurer": self.insurer.address,
            "chain_id": str(self.insurer.contracts.chain_id),
            "claims": self.claims.address,
        }
        for key, value in mine.items():
            stored = self.journal.get(key)
            if stored is not None and stored != value:
                raise ConfigurationError(
                    f"the journal {self.journal.path} belongs to {key} {stored}, not {value}; "
                    "use another --db for this insurer or network"
                )
        with self.journal.transaction() as db:
            for key, value in mine.items():
                self.journal.put(key, value, db)
            self.journal.put("decimals", self.decimals, db)

    # -------------------------------------------------------------- the loop

    def stop(self, *_: Any) -> None:
        """Ask the loop to end after the current step (the SIGINT/SIGTERM handler)."""
        self._stop = True
        log.info("stopping", extra={"fields": {"reason": "signal"}})

    def run(self, until_idle: bool = False, max_steps: int | None = None) -> int:
        """Step until stopped (or, with ``until_idle``, until nothing is left to do). A node
        or Kubo that is down is retried with back-off, never a crash. Returns steps run."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.stop)
        steps, backoff = 0, 1.0
        while not self._stop and (max_steps is None or steps < max_steps):
            try:
                result = self.step()
                backoff = 1.0
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                self._error(exc, backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, 60.0)
                continue
            steps += 1
            if until_idle and result.idle:
                break
            if not (result.sent or result.finalized or result.decided):
                self._sleep(self.rules.poll_interval)
        log.info("stopped", extra={"fields": {"steps": steps}})
        return steps

    def _error(self, exc: BaseException, backoff: float) -> None:
        message = f"{type(exc).__name__}: {exc}"
        self.journal.put("last_error", message)
        log.error(
            "unavailable",
            extra={
                "fields": {
                    "error": message,
                    "retry_in_s": backoff,
                    "hint": "is the chain node (anvil) or Kubo running? retrying",
                }
            },
        )

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stop and time.monotonic() < end:
            time.sleep(min(0.1, seconds))

    def step(self) -> StepResult:
        """One round: reorg check, scan to the safe head, reconcile transactions, decide new
        claims, send decided actions, settle approved claims."""
        result = StepResult()
        head = self.node.block_number()
        result.reorg = self._check_reorg()
        safe = head - self.rules.confirmations + 1
        result.scanned = self._scan(safe)
        result.finalized, result.replaced = self.outbox.reconcile(head)
        self._release_orphans()
        result.decided = self._decide()
        result.sent = (
            self._retry_receipts()
            + self._send_decisions()
            + self._settle()
            + self._finalize_denials()
        )
        with self.journal.transaction() as db:
            self.journal.put("head", head, db)
            self.journal.put("last_step", time.time(), db)
            self.journal.put("last_error", "", db)
        result.idle = (
            not self.journal.claims(*OPEN_STATES)
            and not self.journal.live_txs()
            and not any(r["retrying"] for r in self.journal.unanchored_receipts())
            and int(self.journal.get("cursor") or -1) >= safe
        )
        if result.scanned or result.decided or result.sent or result.finalized or result.reorg:
            log.info(
                "step",
                extra={
                    "fields": {
                        "head": head,
                        "cursor": int(self.journal.get("cursor") or -1),
                        "new_claims": result.scanned,
                        "decided": result.decided,
                        "sent": result.sent,
                        "final": result.finalized,
                        "replaced": result.replaced,
                        "reorg": result.reorg,
                    }
                },
            )
        return result

    # -------------------------------------------------------------- reorgs

    # -------------------------------------------------------------- reorgs

    def _block_hash(self, number: int) -> str:
        return str(self.node.block(number)["hash"])

    def _check_reorg(self) -> bool:
        """If the chain no longer holds the block at the cursor, rewind to the last common
        block and reopen what was seen or mined after it."""
        known = self.journal.known_blocks()
        if not known or self._canonical(known[0]["number"], known[0]["hash"]):
            return False
        ancestor = next(
            (r["number"] for r in known if self._canonical(r["number"], r["hash"])), None
        )
        if ancestor is None:
            raise ConfigurationError(
                f"a reorg deeper than the {len(known)} blocks this worker remembers; restart it "
                "with a new --db and --from-block before the fork"
            )
        with self.journal.transaction() as db:
            self.journal.rewind(db, ancestor)
            reopened = self.outbox.reopen_after(db, ancestor)
            for tx in reopened:
                # its claims wait for it again
                claim_ids = self._claims_of(tx["kind"], json.loads(tx["args"]))
                self.journal.unapply(db, tx["id"], _BEFORE.get(tx["kind"]), claim_ids)
            self.journal.put("cursor", ancestor, db)
            self.journal.put("reorgs", int(self.journal.get("reorgs") or 0) + 1, db)
        log.warning(
            "reorg",
            extra={"fields": {"rewound_to": ancestor, "reopened_txs": len(reopened)}},
        )
        return True

    def _canonical(self, number: int, block_hash: str) -> bool:
        try:
            return self._block_hash(number) == block_hash
        except Exception as exc:  # the block is gone (chain shorter than before)
            if is_connection_error(exc):
                raise
            return False

    # -------------------------------------------------------------- scanning

    def _scan(self, safe: int) -> int:
        """Read PolicyIssued and ClaimSubmitted up to ``safe``; returns new claims."""
        cursor = int(self.journal.get("cursor") or -1)
        if safe <= cursor:
            return 0
        start, stop = cursor + 1, safe + 1
        insurer = self.insurer.address
        # Policies are read from the deployment on: a worker started with --from-block still
        # knows the policies issued before it.
        first = self.journal.get("policies_from") is None
        policy_start = min(start, self.insurer.contracts.deployment.block) if first else start
        policies = self.contract.logs(
            self.contract.PolicyIssued, {"insurer": insurer}, policy_start, safe
        )
        submitted = self.contract.logs(self.contract.ClaimSubmitted, {}, start, safe)
        numbers = list(range(max(start, stop - REORG_WINDOW), stop))
        hashes = list(zip(numbers, self.node.block_hashes(numbers), strict=True))
        new = 0
        with self.journal.transaction() as db:
            for p in policies:
                terms = p.terms
                self.journal.add_policy(
                    db, int(p.policyId), str(terms[0]), int(terms[4]), p.block_number
                )
            mine = self.journal.policy_ids(db)
            for c in submitted:
                if int(c.policyId) not in mine:
                    continue
                new += self.journal.add_claim(
                    db,
                    {
                        "claim_id": hex_of(c.claimId),
                        "policy_id": int(c.policyId),
                        "provider": str(c.provider),
                        "amount": int(c.amount),
                        "service_date": int(c.serviceDate),
                        "record_ids": [hex_of(r) for r in c.recordIds],
                        "digest": hex_of(c.claimDigest),
                        "block": c.block_number,
                    },
                )
            self.journal.remember_blocks(db, hashes, forget_to=safe - REORG_WINDOW)
            self.journal.put("cursor", safe, db)
            self.journal.put("policies_from", policy_start, db)
        return new

    # -------------------------------------------------------------- deciding

    def _view(self, row: sqlite3.Row, status: ClaimStatus = ClaimStatus.SUBMITTED) -> ClaimView:
        return ClaimView(
            claim_id=_bytes(row["claim_id"]),
            policy_id=row["policy_id"],
            provider=row["provider"],
            amount=row["amount"],
            service_date=row["service_date"],
            record_ids=[_bytes(r) for r in json.loads(row["record_ids"])],
            claim_digest=_bytes(row["digest"]),
            status=status,
            approved=0,
            patient_share=0,
            block=row["block"],
        )

    def _onchain(self, claim_id: str) -> tuple[ClaimStatus, int]:
        known = self._known_states.get(claim_id)
        if known is not None:
            return known
        stored = self.contract.getClaim(_bytes(claim_id))
        return ClaimStatus(int(stored.status)), int(stored.approved)

    def finalizing(self, txs: list[sqlite3.Row]) -> None:
        """The outbox is about to finalize ``txs`` (all deep enough already): read their
        claims' states from the chain in one batch, for the ``final`` calls that follow in
        this reconcile (and only those: :meth:`finalized` forgets them)."""
        claim_ids = [c for tx in txs for c in self._claims_of(tx["kind"], json.loads(tx["args"]))]
        stored = self.contract.getClaim.calls([(_bytes(c),) for c in claim_ids])
        self._known_states = {
            c: (ClaimStatus(int(s.status)), int(s.approved))
            for c, s in zip(claim_ids, stored, strict=True)
        }

    def finalized(self) -> None:
        """The reconcile that :meth:`finalizing` read for is over."""
        self._known_states = {}

    def _decide(self) -> int:
        """Apply the rules to every new claim. Evidence is read (consented, logged), the
        read receipts anchored, and only then the decisions written."""
        rows = self.journal.claims("new")
        if not rows:
            return 0
        decisions: list[tuple[str, str, Decision | None, ClaimStatus, int]] = []
        stored = self.contract.getClaim.calls([(_bytes(row["claim_id"]),) for row in rows])
        to_judge: list[tuple[sqlite3.Row, sqlite3.Row]] = []
        for row, claim in zip(rows, stored, strict=True):
            status, approved = ClaimStatus(int(claim.status)), int(claim.approved)
            if status is not ClaimStatus.SUBMITTED:
                # Auto-approved on submission, or decided by hand outside the worker.
                decisions.append((row["claim_id"], "chain", None, status, approved))
                continue
            to_judge.append((row, self.journal.policy(row["policy_id"])))
        # Each claim's evidence is read on its own (consented, receipted); the reads of
        # different claims wait on the node and Kubo, so they overlap in threads. They all
        # list events from one reading of the chain: the index's, caught up once here.
        index = self.insurer.contracts.index
        with (
            index.held() if index is not None else nullcontext(),
            ThreadPoolExecutor(max_workers=JUDGES) as pool,
        ):
            judged = [pool.submit(self._judge, row, policy) for row, policy in to_judge]
            wait(judged)
        for (row, _), future in zip(to_judge, judged, strict=True):
            decisions.append((row["claim_id"], "rules", future.result(), ClaimStatus.SUBMITTED, 0))
        self._anchor_receipts()
        with self.journal.transaction() as db:
            for claim_id, _, decision, status, approved in decisions:
                if decision is None:
                    self.journal.set_decided_by_chain(db, claim_id, status, approved)
                else:
                    self.journal.set_decision(
                        db, claim_id, decision.action, decision.amount, decision.reason
                    )
        for claim_id, by, decision, status, _ in decisions:
            log.info(
                "decided",
                extra={
                    "fields": {
                        "claim": claim_id,
                        "by": by,
                        "decision": decision.action if decision else status.name.lower(),
                        "why": decision.reason if decision else "",
                    }
                },
            )
        return len(decisions)

    def _judge(self, row: sqlite3.Row, policy: sqlite3.Row) -> Decision:
        """Open the claim and its evidence and apply the rules; anything unreadable goes to
        the manual queue with the reason. Runs in a thread: it reads the chain and Kubo,
        never the journal."""
        view = self._view(row)
        try:
            fhir_claim = self.insurer.open_claim(view, policy["patient"])
            evidence = self.insurer.open_evidence(view)
        except IPFSUnavailableError:
            raise
        except CarechainError as exc:
            return Decision("manual", reason=f"could not read the claim or its evidence: {exc}")
        return self.rules.decide(
            amount=row["amount"],
            decimals=self.decimals,
            codes=claim_codes(fhir_claim),
            categories=[r.head.category for r in evidence],
            covered_mask=policy["covered"],
            retracted=any(r.retracted for r in evidence),
        )

    # -------------------------------------------------------------- sending

    def _anchor_receipts(self) -> int:
        """Anchor the receipts of this round's evidence reads, through the journal like
        every other transaction of this account (so a reorg or a restart re-sends them and
        never leaves a nonce gap). An anchor the chain refuses is journaled too (``refused``)
        and retried like one that reverted: the receipts are never dropped."""
        book = self.insurer.receipts
        sent = 0
        for patient in book.patients():
            batch = book.seal(patient)
            args = [patient, hex_of(batch.root), hex_of(batch.digest), batch.count]
            sent += self.outbox.submit("receipts", args)
            book.settled(patient)
        return sent

    def _retry_receipts(self) -> int:
        """Send again every receipts anchor that reverted or was refused, with back-off
        (``poll_interval`` doubling per attempt, at most 60 s), up to ``RECEIPT_ATTEMPTS``
        in all; one whose batch is anchored already (by an earlier attempt: only this
        account can fill its batch) is closed as ``superseded``. What is left shows in
        ``insurer status``."""
        sent = 0
        for row in self.journal.receipts_to_retry():
            attempts = self.journal.receipt_attempts(row["args"])
            if attempts >= RECEIPT_ATTEMPTS:
                continue
            wait = min(self.rules.poll_interval * 2 ** (attempts - 1), 60.0)
            if time.time() - row["updated"] < wait:
                continue
            args = json.loads(row["args"])
            anchored = self.insurer.contracts.access_log.batch(
                self.insurer.address, _bytes(args[1])
            )
            with self.journal.transaction() as db:
                self.journal.set_tx_state(db, row["id"], "superseded" if anchored else "retried")
            if anchored:
                continue
            log.warning(
                "receipts-retry",
                extra={"fields": {"root": args[1], "patient": args[0], "attempt": attempts + 1}},
            )
            sent += self.outbox.submit("receipts", args)
        return sent

    def _send_decisions(self) -> int:
        """Send every decided claim's approval or denial: one transaction each (a claim is
        approved or denied on its own), estimated, written and sent together."""
        calls: list[tuple[str, list[Any]]] = []
        for row in self.journal.claims("approve", "deny"):
            if row["tx_id"] is not None:
                continue
            if row["state"] == "approve":
                args: list[Any] = [row["claim_id"], row["approve_amount"]]
            else:
                args = [row["claim_id"], row["reason"]]
            calls.append((row["state"], args))
        return sum(
            self.outbox.submit_many(calls[i : i + SEND_BATCH])
            for i in range(0, len(calls), SEND_BATCH)
        )

    def _settle(self) -> int:
        """Settle approved claims in batches: a full batch at once, a partial one when its
        oldest claim has waited ``settle_interval`` seconds."""
        ready = [r for r in self.journal.claims("approved") if r["tx_id"] is None]
        sent = 0
        now = time.time()
        size = self.rules.batch_size
        for start in range(0, len(ready), size):
            batch = ready[start : start + size]
            oldest = min(r["updated"] for r in batch)
            if len(batch) < size and now - oldest < self.rules.settle_interval:
                break
            sent += self.outbox.submit("settle", [r["claim_id"] for r in batch])
        return sent

    def _finalize_denials(self) -> int:
        """A denial reserves, for its 14-day dispute window, what an arbitrator could award;
        once the window closed undisputed, release that reserve back to the escrow."""
        window = int(self.contract.DISPUTE_WINDOW())
        now = self.node.head_timestamp()
        sent = 0
        for row in self.journal.claims("denied"):
            if time.time() - row["updated"] < window and now - row["updated"] < window:
                continue  # cannot have closed yet (the journal's time is when it was denied)
            args = [row["claim_id"]]
            if self.journal.has_tx("finalize", args, (*LIVE_TX_STATES, "done")):
                continue
            reserved, until = self.contract.denialOf(_bytes(row["claim_id"]))
            if int(reserved) and now >= int(until):
                sent += self.outbox.submit("finalize", args)
        return sent

    def _call_of(self, kind: str, args: list[Any]) -> tuple[BoundFunction, list[Any]]:
        """The contract function and arguments a journal entry stands for."""
        if kind == "approve":
            return self.contract.approveClaim, [_bytes(args[0]), int(args[1])]
        if kind == "deny":
            return self.contract.denyClaim, [_bytes(args[0]), _keccak_text(args[1])]
        if kind == "settle":
            return self.contract.settle, [[_bytes(a) for a in args]]
        if kind == "finalize":
            return self.contract.finalizeDenial, [_bytes(args[0])]
        if kind == "receipts":
            log_contract = self.insurer.contracts.access_log.contract
            return log_contract.anchorBatch, [args[0], _bytes(args[1]), _bytes(args[2]), args[3]]
        raise ValueError(f"unknown transaction kind {kind!r}")

    # -------------------------------------------------------------- the outbox's listener

    @staticmethod
    def _claims_of(kind: str, args: list[Any]) -> list[str]:
        """The claims a transaction of ``kind`` with ``args`` acts on."""
        return {"settle": args, "approve": args[:1], "deny": args[:1]}.get(kind, [])

    def tie(self, db: sqlite3.Connection, kind: str, args: list[Any], tx_id: int) -> None:
        """The claims of a transaction wait for it."""
        self.journal.tie_claims(db, tx_id, self._claims_of(kind, args))

    def refused(self, db: sqlite3.Connection, kind: str, args: list[Any], error: str) -> None:
        """A receipts anchor the chain refused is journaled (to retry); the claims of a
        refused decision are re-read from the chain (to the manual queue with why)."""
        if kind == "receipts":
            self.journal.record_refused(db, kind, args, error)
        self._resync(db, self._claims_of(kind, args), note=f"the chain refused {kind}: {error}")

    def final(self, db: sqlite3.Connection, tx: sqlite3.Row, success: bool) -> None:
        """A transaction landed (or reverted): its claims move on as the chain says."""
        claim_ids = self._claims_of(tx["kind"], json.loads(tx["args"]))
        if success:
            self._resync(db, claim_ids, expect=_AFTER.get(tx["kind"]))
        else:
            self._resync(db, claim_ids, note=f"{tx['kind']} transaction {tx['hash']} reverted")

    def dropped(self, db: sqlite3.Connection, tx: sqlite3.Row) -> None:
        """Another transaction used this nonce: release the claims to be acted on again."""
        self._resync(db, self._claims_of(tx["kind"], json.loads(tx["args"])))

    def not_landed(self, kind: str, args: list[Any], error: str) -> None:
        """Log a receipts anchor that did not land: the patient's trail lacks these reads
        until it does."""
        if kind != "receipts":
            return
        attempts = self.journal.receipt_attempts(json.dumps(args))
        log.error(
            "receipts-not-anchored",
            extra={
                "fields": {
                    "patient": args[0],
                    "root": args[1],
                    "receipts": args[3],
                    "attempt": attempts,
                    "retry": attempts < RECEIPT_ATTEMPTS,
                    "error": error,
                    "hint": "see carechain insurer status",
                }
            },
        )

    def _release_orphans(self) -> None:
        """Claims tied to a transaction that is no longer live (a crash between two writes
        of an older version) are re-read from the chain."""
        orphans = self.journal.orphaned_claims()
        if orphans:
            with self.journal.transaction() as db:
                self._resync(db, orphans)

    def _resync(
        self,
        db: sqlite3.Connection,
        claim_ids: list[str],
        expect: str | None = None,
        note: str = "",
    ) -> None:
        """Set claims to what the chain says now and release them from their transaction
        (inside the caller's write). A claim the chain still has as Submitted keeps its
        decision (sent again next step); if the chain refused that decision (``note``), it
        goes to the manual queue with the note."""
        for claim_id in claim_ids:
            row = self.journal.claim(claim_id)  # the caller's write is on this connection
            if row is None:
                continue
            status, approved = self._onchain(claim_id)
            state = STATE_OF[status]
            if status is ClaimStatus.SUBMITTED:
                state = "manual" if note and expect is None else row["state"]
                if state not in ("approve", "deny", "manual"):
                    state = "new"
            if expect and state != expect:
                log.warning(
                    "unexpected",
                    extra={"fields": {"claim": claim_id, "expected": expect, "chain": state}},
                )
            self.journal.resync_claim(db, claim_id, state, approved, note)


def _bytes(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def _keccak_text(text: str) -> bytes:
    from eth_utils import keccak

    return keccak(text=text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, event and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        return json.dumps(entry, default=str)
