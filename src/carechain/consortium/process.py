"""The consortium's daemons (geth, Kubo, replicators) are detached processes this project
started, each recorded by its process id in a file; they are found and stopped only by it."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def running(pid_file: Path) -> int | None:
    """The process id recorded in ``pid_file`` if that process is alive, else None."""
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def stop(pid_file: Path, timeout: float = 20.0) -> None:
    """Stop the process recorded in ``pid_file``: SIGTERM, then SIGKILL after ``timeout``
    seconds; reap it if it is this process's child; forget the file."""
    pid = running(pid_file)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                _reap(pid)
                break
            time.sleep(0.1)
    pid_file.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    _reap(pid)  # a child that exited is a zombie until reaped: it would look alive
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
