"""The ``carechain`` command line: one module per command group.

Offline commands (keys, FHIR validation, CIDs) work anywhere. Commands that touch the chain
take ``--rpc`` (the node's URL) and ``--account`` (who signs, locally) and read the
deployment file recorded for the node's chain (``deployments/*.json``); commands that touch
IPFS use ``CARECHAIN_IPFS_API`` if set, else start the project's managed Kubo node for the
duration of the command.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..errors import CarechainError
from . import (
    admin,
    audit,
    claims,
    consent,
    devices,
    emergency,
    fhir,
    insurer,
    keys,
    names,
    network,
    portal,
    records,
    trace,
    trials,
)
from .common import ADDRESS, DAYS

__all__ = ["ADDRESS", "DAYS", "main"]


def _one_line(exc: BaseException) -> str:
    """What went wrong, on one line: carechain's own errors say what to do; other errors
    are named by their kind, with the file or value they were about."""
    if isinstance(exc, CarechainError):
        return str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"the input is not UTF-8 text (byte {exc.start}): pass a JSON or text file"
    if isinstance(exc, json.JSONDecodeError):
        return f"the input is not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename} is a folder; pass a file"
    if isinstance(exc, FileNotFoundError):
        return f"no such file or folder: {exc.filename}"
    if isinstance(exc, PermissionError) and exc.filename:
        return f"permission denied: {exc.filename}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    kind = type(exc).__name__
    if isinstance(exc, ValueError | OSError):
        return text
    return f"{kind}: {text} (run with --debug for the traceback)"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class _Group(click.Group):
    """Answers every mistake with one line on stderr and exit code 1 (click's usage errors
    keep code 2); ``--debug`` (or CARECHAIN_DEBUG=1) shows the traceback instead."""

    def invoke(self, ctx: click.Context) -> Any:
        import os
        import signal
        import threading

        # `kill` and a closed terminal stop a command as Ctrl-C does: what it started (a
        # Kubo node, a portal) is stopped on the way out instead of left running
        if threading.current_thread() is threading.main_thread():  # signals go to it only
            for stop in (signal.SIGTERM, signal.SIGHUP):
                signal.signal(stop, _interrupt)
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.secho("interrupted: nothing more was sent", fg="red", err=True)
            sys.exit(130)
        except Exception as exc:
            if ctx.meta.get("carechain.debug") or os.environ.get("CARECHAIN_DEBUG") == "1":
                raise
            click.secho(f"error: {_one_line(exc)}", fg="red", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(package_name="carechain")
@click.option("--debug", is_flag=True, help="show the traceback of an error")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """carechain: encrypted FHIR records on IPFS, anchored and shared on Ethereum."""
    ctx.meta["carechain.debug"] = debug


for command in (
    admin.admin,
    admin.main_whoami,
    audit.audit,
    claims.claims,
    consent.consent,
    devices.devices,
    emergency.emergency,
    fhir.cid,
    fhir.fhir,
    insurer.insurer,
    keys.keys,
    names.names,
    network.network,
    portal.portal,
    records.records,
    trace.trace,
    trials.trials,
):
    main.add_command(command)
