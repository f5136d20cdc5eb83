"""The insurer's settlement worker: follows the chain, adjudicates claims by the insurer's
rules, and settles them in batches — exactly once across restarts, stuck transactions and
reorgs.

How exactly-once holds:

* **At most once** is the chain's: a claim moves Submitted → Approved → Paid once, and
  ``settle`` reverts if any claim in the batch is not Approved. Nothing the worker does can
  pay a claim twice.
* **At least once** is the journal's (a SQLite file). Every decision is written before any
  transaction; every transaction is signed, written (hash, nonce, raw bytes) and only then
  sent. On restart the journal is reconciled with the chain: a recorded transaction without a
  receipt is sent again (the same bytes, so the same hash), one that waited too long is
  replaced with the same nonce at ≥ 1.125 times the fee, and a transaction is *final* only when its
  block is ``confirmations`` deep and still canonical. Claims are read from events only up to
  that depth.
* **Reorgs**: the worker keeps the hashes of the last blocks it scanned. When the chain's hash
  at its cursor differs, it walks back to the last common block, forgets claims seen after it,
  and reopens every transaction mined after it; those are re-sent (anvil and geth drop a
  reorged transaction from the pool) and their claims wait for them again.

Evidence is read through :meth:`Party.read_record` with purpose PAYMENT: consented and logged
(the access receipts are anchored before the decision is written).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import secrets
import signal
import sqlite3
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .errors import CarechainError, ConfigurationError, IPFSUnavailableError
from .fhir import Category
from .fhir_claims import claim_codes
from .insurer import Insurer
from .model import ClaimStatus, ClaimView
from .onchain.contract import describe
from .onchain.rpc import Reverted
from .onchain.signer import as_signer

log = logging.getLogger("carechain.worker")

#: How many scanned block hashes are kept to find where a reorg forked.
REORG_WINDOW = 128

#: Claim states in the journal. ``approve``/``deny`` are decided but not yet final on-chain;
#: ``approved`` is final and waits for settlement; the last four are final.
OPEN_STATES = ("new", "approve", "deny", "approved")
FINAL_STATES = ("paid", "denied", "disputed", "gone")


#: An amount as people write one: digits, optionally a point and more digits (no sign,
#: exponent, "nan" or "inf"; a thousands separator is refused rather than guessed at).
_AMOUNT = re.compile(r"\d+(\.\d+)?")
#: The largest amount the contracts hold (uint64 token units).
MAX_UNITS = 2**64 - 1


def to_units(text: str | int | float, decimals: int) -> int:
    """``"12.50"`` in token units (12500000 for a 6-decimal stablecoin)."""
    if isinstance(text, float) and math.isfinite(text):
        text = format(Decimal(repr(text)), "f")
    written = str(text).strip()
    if not _AMOUNT.fullmatch(written):
        raise ConfigurationError(f"not an amount: {text!r} (write it like 12.50)")
    value = Decimal(written) * 10**decimals
    if value != value.to_integral_value():
        raise ConfigurationError(
            f"{text} has more than {decimals} decimals: not in whole token units"
        )
    if value > MAX_UNITS:
        raise ConfigurationError(f"{text} is too large (at most {MAX_UNITS / 10**decimals:,.0f})")
    return int(value)


# ------------------------------------------------------------------------------ rules


@dataclass(frozen=True)
class Decision:
    """What the rules say about one claim."""

    action: str  # "approve" | "deny" | "manual"
    amount: int = 0  # for approve: what to approve (the chain computes the shares)
    reason: str = ""  # for deny: the reason code; for manual: why a human must look


@dataclass(frozen=True)
class Rules:
    """The insurer's adjudication rules and the worker's settings (a TOML file).

    ``approve_below`` is in tokens (``"500.00"``), converted with the token's decimals."""

    approve_below: str = "0"
    require_covered: bool = True
    deny_codes: frozenset[str] = frozenset()
    deny_reason: str = "excluded-service"
    batch_size: int = 50
    settle_interval: float = 10.0
    confirmations: int = 2
    replace_after: float = 30.0
    fee_bump: float = 1.125
    poll_interval: float = 2.0

    @classmethod
    def load(cls, path: Path) -> Rules:
        """Read a rules file; unknown keys and bad values are refused by name."""
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigurationError(f"no rules file at {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "rules") -> Rules:
        """Rules from the TOML layout: ``[approve] [deny] [settle] [chain]``."""
        known = {
            "approve": {"below": "approve_below", "require_covered": "require_covered"},
            "deny": {"codes": "deny_codes", "reason": "deny_reason"},
            "settle": {"batch_size": "batch_size", "interval": "settle_interval"},
            "chain": {
                "confirmations": "confirmations",
                "replace_after": "replace_after",
                "fee_bump": "fee_bump",
                "poll_interval": "poll_interval",
            },
        }
        values: dict[str, Any] = {}
        for section, body in data.items():
            if section not in known or not isinstance(body, dict):
                raise ConfigurationError(
                    f"{source}: unknown section [{section}]; expected one of {sorted(known)}"
                )
            for key, value in body.items():
                if key not in known[section]:
                    raise ConfigurationError(
                        f"{source}: unknown key {key!r} in [{section}]; "
                        f"expected one of {sorted(known[section])}"
                    )
                values[known[section][key]] = value
        if "deny_codes" in values:
            values["deny_codes"] = frozenset(str(c) for c in values["deny_codes"])
        if "approve_below" in values:
            values["approve_below"] = str(values["approve_below"])
        rules = cls(**values)
        if not 1 <= rules.batch_size <= 100:
            raise ConfigurationError(
                f"{source}: settle.batch_size must be 1..100 (the contract's cap)"
            )
        if rules.confirmations < 1:
            raise ConfigurationError(f"{source}: chain.confirmations must be at least 1")
        if rules.fee_bump < 1.125:
            raise ConfigurationError(
                f"{source}: chain.fee_bump must be at least 1.125 (nodes refuse smaller bumps)"
            )
        return rules

    def decide(
        self,
        amount: int,
        decimals: int,
        codes: list[str],
        categories: list[Category],
        covered_mask: int,
        retracted: bool,
    ) -> Decision:
        """Deny excluded codes; approve small claims whose evidence is covered; else manual."""
        excluded = sorted(set(codes) & self.deny_codes)
        if excluded:
            return Decision("deny", reason=self.deny_reason)
        limit = to_units(self.approve_below, decimals)
        if amount >= limit:
            return Decision(
                "manual", reason=f"amount at or above the automatic limit {self.approve_below}"
            )
        if retracted:
            return Decision("manual", reason="cites a record its author retracted")
        uncovered = [c.name.lower() for c in categories if not covered_mask >> int(c) & 1]
        if self.require_covered and uncovered:
            return Decision("manual", reason=f"evidence not covered: {', '.join(uncovered)}")
        return Decision("approve", amount=amount)


# ------------------------------------------------------------------------------ journal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policies (
    policy_id INTEGER PRIMARY KEY, patient TEXT NOT NULL, covered INTEGER NOT NULL,
    block INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS claims (
    claim_id TEXT PRIMARY KEY, policy_id INTEGER NOT NULL, provider TEXT NOT NULL,
    amount INTEGER NOT NULL, service_date INTEGER NOT NULL, record_ids TEXT NOT NULL,
    digest TEXT NOT NULL, block INTEGER NOT NULL, state TEXT NOT NULL,
    decided_by TEXT, approve_amount INTEGER, reason TEXT, note TEXT,
    tx_id INTEGER, approved INTEGER, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS claims_state ON claims (state);
CREATE TABLE IF NOT EXISTS txs (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, args TEXT NOT NULL, nonce INTEGER NOT NULL,
    hash TEXT NOT NULL UNIQUE, raw BLOB NOT NULL, gas INTEGER NOT NULL,
    max_fee INTEGER NOT NULL, priority_fee INTEGER NOT NULL, state TEXT NOT NULL,
    sent_at REAL, block INTEGER, block_hash TEXT, success INTEGER, updated REAL NOT NULL,
    error TEXT);
CREATE INDEX IF NOT EXISTS txs_state ON txs (state);
"""

#: Transaction states: ``signed`` (written, maybe not sent), ``sent``, ``mined`` (receipt,
#: not yet deep enough), then final: ``done``, ``failed`` (reverted), ``superseded`` (another
#: transaction with its nonce landed — or, for receipts, the batch is anchored already),
#: ``dropped`` (its nonce was used by something else). Receipts anchors only: ``refused``
#: (the chain refused the call before anything was signed or sent: no nonce, no bytes;
#: ``error`` says why) and ``retried`` (a failed or refused anchor sent again as a newer row).
LIVE_TX_STATES = ("signed", "sent", "mined")
#: Live and not yet in a block: their nonces are taken.
UNMINED_TX_STATES = ("signed", "sent")


def _in(states: tuple[str, ...]) -> str:
    """``(?, ?, ...)`` for ``state IN`` with the states passed as parameters."""
    return "(" + ", ".join("?" * len(states)) + ")"


#: How often a receipts anchor that reverted or was refused is tried in all; after that it
#: stays in ``insurer status`` (the batch is on IPFS, everything needed to anchor it is in
#: the journal row).
RECEIPT_ATTEMPTS = 5


class Journal:
    """The worker's SQLite file: cursor, claims, decisions and every transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # The journal holds claim amounts and signed transactions: readable by its owner only
        # (SQLite gives its -wal and -shm files the same mode).
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(txs)")}
        if "error" not in columns:  # a journal written before receipts anchors were retried
            self.db.execute("ALTER TABLE txs ADD COLUMN error TEXT")

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: all of it reaches the disk, or none of it."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def get(self, key: str, default: str | None = None) -> str | None:
        """A value from the meta table."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def put(self, key: str, value: Any, db: sqlite3.Connection | None = None) -> None:
        """Set a meta value (inside the caller's transaction if given)."""
        (db or self.db).execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, str(value)),
        )

    def claims(self, *states: str) -> list[sqlite3.Row]:
        """Claims in any of ``states`` (all claims if none given), oldest first."""
        if not states:
            return self.db.execute("SELECT * FROM claims ORDER BY block, claim_id").fetchall()
        marks = ",".join("?" * len(states))
        return self.db.execute(
            f"SELECT * FROM claims WHERE state IN ({marks}) ORDER BY block, claim_id", states
        ).fetchall()

    def claim(self, claim_id: str) -> sqlite3.Row | None:
        """One claim by its 0x-hex id."""
        return self.db.execute("SELECT * FROM claims WHERE claim_id = ?", (claim_id,)).fetchone()

    def has_tx(self, kind: str, args: list[Any], states: tuple[str, ...]) -> bool:
        """Whether a transaction of ``kind`` with exactly ``args`` is in one of ``states``."""
        row = self.db.execute(
            f"SELECT 1 FROM txs WHERE kind = ? AND args = ? AND state IN {_in(states)} LIMIT 1",
            (kind, json.dumps(args), *states),
        ).fetchone()
        return row is not None

    def live_txs(self) -> list[sqlite3.Row]:
        """Transactions not yet final, by nonce then age."""
        return self.db.execute(
            f"SELECT * FROM txs WHERE state IN {_in(LIVE_TX_STATES)} ORDER BY nonce, id",
            LIVE_TX_STATES,
        ).fetchall()

    def receipt_attempts(self, args: str) -> int:
        """How many journal rows tried to anchor the receipts batch ``args`` (JSON)."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM txs WHERE kind = 'receipts' AND args = ?", (args,)
        ).fetchone()
        return int(row[0])

    def unanchored_receipts(self) -> list[dict[str, Any]]:
        """Receipt batches whose anchor reverted or was refused and has not landed since:
        patient, root, receipts, attempts so far, whether the worker still retries, why."""
        rows = self.db.execute(
            "SELECT * FROM txs WHERE kind = 'receipts' AND state IN ('failed', 'refused') "
            "ORDER BY id"
        ).fetchall()
        out = []
        for row in rows:
            patient, root, digest, count = json.loads(row["args"])
            attempts = self.receipt_attempts(row["args"])
            out.append(
                {
                    "patient": patient,
                    "root": root,
                    "digest": digest,
                    "count": count,
                    "attempts": attempts,
                    "retrying": attempts < RECEIPT_ATTEMPTS,
                    "error": row["error"] or "",
                }
            )
        return out

    def decide_manually(self, claim_id: str, approve: int | None, reason: str | None) -> None:
        """Record a human's decision on a claim in the manual queue; the worker carries it
        out on its next step."""
        with self.transaction() as db:
            row = db.execute("SELECT state FROM claims WHERE claim_id = ?", (claim_id,)).fetchone()
            if row is None:
                raise CarechainError(f"claim {claim_id} is not in this worker's journal")
            if row["state"] != "manual":
                raise CarechainError(
                    f"claim {claim_id} is '{row['state']}', not waiting in the manual queue"
                )
            if approve is not None:
                db.execute(
                    "UPDATE claims SET state='approve', decided_by='manual', approve_amount=?, "
                    "updated=? WHERE claim_id=?",
                    (approve, time.time(), claim_id),
                )
            else:
                db.execute(
                    "UPDATE claims SET state='deny', decided_by='manual', reason=?, updated=? "
                    "WHERE claim_id=?",
                    (reason, time.time(), claim_id),
                )

    def status(self) -> dict[str, Any]:
        """Cursor, lag, queue sizes, transactions in flight and totals (no chain needed)."""
        counts = dict(
            self.db.execute("SELECT state, COUNT(*) FROM claims GROUP BY state").fetchall()
        )
        paid_count, paid_total = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(approved), 0) FROM claims WHERE state = 'paid'"
        ).fetchone()
        cursor = int(self.get("cursor", "-1") or -1)
        head = int(self.get("head", "-1") or -1)
        return {
            "insurer": self.get("insurer"),
            "chain_id": int(self.get("chain_id", "0") or 0),
            "cursor": cursor,
            "head": head,
            "lag": max(head - cursor, 0) if head >= 0 else None,
            "last_step": float(self.get("last_step", "0") or 0),
            "claims": counts,
            "manual_queue": counts.get("manual", 0),
            "in_flight": len(self.live_txs()),
            "paid_count": paid_count,
            "paid_total": paid_total,
            "decimals": int(self.get("decimals", "0") or 0),
            "reorgs": int(self.get("reorgs", "0") or 0),
            "replacements": int(self.get("replacements", "0") or 0),
            "last_error": self.get("last_error"),
            "unanchored_receipts": self.unanchored_receipts(),
        }


# ------------------------------------------------------------------------------ worker


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
        # Receipts are anchored by the worker, through its journal, once per round; never
        # from inside a read (that would send a transaction the journal does not know).
        insurer.receipts.batch_size = None
        self._stop = False
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
                if not _is_connection_error(exc):
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
        result.finalized, result.replaced = self._reconcile(head)
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

    def _block_hash(self, number: int) -> str:
        return str(self.node.block(number)["hash"])

    def _check_reorg(self) -> bool:
        """If the chain no longer holds the block at the cursor, rewind to the last common
        block and reopen what was seen or mined after it."""
        row = self.journal.db.execute(
            "SELECT number, hash FROM blocks ORDER BY number DESC LIMIT 1"
        ).fetchone()
        if row is None or self._canonical(row["number"], row["hash"]):
            return False
        known = self.journal.db.execute(
            "SELECT number, hash FROM blocks ORDER BY number DESC"
        ).fetchall()
        ancestor = next(
            (r["number"] for r in known if self._canonical(r["number"], r["hash"])), None
        )
        if ancestor is None:
            raise ConfigurationError(
                f"a reorg deeper than the {len(known)} blocks this worker remembers; restart it "
                "with a new --db and --from-block before the fork"
            )
        with self.journal.transaction() as db:
            # Claims first seen after the fork are forgotten unless something is in flight
            # for them; the rescan finds those that still exist.
            db.execute(
                "DELETE FROM claims WHERE block > ? AND state IN ('new', 'manual')", (ancestor,)
            )
            db.execute("DELETE FROM policies WHERE block > ?", (ancestor,))
            db.execute("DELETE FROM blocks WHERE number > ?", (ancestor,))
            reopened = db.execute(
                "SELECT * FROM txs WHERE block > ? AND state IN ('mined', 'done', 'failed')",
                (ancestor,),
            ).fetchall()
            for tx in reopened:
                db.execute(
                    "UPDATE txs SET state='sent', block=NULL, block_hash=NULL, success=NULL, "
                    "error=NULL, sent_at=0, updated=? WHERE id=?",
                    (time.time(), tx["id"]),
                )
                self._unapply(db, tx)
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
            if _is_connection_error(exc):
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
        hashes = [(n, self._block_hash(n)) for n in range(max(start, stop - REORG_WINDOW), stop)]
        new = 0
        with self.journal.transaction() as db:
            for p in policies:
                terms = p.terms
                db.execute(
                    "INSERT OR IGNORE INTO policies VALUES (?, ?, ?, ?)",
                    (int(p.policyId), str(terms[0]), int(terms[4]), int(p.block_number)),
                )
            mine = {r[0] for r in db.execute("SELECT policy_id FROM policies")}
            for c in submitted:
                if int(c.policyId) not in mine:
                    continue
                new += db.execute(
                    "INSERT OR IGNORE INTO claims (claim_id, policy_id, provider, amount, "
                    "service_date, record_ids, digest, block, state, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'new', ?)",
                    (
                        _hex(c.claimId),
                        int(c.policyId),
                        str(c.provider),
                        int(c.amount),
                        int(c.serviceDate),
                        json.dumps([_hex(r) for r in c.recordIds]),
                        _hex(c.claimDigest),
                        int(c.block_number),
                        time.time(),
                    ),
                ).rowcount
            db.executemany("INSERT OR REPLACE INTO blocks VALUES (?, ?)", hashes)
            db.execute("DELETE FROM blocks WHERE number <= ?", (safe - REORG_WINDOW,))
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
        stored = self.contract.getClaim(_bytes(claim_id))
        return ClaimStatus(int(stored.status)), int(stored.approved)

    def _decide(self) -> int:
        """Apply the rules to every new claim. Evidence is read (consented, logged), the
        read receipts anchored, and only then the decisions written."""
        rows = self.journal.claims("new")
        if not rows:
            return 0
        decisions: list[tuple[str, str, Decision | None, ClaimStatus, int]] = []
        for row in rows:
            status, approved = self._onchain(row["claim_id"])
            if status is not ClaimStatus.SUBMITTED:
                # Auto-approved on submission, or decided by hand outside the worker.
                decisions.append((row["claim_id"], "chain", None, status, approved))
                continue
            decisions.append((row["claim_id"], "rules", self._judge(row), status, approved))
        self._anchor_receipts()
        now = time.time()
        with self.journal.transaction() as db:
            for claim_id, by, decision, status, approved in decisions:
                if decision is None:
                    state = _STATE_OF[status]
                    db.execute(
                        "UPDATE claims SET state=?, decided_by=?, approved=?, updated=? "
                        "WHERE claim_id=?",
                        (state, by, approved, now, claim_id),
                    )
                    continue
                state = {"approve": "approve", "deny": "deny", "manual": "manual"}[decision.action]
                db.execute(
                    "UPDATE claims SET state=?, decided_by=?, approve_amount=?, reason=?, "
                    "note=?, updated=? WHERE claim_id=?",
                    (
                        state,
                        by,
                        decision.amount if decision.action == "approve" else None,
                        decision.reason if decision.action == "deny" else None,
                        decision.reason if decision.action == "manual" else None,
                        now,
                        claim_id,
                    ),
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

    def _judge(self, row: sqlite3.Row) -> Decision:
        """Open the claim and its evidence and apply the rules; anything unreadable goes to
        the manual queue with the reason."""
        policy = self.journal.db.execute(
            "SELECT * FROM policies WHERE policy_id = ?", (row["policy_id"],)
        ).fetchone()
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
            args = [patient, _hex(batch.root), _hex(batch.digest), batch.count]
            sent += self._submit("receipts", args, [])
            book.settled(patient)
        return sent

    def _retry_receipts(self) -> int:
        """Send again every receipts anchor that reverted or was refused, with back-off
        (``poll_interval`` doubling per attempt, at most 60 s), up to ``RECEIPT_ATTEMPTS``
        in all; one whose batch is anchored already (by an earlier attempt: only this
        account can fill its batch) is closed as ``superseded``. What is left shows in
        ``insurer status``."""
        rows = self.journal.db.execute(
            "SELECT * FROM txs WHERE kind = 'receipts' AND state IN ('failed', 'refused') "
            "ORDER BY id"
        ).fetchall()
        sent = 0
        for row in rows:
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
                db.execute(
                    "UPDATE txs SET state=?, updated=? WHERE id=?",
                    ("superseded" if anchored else "retried", time.time(), row["id"]),
                )
            if anchored:
                continue
            log.warning(
                "receipts-retry",
                extra={"fields": {"root": args[1], "patient": args[0], "attempt": attempts + 1}},
            )
            sent += self._submit("receipts", args, [])
        return sent

    def _receipts_failed(self, args: list[Any], error: str) -> None:
        """Log a receipts anchor that did not land: the patient's trail lacks these reads
        until it does."""
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

    def _send_decisions(self) -> int:
        sent = 0
        for row in self.journal.claims("approve", "deny"):
            if row["tx_id"] is not None:
                continue
            if row["state"] == "approve":
                args: list[Any] = [row["claim_id"], row["approve_amount"]]
            else:
                args = [row["claim_id"], row["reason"]]
            sent += self._submit(row["state"], args, [row["claim_id"]])
        return sent

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
            ids = [r["claim_id"] for r in batch]
            sent += self._submit("settle", ids, ids)
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
                sent += self._submit("finalize", args, [])
        return sent

    def _call_of(self, kind: str, args: list[Any]) -> tuple[Any, list[Any]]:
        """The contract method and arguments a journal entry stands for."""
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

    def _submit(self, kind: str, args: list[Any], claim_ids: list[str]) -> int:
        """Sign, write, then send one transaction. A call the chain would refuse is not sent:
        its claims are re-read from the chain instead."""
        method, params = self._call_of(kind, args)
        signer = as_signer(self.insurer.account)
        try:
            txn = self.node.prepare(signer, method.contract.address, method.encode(*params))
        except Exception as exc:
            if _is_connection_error(exc):
                raise
            error = describe(exc) if isinstance(exc, Reverted) else _short(exc)
            log.warning(
                "refused",
                extra={"fields": {"kind": kind, "claims": claim_ids, "error": error}},
            )
            with self.journal.transaction() as db:
                if kind == "receipts":
                    self._record_refused(db, args, error)
                self._resync(db, claim_ids, note=f"the chain refused {kind}: {error}")
            if kind == "receipts":
                self._receipts_failed(args, error)
            return 0
        txn["nonce"] = self._next_nonce()
        signed = signer.sign_transaction(txn)
        row_id = self._record(kind, args, txn, signed, claim_ids)
        self._broadcast(row_id, bytes(signed.raw_transaction))
        return 1

    def _record_refused(self, db: sqlite3.Connection, args: list[Any], error: str) -> None:
        """Journal a receipts anchor the chain refused before it was sent: no transaction
        exists (nonce -1, no bytes), the row keeps what to anchor and why it failed."""
        db.execute(
            "INSERT INTO txs (kind, args, nonce, hash, raw, gas, max_fee, priority_fee, "
            "state, updated, error) VALUES ('receipts', ?, -1, ?, X'', 0, 0, 0, 'refused', ?, ?)",
            (json.dumps(args), f"refused-{secrets.token_hex(16)}", time.time(), error),
        )

    def _next_nonce(self) -> int:
        pending = self.node.nonce(self.insurer.address, "pending")
        row = self.journal.db.execute(
            f"SELECT MAX(nonce) FROM txs WHERE state IN {_in(UNMINED_TX_STATES)}",
            UNMINED_TX_STATES,
        ).fetchone()
        return max(pending, (row[0] + 1) if row[0] is not None else 0)

    def _record(
        self, kind: str, args: list[Any], txn: dict[str, Any], signed: Any, claim_ids: list[str]
    ) -> int:
        """Write a signed transaction (``txn`` as signed) and tie its claims to it,
        atomically, before sending."""
        max_fee = txn.get("maxFeePerGas", txn.get("gasPrice", 0))
        with self.journal.transaction() as db:
            cursor = db.execute(
                "INSERT INTO txs (kind, args, nonce, hash, raw, gas, max_fee, priority_fee, "
                "state, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'signed', ?)",
                (
                    kind,
                    json.dumps(args),
                    txn["nonce"],
                    _hex(signed.hash),
                    bytes(signed.raw_transaction),
                    txn["gas"],
                    max_fee,
                    txn.get("maxPriorityFeePerGas", max_fee),
                    time.time(),
                ),
            )
            row_id = int(cursor.lastrowid or 0)
            db.executemany(
                "UPDATE claims SET tx_id=? WHERE claim_id=?", [(row_id, c) for c in claim_ids]
            )
        _fault_point("recorded")
        return row_id

    def _broadcast(self, row_id: int, raw: bytes) -> None:
        try:
            self.node.send_raw(raw)
        except Exception as exc:
            if _is_connection_error(exc):
                raise
            # "already known" (sent before a restart) or "nonce too low" (it or a
            # replacement landed): reconciliation sorts both out from the chain.
            log.info("send", extra={"fields": {"tx": row_id, "note": _short(exc)}})
        _fault_point("sent")
        with self.journal.transaction() as db:
            db.execute(
                "UPDATE txs SET state='sent', sent_at=?, block=NULL, block_hash=NULL, updated=? "
                f"WHERE id=? AND state IN {_in(LIVE_TX_STATES)}",
                (time.time(), time.time(), row_id, *LIVE_TX_STATES),
            )

    # -------------------------------------------------------------- reconciling

    def _reconcile(self, head: int) -> tuple[int, int]:
        """Bring every live transaction up to date with the chain; returns (finalized,
        replaced)."""
        by_nonce: dict[int, list[sqlite3.Row]] = {}
        for tx in self.journal.live_txs():
            by_nonce.setdefault(tx["nonce"], []).append(tx)
        if not by_nonce:
            return 0, 0
        latest = self.node.nonce(self.insurer.address, "latest")
        finalized = replaced = 0
        for nonce, group in sorted(by_nonce.items()):
            mined = None
            for tx in group:
                receipt = self._receipt(tx["hash"])
                if receipt is not None:
                    mined = (tx, receipt)
                    break
            if mined is not None:
                tx, receipt = mined
                depth = head - int(receipt["blockNumber"]) + 1
                if depth >= self.rules.confirmations:
                    self._finalize(tx, group, receipt)
                    finalized += 1
                else:
                    with self.journal.transaction() as db:
                        db.execute(
                            "UPDATE txs SET state='mined', block=?, block_hash=?, updated=? "
                            "WHERE id=?",
                            (
                                int(receipt["blockNumber"]),
                                _hex(receipt["blockHash"]),
                                time.time(),
                                tx["id"],
                            ),
                        )
                continue
            if latest > nonce:
                # The nonce was used, but by none of ours: something else sent with this
                # account. Re-read the claims from the chain.
                self._drop(group)
                finalized += 1
                continue
            newest = group[-1]
            in_pool = self._in_pool(newest["hash"])
            if not in_pool:
                self._broadcast(newest["id"], newest["raw"])
            elif time.time() - (newest["sent_at"] or 0) >= self.rules.replace_after:
                replaced += self._replace(newest)
        return finalized, replaced

    def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        """The mined transaction's block number, block hash and status, or None."""
        raw = self.node.receipt(tx_hash)
        if raw is None or not raw.get("blockNumber"):
            return None
        return {
            "blockNumber": int(raw["blockNumber"], 16),
            "blockHash": str(raw["blockHash"]),
            "status": int(raw.get("status", "0x1"), 16),
        }

    def _in_pool(self, tx_hash: str) -> bool:
        return self.node.transaction(tx_hash) is not None

    def _replace(self, tx: sqlite3.Row) -> bool:
        """Re-sign the same call with the same nonce at ≥ ``fee_bump`` times the fees.
        Returns False, sending nothing, when the nonce was used meanwhile (a transaction
        re-broadcast after a reorg was just mined, say): the next pass finds its receipt."""
        bump = self.rules.fee_bump
        priority = math.ceil(tx["priority_fee"] * bump) + 1
        base = int(self.node.block().get("baseFeePerGas") or "0x0", 16)
        max_fee = max(math.ceil(tx["max_fee"] * bump) + 1, priority + 2 * base)
        args = json.loads(tx["args"])
        method, params = self._call_of(tx["kind"], args)
        if tx["nonce"] < self.node.nonce(self.insurer.address, "latest"):
            log.info("not-replaced", extra={"fields": {"hash": tx["hash"], "nonce": tx["nonce"]}})
            return False
        txn = {
            "type": 2,
            "chainId": self.node.chain_id,
            "nonce": tx["nonce"],
            "to": method.contract.address,
            "data": "0x" + method.encode(*params).hex(),
            "value": 0,
            "gas": tx["gas"],
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": priority,
        }
        signed = as_signer(self.insurer.account).sign_transaction(txn)
        claim_ids = self._claims_of(tx)
        row_id = self._record(tx["kind"], args, txn, signed, claim_ids)
        with self.journal.transaction() as db:
            self.journal.put("replacements", int(self.journal.get("replacements") or 0) + 1, db)
        log.warning(
            "replaced",
            extra={
                "fields": {
                    "old": tx["hash"],
                    "new": _hex(signed.hash),
                    "nonce": tx["nonce"],
                    "max_fee": max_fee,
                    "priority_fee": priority,
                }
            },
        )
        self._broadcast(row_id, bytes(signed.raw_transaction))
        return True

    @staticmethod
    def _claims_of(tx: sqlite3.Row) -> list[str]:
        args = json.loads(tx["args"])
        return {"settle": args, "approve": args[:1], "deny": args[:1]}.get(tx["kind"], [])

    def _finalize(self, tx: sqlite3.Row, group: list[sqlite3.Row], receipt: Any) -> None:
        """A transaction is deep enough (``receipt`` is its receipt): mark it (and its nonce
        siblings) final and move its claims on, in one write. A revert re-reads the claims
        from the chain."""
        success = bool(receipt["status"])
        claim_ids = self._claims_of(tx)
        with self.journal.transaction() as db:
            db.execute(
                "UPDATE txs SET state=?, block=?, block_hash=?, success=?, updated=?, error=? "
                "WHERE id=?",
                (
                    "done" if success else "failed",
                    int(receipt["blockNumber"]),
                    _hex(receipt["blockHash"]),
                    int(success),
                    time.time(),
                    None if success else f"reverted in block {int(receipt['blockNumber'])}",
                    tx["id"],
                ),
            )
            for other in group:
                if other["id"] != tx["id"]:
                    db.execute(
                        "UPDATE txs SET state='superseded', updated=? WHERE id=?",
                        (time.time(), other["id"]),
                    )
            if success:
                self._resync(db, claim_ids, expect=_AFTER.get(tx["kind"]))
            else:
                self._resync(db, claim_ids, note=f"{tx['kind']} transaction {tx['hash']} reverted")
        _fault_point("finalized")
        if not success and tx["kind"] == "receipts":
            self._receipts_failed(
                json.loads(tx["args"]), f"reverted in block {int(receipt['blockNumber'])}"
            )
        log.info(
            "final",
            extra={
                "fields": {
                    "kind": tx["kind"],
                    "tx": tx["hash"],
                    "block": int(receipt["blockNumber"]),
                    "success": success,
                    "claims": len(claim_ids),
                }
            },
        )

    def _drop(self, group: list[sqlite3.Row]) -> None:
        """Another transaction used this nonce: release the claims to be acted on again."""
        with self.journal.transaction() as db:
            for tx in group:
                db.execute(
                    "UPDATE txs SET state='dropped', updated=? WHERE id=?", (time.time(), tx["id"])
                )
            self._resync(db, self._claims_of(group[0]))

    def _release_orphans(self) -> None:
        """Claims tied to a transaction that is no longer live (a crash between two writes
        of an older version) are re-read from the chain."""
        rows = self.journal.db.execute(
            "SELECT c.claim_id FROM claims c JOIN txs t ON c.tx_id = t.id "
            f"WHERE t.state NOT IN {_in(LIVE_TX_STATES)}",
            LIVE_TX_STATES,
        ).fetchall()
        if rows:
            with self.journal.transaction() as db:
                self._resync(db, [r[0] for r in rows])

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
        now = time.time()
        for claim_id in claim_ids:
            row = db.execute("SELECT * FROM claims WHERE claim_id=?", (claim_id,)).fetchone()
            if row is None:
                continue
            status, approved = self._onchain(claim_id)
            state = _STATE_OF[status]
            if status is ClaimStatus.SUBMITTED:
                state = "manual" if note and expect is None else row["state"]
                if state not in ("approve", "deny", "manual"):
                    state = "new"
            if expect and state != expect:
                log.warning(
                    "unexpected",
                    extra={"fields": {"claim": claim_id, "expected": expect, "chain": state}},
                )
            db.execute(
                "UPDATE claims SET state=?, tx_id=NULL, approved=?, note=COALESCE(?, note), "
                "updated=? WHERE claim_id=?",
                (state, approved, note or None, now, claim_id),
            )

    def _unapply(self, db: sqlite3.Connection, tx: sqlite3.Row) -> None:
        """Undo what a reorged-out transaction did to its claims in the journal: they wait
        for it again."""
        before = {"approve": "approve", "deny": "deny", "settle": "approved"}.get(tx["kind"])
        for claim_id in self._claims_of(tx):
            db.execute(
                "UPDATE claims SET state=?, tx_id=?, updated=? WHERE claim_id=? "
                "AND state NOT IN ('new', 'manual')",
                (before, tx["id"], time.time(), claim_id),
            )


_AFTER = {"approve": "approved", "deny": "denied", "settle": "paid"}

_STATE_OF = {
    ClaimStatus.NONE: "gone",
    ClaimStatus.SUBMITTED: "new",
    ClaimStatus.APPROVED: "approved",
    ClaimStatus.DENIED: "denied",
    ClaimStatus.DISPUTED: "disputed",
    ClaimStatus.PAID: "paid",
}


def _hex(value: Any) -> str:
    if isinstance(value, str):
        return value if value.startswith("0x") else "0x" + value
    return "0x" + bytes(value).hex()


def _bytes(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def _keccak_text(text: str) -> bytes:
    from eth_utils import keccak

    return keccak(text=text)


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 300 else text[:297] + "..."


def _is_connection_error(exc: BaseException) -> bool:
    """Whether an exception means the node is unreachable (retry) rather than a bug."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionError | IPFSUnavailableError | TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _fault_point(name: str) -> None:
    """Test hook: ``CARECHAIN_WORKER_KILL_AT=recorded:3`` makes the process SIGKILL itself
    the 3rd time it passes ``recorded`` (also ``sent``, ``finalized``). Used by the crash
    tests to stop the worker exactly between writing and sending; unset, it does nothing."""
    import os

    spec = os.environ.get("CARECHAIN_WORKER_KILL_AT")
    if not spec:
        return
    point, _, count = spec.partition(":")
    if point != name:
        return
    _FAULT_COUNTS[name] = _FAULT_COUNTS.get(name, 0) + 1
    if _FAULT_COUNTS[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)


_FAULT_COUNTS: dict[str, int] = {}


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
