"""A local index of one deployment's events: what a client has already read, kept in SQLite.

A listing catches the index up (only the blocks since the last one it read, in the pages
:meth:`Node.logs` reads) and then answers from the file, so its cost grows with what is new,
not with the chain. The index keeps the hashes of the last blocks it read: when the chain no
longer has one of them (a reorg), what was read after the last common block is dropped and
read again. It is a cache: deleting the file costs only a rescan.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .rpc import Node

#: How many recent block hashes are kept to find where a reorg forked.
REORG_WINDOW = 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    block INTEGER NOT NULL, log_index INTEGER NOT NULL, address TEXT NOT NULL,
    topic0 TEXT, topic1 TEXT, topic2 TEXT, topic3 TEXT, data TEXT NOT NULL,
    tx TEXT NOT NULL, block_hash TEXT NOT NULL, PRIMARY KEY (block, log_index));
CREATE INDEX IF NOT EXISTS logs_by_event ON logs (address, topic0, topic1);
"""


class LogIndex:
    """The logs of ``addresses`` from block ``since`` on, as read from ``node``."""

    def __init__(self, path: Path, node: Node, addresses: Sequence[str], since: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.node = node
        self.addresses = [a.lower() for a in addresses]
        self.since = since
        self._lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        stored = self._get("scope")
        scope = f"{node.chain_id}:{','.join(sorted(self.addresses))}:{since}"
        if stored is not None and stored != scope:  # another deployment or chain: start over
            self.db.executescript("DELETE FROM logs; DELETE FROM blocks; DELETE FROM meta;")
        self._put("scope", scope)

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    def _get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _put(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, str(value)),
        )

    @property
    def cursor(self) -> int:
        """The last block read."""
        value = self._get("cursor")
        return int(value) if value is not None else self.since - 1

    def catch_up(self) -> int:
        """Read what is new since the last block read (after undoing a reorg); returns how
        many logs were added."""
        with self._lock:
            self._undo_reorg()
            head = self.node.block_number()
            start = self.cursor + 1
            if head < start:
                return 0
            raws = self.node.logs(self.addresses, [], start, head)
            hashes = [
                (n, str(self.node.block(n)["hash"]))
                for n in range(max(start, head - REORG_WINDOW + 1), head + 1)
            ]
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany(
                    "INSERT OR REPLACE INTO logs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [_row(raw) for raw in raws],
                )
                self.db.executemany("INSERT OR REPLACE INTO blocks VALUES (?, ?)", hashes)
                self.db.execute("DELETE FROM blocks WHERE number <= ?", (head - REORG_WINDOW,))
                self._put("cursor", head)
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
            return len(raws)

    def _undo_reorg(self) -> None:
        known = self.db.execute("SELECT number, hash FROM blocks ORDER BY number DESC").fetchall()
        if not known or self._canonical(*known[0]):
            return
        ancestor = next((n for n, h in known if self._canonical(n, h)), None)
        rewind = self.since - 1 if ancestor is None else ancestor  # deeper: read it all again
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("DELETE FROM logs WHERE block > ?", (rewind,))
        self.db.execute("DELETE FROM blocks WHERE number > ?", (rewind,))
        self._put("cursor", rewind)
        self._put("reorgs", int(self._get("reorgs") or 0) + 1)
        self.db.execute("COMMIT")

    def _canonical(self, number: int, block_hash: str) -> bool:
        try:
            return str(self.node.block(number)["hash"]) == block_hash
        except Exception:  # the chain is shorter than that now
            return False

    def logs(
        self, address: str, topics: list[Any], start: int, stop: int | str = "latest"
    ) -> list[dict[str, Any]]:
        """Raw logs as ``eth_getLogs`` gives them, from the index (caught up first)."""
        self.catch_up()
        sql = "SELECT * FROM logs WHERE address = ? AND block >= ?"
        params: list[Any] = [address.lower(), start]
        if stop != "latest":
            sql += " AND block <= ?"
            params.append(int(stop))
        for position, topic in enumerate(topics):
            if topic is not None:
                sql += f" AND topic{position} = ?"
                params.append(str(topic).lower())
        rows = self.db.execute(sql + " ORDER BY block, log_index", params).fetchall()
        return [_raw(row) for row in rows]


def _row(raw: dict[str, Any]) -> tuple:
    topics = [str(t).lower() for t in raw["topics"]] + [None] * (4 - len(raw["topics"]))
    return (
        int(raw["blockNumber"], 16),
        int(raw["logIndex"], 16),
        str(raw["address"]).lower(),
        *topics[:4],
        str(raw["data"]),
        str(raw["transactionHash"]),
        str(raw["blockHash"]),
    )


def _raw(row: tuple) -> dict[str, Any]:
    block, log_index, address, *topics, data, tx, block_hash = row
    return {
        "blockNumber": hex(block),
        "logIndex": hex(log_index),
        "address": address,
        "topics": [t for t in topics if t is not None],
        "data": data,
        "transactionHash": tx,
        "blockHash": block_hash,
    }
