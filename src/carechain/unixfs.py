"""Rebuild a record's CID from its bytes, so nothing read from IPFS is taken on trust.

carechain stores every ciphertext as a UnixFS file with fixed parameters: CIDv1, dag-pb
nodes for leaves and root, sha2-256, 1 MiB chunks, balanced layout (Kubo's
``add --cid-version=1 --raw-leaves=false --chunker=size-1048576``). Because the layout is
fixed, the CID is a pure function of the bytes: one chunk gives a single leaf node; more
give a root whose links point at the leaves. The chain stores only the 32-byte sha2-256
digest of the root node.
"""

from __future__ import annotations

import base64
import hashlib

CHUNK_SIZE = 1024 * 1024
#: Kubo's balanced builder puts at most this many links in one node; carechain keeps every
#: record to one level, so a record is at most MAX_LINKS chunks (174 MiB).
MAX_LINKS = 174
MAX_FILE_SIZE = CHUNK_SIZE * MAX_LINKS

_DAG_PB = 0x70
_SHA2_256 = 0x12
_UNIXFS_DIRECTORY = 1
_UNIXFS_FILE = 2
#: Kubo's add options that produce exactly the layout this module rebuilds.
KUBO_ADD_PARAMS = {
    "cid-version": "1",
    "raw-leaves": "false",
    "chunker": f"size-{CHUNK_SIZE}",
    "hash": "sha2-256",
}


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _uint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def cid_bytes(digest: bytes) -> bytes:
    """The binary CIDv1 (dag-pb, sha2-256) for a 32-byte digest."""
    if len(digest) != 32:
        raise ValueError(f"a sha2-256 digest is 32 bytes, got {len(digest)}")
    return bytes([1, _DAG_PB, _SHA2_256, 32]) + digest


def cid_from_digest(digest: bytes) -> str:
    """The text CID (base32, ``bafy...``) for an on-chain 32-byte digest."""
    encoded = base64.b32encode(cid_bytes(digest)).decode().lower().rstrip("=")
    return "b" + encoded


def digest_from_cid(cid: str) -> bytes:
    """The 32-byte digest inside a carechain CID; refuses any other kind of CID."""
    if not cid.startswith("b"):
        raise ValueError(f"expected a base32 CIDv1 ('b...'), got {cid!r}")
    body = cid[1:].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError as exc:
        raise ValueError(f"{cid!r} is not valid base32") from exc
    if len(raw) != 36 or raw[:4] != bytes([1, _DAG_PB, _SHA2_256, 32]):
        raise ValueError(f"{cid!r} is not a CIDv1 dag-pb sha2-256 CID")
    return raw[4:]


def leaf_node(chunk: bytes) -> bytes:
    """The dag-pb node Kubo stores for one chunk of a file (a UnixFS file with the bytes)."""
    unixfs = _uint_field(1, _UNIXFS_FILE) + _field(2, chunk) + _uint_field(3, len(chunk))
    return _field(1, unixfs)


def batch_node(digests: list[bytes]) -> bytes:
    """A UnixFS directory node linking records stored together (entries ``000000``,
    ``000001``, ... in order): pinning it keeps every one of them with a single pin (Kubo
    writes its pin set durably once per pin, milliseconds each, so pinning a batch's records
    one by one costs more than storing them). It names only ciphertexts' CIDs, in the order
    they were anchored in one transaction, which the chain shows anyway."""
    if not digests:
        raise ValueError("a batch node links at least one record")
    links = b"".join(
        _field(2, _field(1, cid_bytes(digest)) + _field(2, f"{index:06d}".encode()))
        for index, digest in enumerate(digests)
    )
    return links + _field(1, _uint_field(1, _UNIXFS_DIRECTORY))


def dag_digest(data: bytes) -> bytes:
    """The sha2-256 digest of the root node Kubo builds for ``data`` (see module doc)."""
    if not data:
        raise ValueError("carechain never stores empty content")
    if len(data) > MAX_FILE_SIZE:
        raise ValueError(f"content of {len(data)} bytes exceeds the {MAX_FILE_SIZE}-byte limit")
    chunks = [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)]
    if len(chunks) == 1:
        return hashlib.sha256(leaf_node(chunks[0])).digest()
    links = b""
    for chunk in chunks:
        leaf = leaf_node(chunk)
        link = (
            _field(1, cid_bytes(hashlib.sha256(leaf).digest()))
            + _field(2, b"")
            + _uint_field(3, len(leaf))
        )
        links += _field(2, link)
    unixfs = _uint_field(1, _UNIXFS_FILE) + _uint_field(3, len(data))
    unixfs += b"".join(_uint_field(4, len(chunk)) for chunk in chunks)
    return hashlib.sha256(links + _field(1, unixfs)).digest()


def compute_cid(data: bytes) -> str:
    """The CID Kubo gives ``data`` under carechain's add parameters."""
    return cid_from_digest(dag_digest(data))
