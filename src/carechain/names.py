"""A local address book: the names a person gives the addresses they deal with ("St Mary's
Hospital", "Dr Okafor"), so that pages and tables show who, not only ``0x7099…79C8``.

The names stay on this machine, in one file of the project's data folder
(``<state_dir>/names.json``, readable by its owner only): a name is personal information, so
it is never sent to the chain, IPFS or anyone else, and nobody can make a page show a name
they chose (only the person at this machine writes the file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_utils import is_address, to_checksum_address

from .errors import ConfigurationError

#: The longest name kept (a table's column, a line of a page).
MAX_NAME = 40


class AddressBook:
    """Names of addresses, kept in ``path`` (a JSON object: checksummed address → name)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.names: dict[str, str] = {}
        if path.exists():
            try:
                stored = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise ConfigurationError(
                    f"{path} is not an address book ({exc}); fix or delete it"
                ) from exc
            if not isinstance(stored, dict):
                raise ConfigurationError(f"{path} is not an address book; fix or delete it")
            self.names = {
                to_checksum_address(a): str(n) for a, n in stored.items() if is_address(a)
            }

    @classmethod
    def default(cls) -> AddressBook:
        """The address book of this machine's carechain data folder."""
        from .settings import get_settings

        return cls(get_settings().state_dir / "names.json")

    def name(self, address: str) -> str | None:
        """The name given to ``address``, if any."""
        return self.names.get(to_checksum_address(address)) if is_address(address) else None

    def set(self, address: str, name: str) -> None:
        """Name ``address`` (replacing an earlier name) and save."""
        text = " ".join(name.split())
        if not text or len(text) > MAX_NAME or not text.isprintable():
            raise ValueError(f"a name is 1 to {MAX_NAME} printable characters, got {name!r}")
        self.names[to_checksum_address(address)] = text
        self._save()

    def remove(self, address: str) -> bool:
        """Forget the name of ``address``; returns whether it had one."""
        known = self.names.pop(to_checksum_address(address), None) is not None
        if known:
            self._save()
        return known

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(dict(sorted(self.names.items())), out, indent=2)
            out.write("\n")
        tmp.replace(self.path)
