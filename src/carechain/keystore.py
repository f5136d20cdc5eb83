"""Key files: a party's HPKE private key on its own disk, never on-chain or in logs."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

from .crypto import KemSuite, KeyPair
from .errors import ConfigurationError

log = logging.getLogger(__name__)


def save_key_pair(key_pair: KeyPair, path: Path) -> None:
    """Write ``key_pair`` to ``path``, readable by the owner only (mode 0600)."""
    path = Path(path)
    if path.exists():
        raise ConfigurationError(f"{path} exists; refusing to overwrite a private key")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"suite": key_pair.suite.name, "private_key": key_pair.private_bytes().hex()}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(payload, handle)
        handle.write("\n")


def load_key_pair(path: Path) -> KeyPair:
    """Read a key file written by :func:`save_key_pair`."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning(
                "key file %s can be read by other users (mode %o): whoever reads it can "
                "decrypt everything it opens; run chmod 600 %s",
                path,
                mode,
                path,
            )
        payload = json.loads(path.read_text())
        return KeyPair(KemSuite[payload["suite"]], bytes.fromhex(payload["private_key"]))
    except FileNotFoundError as exc:
        raise ConfigurationError(
            f"no key file at {path}; create one with `carechain keys generate {path}`"
        ) from exc
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"{path} is not a carechain key file (one holds a key suite and a private key, "
            f"as `carechain keys generate {path.name}` writes it): pass the key file you "
            "generated and published for this account"
        ) from exc
