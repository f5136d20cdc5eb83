"""The worker's journal: one SQLite file holding the cursor, the claims, the decisions and
every transaction, and every statement that reads or writes it. The claim and transaction
states are defined here."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import CarechainError
from ..model import ClaimStatus

#: Claim states in the journal. ``approve``/``deny`` are decided but not yet final on-chain;
#: ``approved`` is final and waits for settlement; the last four are final.
OPEN_STATES = ("new", "approve", "deny", "approved")
FINAL_STATES = ("paid", "denied", "disputed", "gone")
#: The journal's state of a claim the chain has in each status.
STATE_OF = {
    ClaimStatus.NONE: "gone",
    ClaimStatus.SUBMITTED: "new",
    ClaimStatus.APPROVED: "approved",
    ClaimStatus.DENIED: "denied",
    ClaimStatus.DISPUTED: "disputed",
    ClaimStatus.PAID: "paid",
}

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
        rows = self.receipts_to_retry()
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

    # ------------------------------------------------------------------ blocks and scanning
    def known_blocks(self) -> list[sqlite3.Row]:
        """The scanned blocks' (number, hash) kept to find a reorg's fork, newest first."""
        return self.db.execute("SELECT number, hash FROM blocks ORDER BY number DESC").fetchall()

    def remember_blocks(
        self, db: sqlite3.Connection, hashes: Sequence[tuple[int, str]], forget_to: int
    ) -> None:
        """Keep these (number, hash) pairs; forget blocks up to ``forget_to``."""
        db.executemany("INSERT OR REPLACE INTO blocks VALUES (?, ?)", hashes)
        db.execute("DELETE FROM blocks WHERE number <= ?", (forget_to,))

    def rewind(self, db: sqlite3.Connection, ancestor: int) -> None:
        """Forget what was seen after block ``ancestor``: blocks, policies, and claims first
        seen then unless something is in flight for them (the rescan finds those that still
        exist)."""
        db.execute("DELETE FROM claims WHERE block > ? AND state IN ('new', 'manual')", (ancestor,))
        db.execute("DELETE FROM policies WHERE block > ?", (ancestor,))
        db.execute("DELETE FROM blocks WHERE number > ?", (ancestor,))

    def add_policy(
        self, db: sqlite3.Connection, policy_id: int, patient: str, covered: int, block: int
    ) -> None:
        """A policy of this insurer (kept once)."""
        db.execute(
            "INSERT OR IGNORE INTO policies VALUES (?, ?, ?, ?)",
            (policy_id, patient, covered, block),
        )

    def policy_ids(self, db: sqlite3.Connection) -> set[int]:
        """This insurer's policies."""
        return {r[0] for r in db.execute("SELECT policy_id FROM policies")}

    def policy(self, policy_id: int) -> sqlite3.Row | None:
        """A policy: its patient and covered categories."""
        return self.db.execute(
            "SELECT * FROM policies WHERE policy_id = ?", (policy_id,)
        ).fetchone()

    def add_claim(self, db: sqlite3.Connection, claim: dict[str, Any]) -> int:
        """A newly seen claim, state ``new`` (kept once); returns 1 if it was new."""
        return db.execute(
            "INSERT OR IGNORE INTO claims (claim_id, policy_id, provider, amount, "
            "service_date, record_ids, digest, block, state, updated) "
            "VALUES (:claim_id, :policy_id, :provider, :amount, :service_date, :record_ids, "
            ":digest, :block, 'new', :updated)",
            {**claim, "record_ids": json.dumps(claim["record_ids"]), "updated": time.time()},
        ).rowcount

    # ------------------------------------------------------------------ decisions
    def set_decided_by_chain(
        self, db: sqlite3.Connection, claim_id: str, status: ClaimStatus, approved: int
    ) -> None:
        """A claim the chain decided (auto-approved on submission, or decided by hand)."""
        db.execute(
            "UPDATE claims SET state=?, decided_by='chain', approved=?, updated=? WHERE claim_id=?",
            (STATE_OF[status], approved, time.time(), claim_id),
        )

    def set_decision(
        self, db: sqlite3.Connection, claim_id: str, action: str, amount: int, reason: str
    ) -> None:
        """The rules' decision: ``approve`` (amount), ``deny`` (reason code) or ``manual``
        (why a human must look)."""
        db.execute(
            "UPDATE claims SET state=?, decided_by='rules', approve_amount=?, reason=?, "
            "note=?, updated=? WHERE claim_id=?",
            (
                action,
                amount if action == "approve" else None,
                reason if action == "deny" else None,
                reason if action == "manual" else None,
                time.time(),
                claim_id,
            ),
        )

    def tie_claims(self, db: sqlite3.Connection, tx_id: int, claim_ids: Sequence[str]) -> None:
        """These claims wait for transaction ``tx_id``."""
        db.executemany(
            "UPDATE claims SET tx_id=? WHERE claim_id=?", [(tx_id, c) for c in claim_ids]
        )

    def orphaned_claims(self) -> list[str]:
        """Claims tied to a transaction that is no longer live."""
        rows = self.db.execute(
            "SELECT c.claim_id FROM claims c JOIN txs t ON c.tx_id = t.id "
            f"WHERE t.state NOT IN {_in(LIVE_TX_STATES)}",
            LIVE_TX_STATES,
        ).fetchall()
        return [r[0] for r in rows]

    def resync_claim(
        self, db: sqlite3.Connection, claim_id: str, state: str, approved: int, note: str
    ) -> None:
        """Set a claim to what the chain says and release it from its transaction."""
        db.execute(
            "UPDATE claims SET state=?, tx_id=NULL, approved=?, note=COALESCE(?, note), "
            "updated=? WHERE claim_id=?",
            (state, approved, note or None, time.time(), claim_id),
        )

    def unapply(
        self, db: sqlite3.Connection, tx_id: int, before: str | None, claim_ids: Sequence[str]
    ) -> None:
        """Claims a reorged-out transaction had moved on wait for it again, as ``before``."""
        for claim_id in claim_ids:
            db.execute(
                "UPDATE claims SET state=?, tx_id=?, updated=? WHERE claim_id=? "
                "AND state NOT IN ('new', 'manual')",
                (before, tx_id, time.time(), claim_id),
            )

    # ------------------------------------------------------------------ transactions
    def record_tx(self, db: sqlite3.Connection, kind: str, args: list[Any], tx: dict) -> int:
        """A signed transaction (``tx``: nonce, hash, raw, gas, max_fee, priority_fee), state
        ``signed``; returns its row id."""
        cursor = db.execute(
            "INSERT INTO txs (kind, args, nonce, hash, raw, gas, max_fee, priority_fee, "
            "state, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'signed', ?)",
            (
                kind,
                json.dumps(args),
                tx["nonce"],
                tx["hash"],
                tx["raw"],
                tx["gas"],
                tx["max_fee"],
                tx["priority_fee"],
                time.time(),
            ),
        )
        return int(cursor.lastrowid or 0)

    def record_refused(
        self, db: sqlite3.Connection, kind: str, args: list[Any], error: str
    ) -> None:
        """A call the chain refused before it was sent: no transaction exists (nonce -1, no
        bytes); the row keeps what to send and why it failed."""
        db.execute(
            "INSERT INTO txs (kind, args, nonce, hash, raw, gas, max_fee, priority_fee, "
            "state, updated, error) VALUES (?, ?, -1, ?, X'', 0, 0, 0, 'refused', ?, ?)",
            (kind, json.dumps(args), f"refused-{secrets.token_hex(16)}", time.time(), error),
        )

    def highest_unmined_nonce(self) -> int | None:
        """The highest nonce a live, unmined transaction holds."""
        row = self.db.execute(
            f"SELECT MAX(nonce) FROM txs WHERE state IN {_in(UNMINED_TX_STATES)}",
            UNMINED_TX_STATES,
        ).fetchone()
        return row[0]

    def mark_sent(self, db: sqlite3.Connection, tx_id: int) -> None:
        """Broadcast (again): ``sent`` now, out of any block, if it is still live."""
        db.execute(
            "UPDATE txs SET state='sent', sent_at=?, block=NULL, block_hash=NULL, updated=? "
            f"WHERE id=? AND state IN {_in(LIVE_TX_STATES)}",
            (time.time(), time.time(), tx_id, *LIVE_TX_STATES),
        )

    def mark_mined(self, db: sqlite3.Connection, tx_id: int, block: int, block_hash: str) -> None:
        """In a block, not yet deep enough."""
        db.execute(
            "UPDATE txs SET state='mined', block=?, block_hash=?, updated=? WHERE id=?",
            (block, block_hash, time.time(), tx_id),
        )

    def mark_final(
        self,
        db: sqlite3.Connection,
        tx_id: int,
        success: bool,
        block: int,
        block_hash: str,
        error: str | None,
    ) -> None:
        """Deep enough: ``done``, or ``failed`` (reverted) with why."""
        db.execute(
            "UPDATE txs SET state=?, block=?, block_hash=?, success=?, updated=?, error=? "
            "WHERE id=?",
            (
                "done" if success else "failed",
                block,
                block_hash,
                int(success),
                time.time(),
                error,
                tx_id,
            ),
        )

    def set_tx_state(self, db: sqlite3.Connection, tx_id: int, state: str) -> None:
        """Close a transaction row as ``superseded``, ``dropped`` or ``retried``."""
        db.execute("UPDATE txs SET state=?, updated=? WHERE id=?", (state, time.time(), tx_id))

    def reopen_txs(self, db: sqlite3.Connection, ancestor: int) -> list[sqlite3.Row]:
        """Transactions mined after block ``ancestor`` (reorged out) are ``sent`` again, to be
        re-broadcast; returns them as they were."""
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
        return reopened

    def receipts_to_retry(self) -> list[sqlite3.Row]:
        """Receipts anchors that reverted or were refused, oldest first."""
        return self.db.execute(
            "SELECT * FROM txs WHERE kind = 'receipts' AND state IN ('failed', 'refused') "
            "ORDER BY id"
        ).fetchall()
