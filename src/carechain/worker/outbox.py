"""Transactions, exactly once: estimate, nonce, sign, journal, send, replace, reconcile.

The outbox knows calls by ``kind`` and ``args`` (what the journal stores) and nothing of
claims: what a call means for the worker's own rows is the :class:`Listener`'s business
(which claims wait for a transaction; what a refusal, a landing or a lost nonce does to
them), told inside the same journal write.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import IPFSUnavailableError
from ..onchain.contract import BoundFunction, describe
from ..onchain.rpc import Node, Reverted
from ..onchain.signer import Signer
from .journal import Journal

log = logging.getLogger("carechain.worker")

#: What a journal entry stands for: (kind, args) -> (the contract function, its arguments).
CallOf = Callable[[str, list[Any]], tuple[BoundFunction, list[Any]]]


class Listener(Protocol):
    """What the outbox's transactions mean to their owner (the worker's claims)."""

    def tie(self, db: sqlite3.Connection, kind: str, args: list[Any], tx_id: int) -> None:
        """Rows that wait for this transaction (inside its journal write)."""

    def refused(self, db: sqlite3.Connection, kind: str, args: list[Any], error: str) -> None:
        """The chain refused the call before anything was signed or sent."""

    def final(self, db: sqlite3.Connection, tx: sqlite3.Row, success: bool) -> None:
        """The transaction is deep enough: it succeeded, or reverted."""

    def dropped(self, db: sqlite3.Connection, tx: sqlite3.Row) -> None:
        """Something else used the transaction's nonce: it will never land."""

    def not_landed(self, kind: str, args: list[Any], error: str) -> None:
        """After the write: a refused or reverted call (to log, say)."""

    def finalizing(self, txs: list[sqlite3.Row]) -> None:
        """Before a reconcile's ``final`` calls: these transactions are deep enough (a
        chance to read what they touched in one batch)."""

    def finalized(self) -> None:
        """After that reconcile."""


class Outbox:
    """One account's transactions through the journal."""

    def __init__(
        self,
        node: Node,
        signer: Signer,
        journal: Journal,
        call_of: CallOf,
        listener: Listener,
        confirmations: int,
        fee_bump: float,
        replace_after: float,
    ) -> None:
        self.node = node
        self.signer = signer
        self.journal = journal
        self.call_of = call_of
        self.listener = listener
        self.confirmations = confirmations
        self.fee_bump = fee_bump
        self.replace_after = replace_after

    # ------------------------------------------------------------------ sending
    def submit(self, kind: str, args: list[Any]) -> int:
        """Sign, write, then send one transaction; returns 1, or 0 when the chain would
        refuse the call (then nothing is signed or sent and the listener is told)."""
        method, params = self.call_of(kind, args)
        try:
            txn = self.node.prepare(self.signer, method.contract.address, method.encode(*params))
        except Exception as exc:
            if is_connection_error(exc):
                raise
            error = describe(exc) if isinstance(exc, Reverted) else short(exc)
            log.warning("refused", extra={"fields": {"kind": kind, "args": args, "error": error}})
            with self.journal.transaction() as db:
                self.listener.refused(db, kind, args, error)
            self.listener.not_landed(kind, args, error)
            return 0
        txn["nonce"] = self._next_nonce()
        signed = self.signer.sign_transaction(txn)
        row_id = self._record(kind, args, txn, signed)
        self._broadcast(row_id, bytes(signed.raw_transaction))
        return 1

    def submit_many(self, calls: list[tuple[str, list[Any]]]) -> int:
        """:meth:`submit` for several independent calls (decisions on different claims, say)
        with four round trips in all rather than five per call: one batch of estimates, the
        nonce, one journal write for every signed transaction, one batch of sends. Each is
        still written before anything is sent; one the chain would refuse is told to the
        listener and takes no nonce. Returns how many were sent."""
        if len(calls) <= 1:
            return sum(self.submit(kind, args) for kind, args in calls)
        methods = [self.call_of(kind, args) for kind, args in calls]
        prepared = self.node.prepare_many(
            self.signer,
            [(method.contract.address, method.encode(*params)) for method, params in methods],
        )
        accepted: list[tuple[str, list[Any], dict[str, Any]]] = []
        for (kind, args), txn in zip(calls, prepared, strict=True):
            if isinstance(txn, Exception):
                error = describe(txn) if isinstance(txn, Reverted) else short(txn)
                log.warning(
                    "refused", extra={"fields": {"kind": kind, "args": args, "error": error}}
                )
                with self.journal.transaction() as db:
                    self.listener.refused(db, kind, args, error)
                self.listener.not_landed(kind, args, error)
            else:
                accepted.append((kind, args, txn))
        if not accepted:
            return 0
        nonce = self._next_nonce()
        signed_all = []
        for offset, (_, _, txn) in enumerate(accepted):
            txn["nonce"] = nonce + offset
            signed_all.append(self.signer.sign_transaction(txn))
        with self.journal.transaction() as db:
            row_ids = []
            for (kind, args, txn), signed in zip(accepted, signed_all, strict=True):
                row_ids.append(self.journal.record_tx(db, kind, args, _row(txn, signed)))
                self.listener.tie(db, kind, args, row_ids[-1])
        for _ in row_ids:
            fault_point("recorded")
        answers = self.node.send_raw_many([bytes(s.raw_transaction) for s in signed_all])
        for row_id, answer in zip(row_ids, answers, strict=True):
            if isinstance(answer, Exception):  # as in _broadcast: reconciling sorts it out
                log.info("send", extra={"fields": {"tx": row_id, "note": short(answer)}})
            fault_point("sent")
        with self.journal.transaction() as db:
            for row_id in row_ids:
                self.journal.mark_sent(db, row_id)
        return len(row_ids)

    def _next_nonce(self) -> int:
        pending = self.node.nonce(self.signer.address, "pending")
        highest = self.journal.highest_unmined_nonce()
        return max(pending, highest + 1 if highest is not None else 0)

    def _record(self, kind: str, args: list[Any], txn: dict[str, Any], signed: Any) -> int:
        """Write a signed transaction (``txn`` as signed) and tie its rows to it, atomically,
        before sending."""
        with self.journal.transaction() as db:
            row_id = self.journal.record_tx(db, kind, args, _row(txn, signed))
            self.listener.tie(db, kind, args, row_id)
        fault_point("recorded")
        return row_id

    def _broadcast(self, row_id: int, raw: bytes) -> None:
        try:
            self.node.send_raw(raw)
        except Exception as exc:
            if is_connection_error(exc):
                raise
            # "already known" (sent before a restart) or "nonce too low" (it or a
            # replacement landed): reconciliation sorts both out from the chain.
            log.info("send", extra={"fields": {"tx": row_id, "note": short(exc)}})
        fault_point("sent")
        with self.journal.transaction() as db:
            self.journal.mark_sent(db, row_id)

    # ------------------------------------------------------------------ reconciling
    def reconcile(self, head: int) -> tuple[int, int]:
        """Bring every live transaction up to date with the chain; returns (finalized,
        replaced)."""
        by_nonce: dict[int, list[sqlite3.Row]] = {}
        for tx in self.journal.live_txs():
            by_nonce.setdefault(tx["nonce"], []).append(tx)
        if not by_nonce:
            return 0, 0
        latest = self.node.nonce(self.signer.address, "latest")
        raws = self.node.receipts([tx["hash"] for group in by_nonce.values() for tx in group])
        deep = [
            tx
            for group in by_nonce.values()
            for tx in group
            if (r := _receipt(raws[tx["hash"]]))
            and head - r["blockNumber"] + 1 >= self.confirmations
        ]
        if deep:
            self.listener.finalizing(deep)
        try:
            return self._reconcile(head, by_nonce, raws, latest)
        finally:
            self.listener.finalized()

    def _reconcile(
        self,
        head: int,
        by_nonce: dict[int, list[sqlite3.Row]],
        raws: dict[str, dict[str, Any] | None],
        latest: int,
    ) -> tuple[int, int]:
        finalized = replaced = 0
        for nonce, group in sorted(by_nonce.items()):
            mined = None
            for tx in group:
                receipt = _receipt(raws[tx["hash"]])
                if receipt is not None:
                    mined = (tx, receipt)
                    break
            if mined is not None:
                tx, receipt = mined
                depth = head - receipt["blockNumber"] + 1
                if depth >= self.confirmations:
                    self._finalize(tx, group, receipt)
                    finalized += 1
                else:
                    with self.journal.transaction() as db:
                        self.journal.mark_mined(
                            db, tx["id"], receipt["blockNumber"], receipt["blockHash"]
                        )
                continue
            if latest > nonce:
                # The nonce was used, but by none of ours: something else sent with this
                # account. The listener re-reads what depended on it.
                with self.journal.transaction() as db:
                    for tx in group:
                        self.journal.set_tx_state(db, tx["id"], "dropped")
                    self.listener.dropped(db, group[0])
                finalized += 1
                continue
            newest = group[-1]
            if self.node.transaction(newest["hash"]) is None:
                self._broadcast(newest["id"], newest["raw"])
            elif time.time() - (newest["sent_at"] or 0) >= self.replace_after:
                replaced += self._replace(newest)
        return finalized, replaced

    def _replace(self, tx: sqlite3.Row) -> bool:
        """Re-sign the same call with the same nonce at ≥ ``fee_bump`` times the fees.
        Returns False, sending nothing, when the nonce was used meanwhile (a transaction
        re-broadcast after a reorg was just mined, say): the next pass finds its receipt."""
        priority = math.ceil(tx["priority_fee"] * self.fee_bump) + 1
        base = int(self.node.block().get("baseFeePerGas") or "0x0", 16)
        max_fee = max(math.ceil(tx["max_fee"] * self.fee_bump) + 1, priority + 2 * base)
        args = json.loads(tx["args"])
        method, params = self.call_of(tx["kind"], args)
        if tx["nonce"] < self.node.nonce(self.signer.address, "latest"):
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
        signed = self.signer.sign_transaction(txn)
        row_id = self._record(tx["kind"], args, txn, signed)
        with self.journal.transaction() as db:
            self.journal.put("replacements", int(self.journal.get("replacements") or 0) + 1, db)
        log.warning(
            "replaced",
            extra={
                "fields": {
                    "old": tx["hash"],
                    "new": hex_of(signed.hash),
                    "nonce": tx["nonce"],
                    "max_fee": max_fee,
                    "priority_fee": priority,
                }
            },
        )
        self._broadcast(row_id, bytes(signed.raw_transaction))
        return True

    def _finalize(self, tx: sqlite3.Row, group: list[sqlite3.Row], receipt: dict) -> None:
        """A transaction is deep enough: mark it (and its nonce siblings) final and tell the
        listener, in one write."""
        success = bool(receipt["status"])
        block = receipt["blockNumber"]
        error = None if success else f"reverted in block {block}"
        with self.journal.transaction() as db:
            self.journal.mark_final(db, tx["id"], success, block, receipt["blockHash"], error)
            for other in group:
                if other["id"] != tx["id"]:
                    self.journal.set_tx_state(db, other["id"], "superseded")
            self.listener.final(db, tx, success)
        fault_point("finalized")
        if error:
            self.listener.not_landed(tx["kind"], json.loads(tx["args"]), error)
        log.info(
            "final",
            extra={
                "fields": {"kind": tx["kind"], "tx": tx["hash"], "block": block, "success": success}
            },
        )

    def reopen_after(self, db: sqlite3.Connection, ancestor: int) -> list[sqlite3.Row]:
        """A reorg forked after block ``ancestor``: transactions mined after it are live
        again (re-sent on the next reconcile); returns them."""
        return self.journal.reopen_txs(db, ancestor)


# ------------------------------------------------------------------------------ helpers


def _receipt(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """A mined transaction's block number, block hash and status, from its raw receipt (None
    if it is not mined)."""
    if raw is None or not raw.get("blockNumber"):
        return None
    return {
        "blockNumber": int(raw["blockNumber"], 16),
        "blockHash": str(raw["blockHash"]),
        "status": int(raw.get("status", "0x1"), 16),
    }


def _row(txn: dict[str, Any], signed: Any) -> dict[str, Any]:
    """What the journal keeps of a signed transaction (``txn`` as signed)."""
    max_fee = txn.get("maxFeePerGas", txn.get("gasPrice", 0))
    return {
        "nonce": txn["nonce"],
        "hash": hex_of(signed.hash),
        "raw": bytes(signed.raw_transaction),
        "gas": txn["gas"],
        "max_fee": max_fee,
        "priority_fee": txn.get("maxPriorityFeePerGas", max_fee),
    }


def hex_of(value: Any) -> str:
    """A hash as 0x-prefixed hex, whichever form it comes in."""
    if isinstance(value, str):
        return value if value.startswith("0x") else "0x" + value
    return "0x" + bytes(value).hex()


def short(exc: BaseException) -> str:
    """An exception on one line of at most 300 characters."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 300 else text[:297] + "..."


def is_connection_error(exc: BaseException) -> bool:
    """Whether an exception means the node or Kubo is unreachable (retry) rather than a
    bug."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionError | IPFSUnavailableError | TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def fault_point(name: str) -> None:
    """Test hook: ``CARECHAIN_WORKER_KILL_AT=recorded:3`` makes the process SIGKILL itself
    the 3rd time it passes ``recorded`` (also ``sent``, ``finalized``). Used by the crash
    tests to stop the worker exactly between writing and sending; unset, it does nothing."""
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
