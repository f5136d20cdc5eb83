"""carechain devices: medical devices that sign their readings — device keys, signing,
ingest into patients' records, verification, and a patient's readings as a table."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from .common import ADDRESS, Connected, chain_options, hex32, key_option, role_client

_UNTRUSTED = click.option(
    "--untrusted",
    type=click.Choice(["refuse", "mark"]),
    default=None,
    help="refuse untrusted readings, or keep them marked untrusted "
    "(default: CARECHAIN_UNTRUSTED_READINGS, else refuse)",
)


@click.group()
def devices() -> None:
    """Medical devices that sign their readings: keys, signing, ingest, verification."""


def _udi(text: str) -> str:
    from ..errors import InvalidRecordError
    from ..trace import parse_udi

    try:
        return parse_udi(text).element_string()
    except InvalidRecordError as exc:
        raise click.BadParameter(str(exc)) from None


def _read_device_key(path: Path) -> bytes:
    text = path.read_text().strip()
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise click.BadParameter(f"{path} does not hold a device key (64 hex digits)")
    return raw


def _readings(files: tuple[Path, ...]) -> list[dict[str, Any]]:
    """Readings from FILES: each an Observation, a Bundle of them, or a JSON list."""
    from ..fhir import loads

    found: list[dict[str, Any]] = []
    for path in files:
        data = loads(path.read_bytes())
        if isinstance(data, list):
            found += data
        elif isinstance(data, dict) and data.get("resourceType") == "Bundle":
            found += [e.get("resource") or {} for e in data.get("entry") or []]
        else:
            found.append(data)
    return found


@devices.command("keygen")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="where to write the device's key pair (mode 0600)",
)
def devices_keygen(out: Path) -> None:
    """Make a device's Ed25519 signing key in OUT (mode 600; it never leaves the device)
    and print its public key, which the manufacturer binds with `carechain devices bind`."""
    import os

    from ..devices import generate_device_key, public_key_of

    if out.exists():
        raise click.UsageError(f"{out} exists; a device key is never overwritten")
    private = generate_device_key()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(private.hex() + "\n")
    click.echo("0x" + public_key_of(private).hex())


@devices.command("sign")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--device-key",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="the device's key file (carechain devices keygen)",
)
def devices_sign(file: Path, device_key: Path) -> None:
    """Sign the reading(s) in FILE (FHIR Observations naming the device's UDI and the
    patient) as the device would; prints the signed JSON (a list if several)."""
    from ..devices import sign_reading
    from ..fhir import dumps, parse_resource

    key = _read_device_key(device_key)
    signed = [sign_reading(parse_resource(r), key) for r in _readings((file,))]
    click.echo(dumps(signed[0] if len(signed) == 1 else signed, indent=2))


@devices.command("bind", cls=Connected)
@chain_options
@click.argument("udi")
@click.option("--public-key", required=True, help="the device's public key (0x + 64 hex)")
def devices_bind(account: Any, udi: str, public_key: str) -> None:
    """(The device's manufacturer) Bind the device's public key to its UDI, or rotate it:
    the key it had stops being valid now."""
    from ..devices import bind_device_key
    from ..onchain import Contracts

    bind_device_key(Contracts.load(), account, _udi(udi), hex32(public_key))
    click.echo(f"key {public_key} bound to {_udi(udi)} from now on")


@devices.command("assign", cls=Connected)
@chain_options
@click.argument("udi")
@click.option("--patient", required=True, type=ADDRESS, help="the patient's address")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="where to write the pairing (the gateway's; keeps the patient off the chain)",
)
def devices_assign(account: Any, udi: str, patient: str, out: Path) -> None:
    """(The hospital holding the device) Assign the device to PATIENT from now on. The
    chain holds a salted commitment; OUT gets the pairing the gateway needs."""
    from ..devices import Pairing, assign_to_patient, new_assignment_salt
    from ..errors import ChainError, ChainUnavailableError
    from ..onchain import Contracts

    # The salt is written (new file, owner-only) before the commitment is sent: a missing
    # directory or an existing pairing stops here, not after the salt is on no disk.
    pairing = Pairing(_udi(udi), patient, new_assignment_salt())
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.UsageError(
            f"{out} exists; a pairing is never overwritten (pick --out)"
        ) from None
    except OSError as exc:
        raise click.UsageError(f"cannot create {out}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(pairing.to_json(), indent=2) + "\n")
    try:
        assign_to_patient(Contracts.load(), account, pairing.udi, patient, salt=pairing.salt)
    except ChainError as exc:
        if not isinstance(exc, ChainUnavailableError):
            out.unlink()  # refused by the chain: nothing was assigned, so no pairing
        raise
    click.echo(f"{pairing.udi} assigned to {patient}; pairing written to {out}")


@devices.command("ingest", cls=Connected)
@chain_options
@key_option
@click.option(
    "--pairing",
    "pairings",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="a pairing file from `carechain devices assign` (repeatable)",
)
@click.option("--per-record", default=60, show_default=True, help="readings per record")
@_UNTRUSTED
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def devices_ingest(
    account: Any,
    key: Path,
    pairings: tuple[Path, ...],
    per_record: int,
    untrusted: str | None,
    files: tuple[Path, ...],
) -> None:
    """(Provider) Check the signed readings in FILES and anchor them as encrypted records of
    their patients, PER_RECORD readings of one device per record. With --untrusted refuse,
    one untrusted reading refuses them all and nothing is stored."""
    from ..device_gateway import ingest_readings
    from ..devices import Pairing, ReadingVerifier
    from ..hospital import Hospital

    paired = [Pairing.from_json(json.loads(p.read_text())) for p in pairings]
    readings = _readings(files)
    with role_client(Hospital, account, key) as hospital:
        verifier = ReadingVerifier(hospital.contracts)
        anchored = ingest_readings(
            hospital, verifier, readings, paired, max_readings=per_record, mode=untrusted
        )
    for ref, batch in anchored:
        click.echo(
            f"record {ref.record_id_hex}: {len(batch)} readings of {ref.patient} "
            f"({ref.gas_used:,} gas, {ref.gas_used // len(batch):,} per reading)"
        )


@devices.command("verify", cls=Connected)
@chain_options
@click.option(
    "--pairing",
    "pairings",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="a pairing file (to check the patient assignment of unanchored readings)",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def devices_verify(account: Any, pairings: tuple[Path, ...], files: tuple[Path, ...]) -> None:
    """Check signed readings against the chain as it was at each reading's time; a table of
    verdicts. Exits 2 if any is not trusted."""
    from ..device_gateway import Gateway
    from ..devices import Pairing, ReadingVerifier
    from ..onchain import Contracts

    verifier = ReadingVerifier(Contracts.load())
    paired = [Pairing.from_json(json.loads(p.read_text())) for p in pairings]
    salter = Gateway(None, verifier, paired)
    rows = []
    for observation in _readings(files):
        observation = salter.salted(observation)
        rows.append((observation, verifier.verify(observation)))
    _table([_row(o, v) for o, v in rows], "device readings")
    if any(not v.trusted for _, v in rows):
        sys.exit(2)


@devices.command("readings", cls=Connected)
@chain_options
@key_option
@click.option("--patient", required=True, type=ADDRESS, help="the patient's address")
@click.option("--json", "as_json", is_flag=True, help="the readings as JSON on stdout")
def devices_readings(account: Any, key: Path, patient: str, as_json: bool) -> None:
    """A patient's device readings (those records the account may read), each checked again
    against the chain, as a table. Untrusted readings are shown marked, never hidden."""
    from ..device_gateway import read_readings
    from ..devices import ReadingVerifier, names_a_device
    from ..errors import CarechainError
    from ..fhir import Category
    from ..records import Party

    rows, unreadable = [], 0
    with role_client(Party, account, key) as reader:
        verifier = ReadingVerifier(reader.contracts)
        for version in reader.contracts.registry.records_of(patient):
            head = reader.contracts.registry.head(version.record_id)
            if head.category is not Category.OBSERVATION or head.retracted:
                continue
            try:
                checked = read_readings(reader, version.record_id, verifier, mode="mark")
            except CarechainError:
                unreadable += 1  # not readable by this account (no consent)
                continue
            # Every device reading, malformed ones too; other Observations are not readings.
            rows += [c for c in checked if names_a_device(c.observation)]
        if reader.receipts.pending:
            reader.receipts.flush()
    rows.sort(key=lambda c: c.time)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "time": c.time,
                        "device": c.udi,
                        "measurement": c.code,
                        "value": c.value,
                        "trusted": c.verdict.trusted,
                        "verdict": c.verdict.words(),
                    }
                    for c in rows
                ],
                indent=2,
            )
        )
        return
    _table([_row(c.observation, c.verdict) for c in rows], f"device readings of {patient}")
    if unreadable:
        click.echo(f"{unreadable} observation record(s) this account may not read were skipped")


def _row(observation: dict[str, Any], verdict: Any) -> tuple[str, ...]:
    from ..device_gateway import CheckedReading
    from ..devices import Reading

    try:
        reading = Reading.of(observation)
        moment, udi = reading.time, reading.udi
    except (ValueError, TypeError):
        moment, udi = 0, "?"
    checked = CheckedReading(observation, verdict, moment, udi)
    try:
        when = dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):
        when = "?"  # a date no calendar has: the check calls it malformed
    when = when if moment else "?"
    # The serial (production identifiers) names the device in a narrow terminal; --json
    # gives the whole UDI.
    serial = udi[udi.find("(", 1) :] if udi.startswith("(01)") and "(" in udi[1:] else udi
    return when, checked.code, checked.value, serial, verdict.words()


def _table(rows: list[tuple[str, ...]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("time", no_wrap=True)
    table.add_column("measurement")
    table.add_column("value", no_wrap=True)
    table.add_column("device", no_wrap=True)
    table.add_column("check")
    for row in rows:
        style = None if row[-1] == "trusted" else "red"
        table.add_row(*row, style=style)
    Console().print(table)
