"""A managed Kubo node: private repo, loopback only, started and stopped by carechain.

The node has no bootstrap peers, MDNS off, routing ``none``, no AutoTLS, no relays, no
telemetry, and binds its API, gateway and swarm to 127.0.0.1 on free ports, so it never
contacts any other machine. Nobody starts a daemon by hand: :class:`KuboNode` is used by
the SDK, the demo and the test fixtures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import CarechainError, ConfigurationError, IPFSUnavailableError
from .ipfs import IPFSClient
from .settings import PROJECT_ROOT, get_settings

KUBO_VERSION = "0.39.0"
_INSTALL_HINT = (
    "Kubo (the `ipfs` command) was not found. Run `make setup` (it builds Kubo "
    f"v{KUBO_VERSION} with Go into .tools/bin), or install Kubo yourself and put `ipfs` "
    "on PATH, or point CARECHAIN_KUBO_BINARY at it."
)

#: Kubo's ``init`` profiles for a new repository: ``test`` (loopback addresses, no
#: bootstrap peers) and ``pebbleds`` (blocks and metadata in one Pebble key-value store).
_PROFILES = "test,pebbleds"

#: Configuration that keeps the node on loopback and silent towards the internet.
_PRIVATE_CONFIG: list[tuple[str, str]] = [
    ("Addresses.API", '"/ip4/127.0.0.1/tcp/0"'),
    ("Addresses.Gateway", '"/ip4/127.0.0.1/tcp/0"'),
    ("Addresses.Swarm", '["/ip4/127.0.0.1/tcp/0"]'),
    ("Addresses.Announce", "[]"),
    ("Bootstrap", "[]"),
    ("Peering.Peers", "[]"),
    ("Discovery.MDNS.Enabled", "false"),
    ("Routing.Type", '"none"'),
    ("AutoConf.Enabled", "false"),
    ("AutoTLS.Enabled", "false"),
    ("AutoNAT.ServiceMode", '"disabled"'),
    ("Swarm.RelayClient.Enabled", "false"),
    ("Swarm.RelayService.Enabled", "false"),
    ("Swarm.DisableNatPortMap", "true"),
    ("Provide.Enabled", "false"),
    ("Plugins.Plugins", '{"telemetry": {"Config": {"Mode": "off"}}}'),
]


def find_kubo() -> Path:
    """The Kubo executable: the configured one, ``ipfs`` on PATH, or the project's build."""
    configured = get_settings().kubo_binary
    candidates = [configured] if configured else []
    on_path = shutil.which("ipfs")
    if on_path:
        candidates.append(Path(on_path))
    candidates.append(PROJECT_ROOT / ".tools" / "bin" / "ipfs")
    for candidate in candidates:
        if candidate and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ConfigurationError(_INSTALL_HINT)


class KuboNode:
    """One private Kubo daemon with its own repository.

    Use as a context manager: ``with KuboNode(path) as node: node.client.add(...)``.
    The repository survives a stop, so content persists across runs of the demo.
    """

    def __init__(
        self,
        repo: Path,
        binary: Path | None = None,
        start_timeout: float = 60.0,
        *,
        api_port: int = 0,
        swarm_port: int = 0,
        peers: Sequence[str] = (),
        detach: bool = False,
    ):
        """A node on ``repo``. By default its API and swarm listen on free loopback ports
        and it knows no peers. A consortium member's node has fixed ports and keeps
        connections to the other members' nodes (``peers``: swarm addresses ending in
        ``/p2p/<peer id>``, Kubo's Peering.Peers); ``detach`` lets the daemon outlive this
        process (stop it later by its process id)."""
        self.repo = Path(repo)
        self.binary = binary or find_kubo()
        self.start_timeout = start_timeout
        self.api_port = api_port
        self.swarm_port = swarm_port
        self.peers = list(peers)
        self.detach = detach
        self._process: subprocess.Popen[bytes] | None = None
        self._client: IPFSClient | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for every ``ipfs`` invocation on this repository."""
        return {**os.environ, "IPFS_PATH": str(self.repo), "IPFS_TELEMETRY": "off"}

    @property
    def client(self) -> IPFSClient:
        """An RPC client for the running node."""
        if self._client is None:
            raise IPFSUnavailableError("the managed Kubo node is not running; call start()")
        return self._client

    @property
    def api_url(self) -> str:
        """The node's RPC base URL, read from the address the daemon wrote."""
        api_file = self.repo / "api"
        if not api_file.exists():
            raise IPFSUnavailableError(f"Kubo has not written {api_file} yet")
        parts = api_file.read_text().strip().split("/")  # /ip4/127.0.0.1/tcp/PORT
        return f"http://{parts[2]}:{parts[4]}"

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [str(self.binary), *args], env=self.env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            if "someone else has the lock" in result.stderr:
                raise IPFSUnavailableError(
                    f"another process is using the Kubo repository {self.repo} (a carechain "
                    "portal or command still running, or a daemon left by one that was "
                    "killed); stop it, or point CARECHAIN_IPFS_API at its node"
                )
            raise ConfigurationError(f"`ipfs {' '.join(args)}` failed: {result.stderr.strip()}")

    def init(self) -> None:
        """Create the repository (once) and apply the private, loopback-only configuration.

        New repositories keep blocks and pins in Pebble (Kubo's ``pebbleds`` profile): a
        record is a few hundred bytes to a few KiB, and writing each as its own file (the
        default flatfs) made Kubo the slowest step of ingest. A repository created earlier
        keeps its datastore."""
        if not (self.repo / "config").exists():
            self.repo.mkdir(parents=True, exist_ok=True)
            self._run("init", f"--profile={_PROFILES}", "--empty-repo")
        for key, value in self._config():
            self._run("config", "--json", key, value)

    def _config(self) -> list[tuple[str, str]]:
        config = dict(_PRIVATE_CONFIG)
        config["Addresses.API"] = f'"/ip4/127.0.0.1/tcp/{self.api_port}"'
        config["Addresses.Swarm"] = f'["/ip4/127.0.0.1/tcp/{self.swarm_port}"]'
        peering = []
        for address in self.peers:
            where, _, peer_id = address.rpartition("/p2p/")
            peering.append({"ID": peer_id, "Addrs": [where]})
        config["Peering.Peers"] = json.dumps(peering)
        return list(config.items())

    @property
    def peer_id(self) -> str:
        """This node's peer id (from its repository; creates the repository if needed)."""
        self.init()
        config = json.loads((self.repo / "config").read_text())
        return str(config["Identity"]["PeerID"])

    def running_api(self) -> str | None:
        """The API address of a daemon already running on this repository (another
        carechain process's: a portal, a command), or None."""
        try:
            url = self.api_url
        except IPFSUnavailableError:
            return None
        try:
            with IPFSClient(url, timeout=5) as client:
                client.version()
        except CarechainError:
            return None  # a file left by a daemon that is gone
        return url

    def start(self) -> KuboNode:
        """Start the daemon and wait until its API answers. A daemon of another process
        already running on this repository is refused with what to do (it holds the
        repository's lock), and left as it is."""
        if self._process is not None:
            return self
        running = self.running_api()
        if running is not None:
            raise IPFSUnavailableError(
                f"another process runs the Kubo node of {self.repo} (on {running}): a "
                "carechain portal or command still running? Stop it, or use its node: "
                f"CARECHAIN_IPFS_API={running}"
            )
        self.init()
        (self.repo / "api").unlink(missing_ok=True)
        log = open(self.repo / "daemon.log", "wb")  # noqa: SIM115 - lives as long as the daemon
        self._process = subprocess.Popen(
            [str(self.binary), "daemon", "--migrate=false"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=self.detach,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = (self.repo / "daemon.log").read_text(errors="replace")[-2000:]
                self._process = None
                raise IPFSUnavailableError(f"Kubo exited while starting:\n{tail}")
            try:
                client = IPFSClient(self.api_url, timeout=get_settings().ipfs_timeout)
                client.version()
            except IPFSUnavailableError:
                time.sleep(0.2)
                continue
            self._client = client
            return self
        self.stop()
        raise IPFSUnavailableError(f"Kubo did not answer within {self.start_timeout:.0f}s")

    def stop(self) -> None:
        """Stop the daemon cleanly (SIGTERM, then SIGKILL after 15 s)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    @property
    def pid(self) -> int | None:
        """The daemon's process id while it runs."""
        return self._process.pid if self._process else None

    def __enter__(self) -> KuboNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
