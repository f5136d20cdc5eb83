"""Settings from one place: the environment (prefix ``CARECHAIN_``) over defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Where carechain finds its tools, its node and its deployments.

    Every field can be set with an environment variable, e.g. ``CARECHAIN_IPFS_API``.
    Secrets (private keys) are never read from here: they stay with the caller.
    """

    model_config = SettingsConfigDict(env_prefix="CARECHAIN_")

    #: URL of a Kubo RPC API to use instead of starting a managed node.
    ipfs_api: str | None = None
    #: The Kubo executable; by default ``ipfs`` on PATH, else the project's own build.
    kubo_binary: Path | None = None
    #: Folder for managed Kubo repositories (git-ignored).
    state_dir: Path = PROJECT_ROOT / ".carechain"
    #: Folder holding ``<network>.json`` deployment files.
    deployments_dir: Path = PROJECT_ROOT / "deployments"
    #: Seconds to wait for one IPFS request.
    ipfs_timeout: float = 60.0
    #: What happens to a device reading that fails its check (unknown or decommissioned
    #: device, failed quality check, another patient's device, rotated-out key, tampered):
    #: ``refuse`` it, or ``mark`` it untrusted and keep it (carechain.devices).
    untrusted_readings: str = "refuse"


def get_settings() -> Settings:
    """Read the settings afresh (the environment may have changed)."""
    return Settings()
