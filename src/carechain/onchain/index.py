"""A local index of one deployment's events: what a client has already read, kept in SQLite.

A listing catches the index up (only the blocks since the last one it read, in the pages
:meth:`Node.logs` reads) and then answers from the file, so its cost grows with what is new,
not with the chain. The index keeps the hashes of the last blocks it read: when the chain no
longer has one of them (a reorg), what was read after the last common block is dropped and
read again. It is a cache: deleting the file costs only a rescan.

A first catch-up on a long chain streams: each page of logs (:meth:`Node.log_pages`) is
written in its own transaction, with the cursor after it and the hashes of its blocks that
are among the last REORG_WINDOW, so memory holds a page (and the next, read meanwhile by a
thread), never every log, and an interrupted catch-up resumes where it stopped. Being a
cache, the file is written without waiting for the disk (``synchronous=OFF``): a crash of
the machine may cost a rescan, never a wrong answer from a complete file.

Rows are compact, for a million logs and more: hashes, topics and data are stored as bytes,
the emitting contract as its position in the index's list, and each log's place in the
chain as one integer (block << 32 | log index), which is the table's own key, so rows are
appended in chain order and no separate index orders them.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ChainError
from .rpc import Node

#: How many recent block hashes are kept to find where a reorg forked.
REORG_WINDOW = 64
#: The file's layout; a file of another layout (or deployment, or chain) is rebuilt.
SCHEMA_VERSION = 2

_TABLES = """
CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY, address INTEGER NOT NULL,
    topic0 BLOB, topic1 BLOB, topic2 BLOB, topic3 BLOB,
    data BLOB NOT NULL, tx BLOB NOT NULL, block_hash BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS logs_by_event ON logs (address, topic0);
CREATE INDEX IF NOT EXISTS logs_by_topic1 ON logs (topic1) WHERE topic1 IS NOT NULL;
CREATE INDEX IF NOT EXISTS logs_by_topic2 ON logs (topic2) WHERE topic2 IS NOT NULL;
CREATE INDEX IF NOT EXISTS logs_by_topic3 ON logs (topic3) WHERE topic3 IS NOT NULL;
"""
_DROP_INDEXES = """
DROP INDEX IF EXISTS logs_by_event; DROP INDEX IF EXISTS logs_by_topic1;
DROP INDEX IF EXISTS logs_by_topic2; DROP INDEX IF EXISTS logs_by_topic3;
"""
# A listing filters on one indexed argument of one event, in any of the three topic
# positions (a patient is topic2 of RecordAnchored, the patient of AccessBatchAnchored is
# topic3): each position has its index, so a listing reads its own rows, not every row of
# the event. Topic values are hashes, ids or addresses: one is (nearly) unique to its event.

#: A log's place: block << _SHIFT | log index.
_SHIFT = 32

T = TypeVar("T")


class LogIndex:
    """The logs of ``addresses`` from block ``since`` on, as read from ``node``."""

    def __init__(self, path: Path, node: Node, addresses: Sequence[str], since: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.node = node
        self.addresses = sorted(a.lower() for a in addresses)
        self._position = {a: i for i, a in enumerate(self.addresses)}
        self.since = since
        self._lock = threading.Lock()
        # Calls are numbered in the order they are made; ``_covered`` is the number the last
        # catch-up that succeeded took when it began (see :meth:`catch_up`).
        self._calls = itertools.count(1)
        self._covered = 0
        self._held = 0
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=OFF")  # a cache: see the module's docstring
        self.db.execute("PRAGMA cache_size=-32768")  # 32 MiB: the topic indexes grow randomly
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        scope = f"v{SCHEMA_VERSION}:{node.chain_id}:{','.join(self.addresses)}:{since}"
        stored = self._get("scope")
        if stored is not None and stored != scope:  # another layout, deployment or chain
            self.db.executescript("DROP TABLE IF EXISTS logs; DROP TABLE IF EXISTS blocks; "
                                  "DELETE FROM meta;")  # fmt: skip
        self.db.executescript(_TABLES)
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
        many logs were added.

        Calls made at once (a worker's threads each reading a claim's evidence) share one
        catch-up: a call that waited for the lock while a catch-up that began after it was
        made succeeded returns at once, since that one read the chain as it was when this
        call was made, or later."""
        call = next(self._calls)
        with self._lock:
            if self._covered > call or self._held:
                return 0
            began = next(self._calls)
            added = self._catch_up()
            self._covered = began
            return added

    @contextmanager
    def held(self) -> Iterator[int]:
        """Catch up once, then answer every listing inside the block from the file as it is
        (yields the head read to): for a caller that works on one moment of the chain in
        many reads at once, such as the worker deciding a round of claims as of the blocks
        it scanned. What is mined meanwhile is read by the first listing after the block."""
        self.catch_up()
        with self._lock:
            self._held += 1
        try:
            yield self.cursor
        finally:
            with self._lock:
                self._held -= 1

    def _catch_up(self) -> int:
        """Read from the cursor to the head (under the lock)."""
        head = self._undo_reorg()
        start = self.cursor + 1
        if head < start:
            return 0
        # A first sync writes the rows first and builds the topic indexes once at the end
        # (sorting is some times faster than growing them row by row at random places);
        # if it is interrupted, opening the file builds them over what was written.
        first = self.db.execute("SELECT 1 FROM logs LIMIT 1").fetchone() is None
        if first:
            self.db.executescript(_DROP_INDEXES)
        added, low = 0, start
        try:
            pages = self.node.log_pages(self.addresses, [], start, head)
            for high, page in _one_ahead(pages):
                recent = range(max(low, head - REORG_WINDOW + 1), high + 1)
                added += self._write(page, high, self._hashes(recent, head))
                low = high + 1
        finally:
            if first:
                self.db.executescript(_TABLES)
        return added

    def _hashes(self, numbers: range, head: int) -> list[tuple[int, str]]:
        """The hashes of blocks ``numbers``, in one request."""
        replies = self.node.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        hashes = []
        for number, reply in zip(numbers, replies, strict=True):
            if not isinstance(reply, dict):
                raise ChainError(f"the node has no block {number} below its head {head}")
            hashes.append((number, str(reply["hash"])))
        return hashes

    def _write(self, raws: list[dict[str, Any]], cursor: int, hashes: list[tuple[int, str]]) -> int:
        """Add ``raws`` and move the cursor to ``cursor`` (keeping the hashes of its recent
        blocks), in one transaction."""
        rows = _rows(raws, self._position)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("INSERT OR REPLACE INTO logs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                rows)  # fmt: skip
            if hashes:
                self.db.executemany("INSERT OR REPLACE INTO blocks VALUES (?, ?)", hashes)
                self.db.execute("DELETE FROM blocks WHERE number <= ?", (cursor - REORG_WINDOW,))
            self._put("cursor", cursor)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return len(rows)

    def _undo_reorg(self) -> int:
        """Roll back what a reorg undid, if the last block kept is no longer the chain's;
        returns the head. When nothing changed this is one round trip (the head's number and
        the last kept block, batched)."""
        known = self.db.execute("SELECT number, hash FROM blocks ORDER BY number DESC").fetchall()
        if not known:
            return self.node.block_number()
        number, block = self.node.batch(
            [("eth_blockNumber", []), ("eth_getBlockByNumber", [hex(known[0][0]), False])]
        )
        if isinstance(number, Exception):
            raise number
        if isinstance(block, dict) and str(block["hash"]) == known[0][1]:
            return int(number, 16)
        ancestor = next((n for n, h in known[1:] if self._canonical(n, h)), None)
        rewind = self.since - 1 if ancestor is None else ancestor  # deeper: read it all again
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("DELETE FROM logs WHERE id >= ?", ((rewind + 1) << _SHIFT,))
        self.db.execute("DELETE FROM blocks WHERE number > ?", (rewind,))
        self._put("cursor", rewind)
        self._put("reorgs", int(self._get("reorgs") or 0) + 1)
        self.db.execute("COMMIT")
        return self.node.block_number()

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
        position = self._position.get(address.lower())
        if position is None:
            raise ValueError(f"the index does not follow {address}")
        filtered = any(topic is not None for topic in topics[1:])
        # With an argument to match, its topic's index finds the rows: "+" keeps SQLite from
        # choosing the (address, event) index, which would read every row of the event.
        plus = "+" if filtered else ""
        sql = f"SELECT * FROM logs WHERE {plus}address = ? AND id >= ?"
        params: list[Any] = [position, start << _SHIFT]
        if stop != "latest":
            sql += " AND id < ?"
            params.append((int(stop) + 1) << _SHIFT)
        for n, topic in enumerate(topics):
            if topic is None:
                continue
            values = topic if isinstance(topic, list) else [topic]  # a list: any of them
            marks = ", ".join("?" * len(values))
            sql += f" AND {plus if n == 0 else ''}topic{n} IN ({marks})"
            params += [bytes.fromhex(str(v)[2:]) for v in values]
        rows = self.db.execute(sql + " ORDER BY id", params).fetchall()
        return [_raw(row, self.addresses) for row in rows]


def _one_ahead(items: Iterator[T]) -> Iterator[T]:
    """``items``, the next one read by a thread while the caller handles this one (reading a
    page is mostly waiting for the node and parsing; writing one is mostly SQLite, which lets
    go of the interpreter)."""
    with ThreadPoolExecutor(1, thread_name_prefix="log-pages") as pool:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item


def _rows(raws: list[dict[str, Any]], position: dict[str, int]) -> list[tuple]:
    """Raw logs as rows (a loop of its own: this runs once per log of a first sync)."""
    fromhex = bytes.fromhex
    rows = []
    for raw in raws:
        topics = raw["topics"]
        n = len(topics)
        address = raw["address"]
        rows.append((
            int(raw["blockNumber"], 16) << _SHIFT | int(raw["logIndex"], 16),
            position[address] if address in position else position[address.lower()],
            fromhex(topics[0][2:]) if n > 0 else None,
            fromhex(topics[1][2:]) if n > 1 else None,
            fromhex(topics[2][2:]) if n > 2 else None,
            fromhex(topics[3][2:]) if n > 3 else None,
            fromhex(raw["data"][2:]),
            fromhex(raw["transactionHash"][2:]),
            fromhex(raw["blockHash"][2:]),
        ))  # fmt: skip
    return rows


def _raw(row: tuple, addresses: list[str]) -> dict[str, Any]:
    place, address, *topics, data, tx, block_hash = row
    return {
        "blockNumber": hex(place >> _SHIFT),
        "logIndex": hex(place & ((1 << _SHIFT) - 1)),
        "address": addresses[address],
        "topics": ["0x" + t.hex() for t in topics if t is not None],
        "data": "0x" + data.hex(),
        "transactionHash": "0x" + tx.hex(),
        "blockHash": "0x" + block_hash.hex(),
    }
