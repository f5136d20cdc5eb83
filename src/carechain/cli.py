"""The ``carechain`` command line.

Offline commands (keys, FHIR validation, CIDs) work anywhere. Commands that touch the chain
take ``--rpc`` (the node's URL) and ``--account`` (who signs, locally) and read the
deployment file recorded for the node's chain (``deployments/*.json``);
commands that touch IPFS use ``CARECHAIN_IPFS_API`` if set, else start the project's
managed Kubo node for the duration of the command.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from .crypto import KemSuite, KeyPair
from .errors import CarechainError
from .fhir import category_for, describe, logical_id, parse_resource
from .fhir import dumps as fhir_dumps
from .fhir import loads as fhir_loads
from .keystore import load_key_pair, save_key_pair
from .model import (
    DEFAULT_RPC_URL,
    ROLES,
    SIGNATURE_TTL,
    ClaimStatus,
    PolicyTerms,
    Purpose,
    Scope,
    SignedConsent,
)
from .unixfs import compute_cid

_SUITES = {"x25519": KemSuite.X25519, "hybrid": KemSuite.MLKEM768_X25519}


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


class _Group(click.Group):
    """Answers every mistake with one line on stderr and exit code 1 (click's usage errors
    keep code 2); ``--debug`` (or CARECHAIN_DEBUG=1) shows the traceback instead."""

    def invoke(self, ctx: click.Context) -> Any:
        import os

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


# ------------------------------------------------------------------------------ keys


@main.group()
def keys() -> None:
    """Encryption key pairs (HPKE)."""


@keys.command("generate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--suite",
    type=click.Choice(sorted(_SUITES)),
    default="hybrid",
    show_default=True,
    help="hybrid = ML-KEM-768 + X25519 (post-quantum); x25519 = classic",
)
def keys_generate(path: Path, suite: str) -> None:
    """Create a key pair in PATH (mode 0600). Keep it secret; never commit it."""
    key_pair = KeyPair.generate(_SUITES[suite])
    save_key_pair(key_pair, path)
    click.echo(f"wrote {key_pair.suite.name} key pair to {path}")
    click.echo(f"public key: {key_pair.public_key[:16].hex()}… ({len(key_pair.public_key)} bytes)")


# ------------------------------------------------------------------------------ FHIR


@main.group()
def fhir() -> None:
    """FHIR R4 records."""


@fhir.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def fhir_validate(files: tuple[Path, ...]) -> None:
    """Check that FILES are valid FHIR R4; exits 1 on the first invalid one."""
    for path in files:
        resource = parse_resource(path.read_bytes())
        click.echo(f"{path}: valid {describe(resource)} ({category_for(resource).name})")


@main.command("cid")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
def cid(file: Path) -> None:
    """The CID carechain (and Kubo) give FILE's bytes, computed locally."""
    click.echo(compute_cid(file.read_bytes()))


# ------------------------------------------------------------------------------ chain


def _passphrase(prompt: str) -> str:
    """A keystore's passphrase: CARECHAIN_PASSPHRASE if set (scripts), else asked for."""
    import os

    return os.environ.get("CARECHAIN_PASSPHRASE") or click.prompt(prompt, hide_input=True)


class _ConnectedCommand(click.Command):
    """A command that runs against a node (``--rpc``) as an account (``--account``): its
    function gets the account, which signs locally, as ``account``."""

    def invoke(self, ctx: click.Context) -> Any:
        from .onchain.rpc import using
        from .onchain.signer import load_account

        with using(ctx.params.pop("rpc")):
            ctx.params["account"] = load_account(ctx.params.pop("account_name"), _passphrase)
            return super().invoke(ctx)


def _connected(function: Any) -> Any:
    """``function`` as a command connected to a node, signing as an account."""
    rpc = click.option(
        "--rpc",
        envvar="CARECHAIN_RPC_URL",
        default=DEFAULT_RPC_URL,
        show_default=True,
        help="the Ethereum node's JSON-RPC URL (or CARECHAIN_RPC_URL)",
    )
    account = click.option(
        "--account",
        "account_name",
        required=True,
        help="TEST::n (a local test chain's n-th funded account), a keystore file, or an "
        "account alias (its passphrase from CARECHAIN_PASSPHRASE, else asked for)",
    )
    name = function.__name__.split("_", 1)[1]
    return click.command(cls=_ConnectedCommand, name=name)(rpc(account(function)))


@contextmanager
def _progress_bar(description: str) -> Iterator[Any]:
    """A progress callback for the SDK, drawn as a bar on stderr (gone when done)."""
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextmanager
def _ipfs() -> Iterator[Any]:
    from .ipfs import IPFSClient
    from .kubo import KuboNode
    from .settings import get_settings

    settings = get_settings()
    if settings.ipfs_api:
        with IPFSClient(settings.ipfs_api, timeout=settings.ipfs_timeout) as client:
            yield client
    else:
        with KuboNode(settings.state_dir / "kubo") as node:
            yield node.client


@main.group()
def admin() -> None:
    """Governance: admit and remove parties (governor only)."""


def admin_admit(account: Any, role: str, address: str) -> None:
    """Admit ADDRESS to ROLE (hospitals are providers)."""
    from .onchain import Contracts

    Contracts.load().registry.admit(account, role, address)
    click.echo(f"admitted {address} as {role}")


def main_whoami(account: Any) -> None:
    """Your account's address, the roles it holds, whether it published an encryption key,
    and its settlement-token balance."""
    from .errors import KeyNotFoundError
    from .onchain import Contracts

    contracts = Contracts.load()
    registry = contracts.registry
    roles = [name for name in ROLES if registry.has_role(name, account.address)]
    if registry.has_role_id(bytes(32), account.address):
        roles.insert(0, "governor")
    try:
        suite, _ = contracts.reader_key(account.address)
        key = f"published ({suite.name})"
    except KeyNotFoundError:
        key = "not published (carechain keys publish --key FILE)"
    claims = contracts.claims
    click.echo(account.address)
    click.echo(f"  roles:   {', '.join(roles) or 'none (a patient needs none)'}", err=True)
    click.echo(f"  key:     {key}", err=True)
    click.echo(f"  tokens:  {_money(claims, claims.balance_of(account.address))}", err=True)


def admin_remove(account: Any, role: str, address: str) -> None:
    """Remove ADDRESS from ROLE."""
    from .onchain import Contracts

    Contracts.load().registry.remove(account, role, address)
    click.echo(f"removed {address} from {role}")


def keys_publish(account: Any, key: Path) -> None:
    """Publish the public half of the key pair in KEY to the KeyDirectory."""
    from .onchain import Contracts

    pair = load_key_pair(key)
    Contracts.load().keys.publish(account, pair.suite, pair.public_key)
    click.echo(f"published {pair.suite.name} key for {account.address}")


def records_anchor(
    account: Any, patient: str, key: Path, files: tuple[Path, ...], idempotent: bool
) -> None:
    """Encrypt FHIR FILES for PATIENT, store them on IPFS and anchor them (as a provider).

    By default the record ids are derived from each resource's FHIR id with a key only this
    hospital holds, so running the same command again (say, after it was interrupted)
    anchors nothing twice: what is already on-chain is reported as "already anchored".
    --new-ids anchors every file as a new record under a random id."""
    from .hospital import Hospital
    from .onchain import Contracts

    resources = [fhir_loads(path.read_bytes()) for path in files]
    if idempotent:  # all or nothing, named before any work is done
        missing = [str(f) for f, r in zip(files, resources, strict=True) if not logical_id(r)]
        if missing:
            raise CarechainError(
                f"{', '.join(missing)}: no FHIR id, so nothing was anchored; give each "
                "resource an id (re-running then anchors nothing twice), or pass --new-ids"
            )
    with _ipfs() as ipfs, _progress_bar("anchoring records") as progress:
        hospital = Hospital(account, Contracts.load(), ipfs, load_key_pair(key))
        try:
            refs = hospital.anchor_records(
                [(patient, r) for r in resources], idempotent=idempotent, progress=progress
            )
        except (CarechainError, KeyboardInterrupt) as exc:
            if idempotent:
                ids = [hospital.record_id_for(patient, r) for r in resources]
            else:  # random ids are anchored in input order
                ids = [ref.record_id for ref in getattr(exc, "anchored", [])]
            _report_partial(files, ids, getattr(exc, "anchored", []), idempotent)
            raise
    for path, ref in zip(files, refs, strict=True):
        _echo_anchored(path, ref)


def _echo_anchored(path: Path, ref: Any) -> None:
    done = "already anchored" if ref.existing else f"{ref.gas_used:,} gas"
    click.echo(f"{path}: record {ref.record_id_hex} v{ref.version} {ref.cid} ({done})")


def _report_partial(
    files: tuple[Path, ...], ids: list[bytes], anchored: list[Any], idempotent: bool
) -> None:
    """What an interrupted or failed bulk anchor completed: those records on stdout (they
    are anchored), a count and what to do on stderr."""
    refs = {ref.record_id: ref for ref in anchored}
    done = [(path, refs[i]) for path, i in zip(files, ids, strict=False) if i in refs]
    for path, ref in done:
        _echo_anchored(path, ref)
    if idempotent:
        again = "run the same command again: what is anchored is skipped"
    else:
        again = "anchor only the files not listed (a re-run with --new-ids would duplicate)"
    click.echo(f"stopped: {len(done)} of {len(files)} files were anchored; {again}", err=True)


def records_list(account: Any, patient: str | None) -> None:
    """List the records about PATIENT (default: the account)."""
    from .onchain import Contracts

    registry = Contracts.load().registry
    for version in registry.records_of(patient or account.address):
        head = registry.head(version.record_id)
        flag = " entered-in-error" if head.retracted else ""
        click.echo(
            f"0x{version.record_id.hex()} v{version.version} {head.category.name} "
            f"by {head.author}{flag}"
        )


def records_read(
    account: Any, record_id: str, key: Path, version: int | None, purpose: str
) -> None:
    """Fetch, verify and decrypt RECORD_ID with the key pair in KEY; prints the FHIR JSON.

    The record's patient and author read directly; anyone else needs the patient's consent
    for --purpose, and their read is logged as a signed, anchored access receipt."""
    from .onchain import Contracts
    from .records import Party

    with _ipfs() as ipfs:
        reader = Party(account, Contracts.load(), ipfs, load_key_pair(key))
        opened = reader.read_record(_hex32(record_id), version, Purpose[purpose.upper()])
        if reader.receipts.pending:
            reader.receipts.flush()
    click.echo(fhir_dumps(opened.resource, indent=2))


class _Address(click.ParamType):
    """An Ethereum address: 0x and 40 hex digits. Mixed case must be a valid EIP-55
    checksum, so a mistyped character is caught instead of sending to a wrong address."""

    name = "address"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

        text = str(value).strip()
        if not is_hex_address(text):
            self.fail(f"{text!r} is not an address (0x followed by 40 hex digits)", param, ctx)
        digits = text[2:]
        if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(text):
            self.fail(
                f"{text} fails its EIP-55 checksum: a character was mistyped; copy the address "
                "again (or write it all in lower case to skip the check)",
                param,
                ctx,
            )
        return to_checksum_address(text)


ADDRESS = _Address()


class _Days(click.ParamType):
    """A period in days, from an hour (0.042) to a hundred years: no negative, NaN or
    astronomical periods."""

    name = "days"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        import math

        try:
            days = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of days", param, ctx)
        if not (math.isfinite(days) and 1 / 24 <= days <= 36_500):
            self.fail(f"{value} days: a period must be from 0.042 (an hour) to 36500", param, ctx)
        return days


DAYS = _Days()


def _now() -> int:
    """The time the next block will carry, at the earliest (see ``Node.next_block_time``)."""
    from .onchain import current

    return current().next_block_time()


def _hex32(value: str) -> bytes:
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not hex") from exc
    if len(raw) != 32:
        raise click.BadParameter(f"{value!r} is not 32 bytes")
    return raw


def _scope(text: str) -> Any:
    from .fhir import Category

    kind, _, value = text.partition(":")
    if kind == "all" and not value:
        return Scope.all()
    if kind == "category" and value.upper() in Category.__members__:
        return Scope.category(Category[value.upper()])
    if kind == "record" and value:
        return Scope.record(_hex32(value))
    raise click.BadParameter(
        f"{text!r}: use all, category:<{'|'.join(c.name.lower() for c in Category)}> "
        "or record:0x<id>"
    )


def consent_grant(
    account: Any, grantee: str, scope: str, purpose: str, days: float, key: Path, deny: bool
) -> None:
    """Let GRANTEE read your records in --scope for --purpose during --days (as the patient).

    Data keys of the records already in scope are wrapped to GRANTEE's published key and
    published on IPFS; --deny instead refuses that scope inside a wider grant."""

    from .onchain import Contracts
    from .patient import Patient

    until = _now() + int(days * 86400)
    with _ipfs() as ipfs:
        patient = Patient(account, Contracts.load(), ipfs, load_key_pair(key))
        if deny:
            grant_id = patient.deny_access(grantee, _scope(scope), Purpose[purpose.upper()], until)
        else:
            grant_id, _ = patient.grant_access(
                grantee, _scope(scope), Purpose[purpose.upper()], until
            )
    click.echo(f"consent 0x{grant_id.hex()} {'denies' if deny else 'grants'} {grantee}")


def consent_revoke(account: Any, grant_id: str) -> None:
    """Withdraw consent GRANT_ID (as the patient or a guardian)."""
    from .onchain import Contracts

    Contracts.load().consent.revoke(account, _hex32(grant_id))
    click.echo(f"revoked 0x{_hex32(grant_id).hex()}")


def consent_list(account: Any, patient: str | None) -> None:
    """List the consents of PATIENT (default: the account)."""
    from .onchain import Contracts

    for c in Contracts.load().consent.consents(patient=patient or account.address):
        state = "revoked" if c.revoked else ("active" if c.active else "inactive")
        kind = "deny" if c.deny else "permit"
        click.echo(
            f"0x{c.grant_id.hex()} {kind} {c.grantee} {c.scope.describe()} "
            f"{c.purpose.name.lower()} until {c.end} [{state}]"
        )


def consent_export(account: Any, grant_id: str) -> None:
    """Print consent GRANT_ID as a FHIR R4 Consent resource."""
    from .fhir_consent import to_fhir_consent
    from .onchain import Contracts

    wanted = _hex32(grant_id)
    for c in Contracts.load().consent.consents(patient=account.address):
        if c.grant_id == wanted:
            click.echo(json.dumps(to_fhir_consent(c), indent=2))
            return
    raise click.ClickException(f"no consent 0x{wanted.hex()} of {account.address}")


def consent_import(account: Any, file: Path, key: Path) -> None:
    """Grant (or deny) what the FHIR Consent in FILE says (as the patient)."""
    from .fhir_consent import from_fhir_consent
    from .onchain import Contracts
    from .patient import Patient

    grantee, scope, purpose, end, deny = from_fhir_consent(json.loads(file.read_text()))
    with _ipfs() as ipfs:
        patient = Patient(account, Contracts.load(), ipfs, load_key_pair(key))
        if deny:
            grant_id = patient.deny_access(grantee, scope, purpose, end)
        else:
            grant_id, _ = patient.grant_access(grantee, scope, purpose, end)
    click.echo(f"consent 0x{grant_id.hex()} from {file}")


def consent_sign(
    account: Any, grantee: str, scope: str, purpose: str, days: float, key: Path, out: Path
) -> None:
    """Sign a consent for a relayer (you need no ETH); writes the payload to --out."""

    from .onchain import Contracts
    from .patient import Patient

    now = _now()
    with _ipfs() as ipfs:
        patient = Patient(account, Contracts.load(), ipfs, load_key_pair(key))
        signed = patient.sign_access(
            grantee, _scope(scope), Purpose[purpose.upper()], now + int(days * 86400)
        )
    out.write_text(signed.to_json() + "\n")
    click.echo(
        f"signed consent written to {out}; it can be relayed for {SIGNATURE_TTL // 60} minutes, "
        "and not after any later decision of yours about the same consent"
    )


def consent_relay(account: Any, payload: Path) -> None:
    """Submit a patient's signed consent from PAYLOAD (anyone may; you pay the gas)."""
    from .onchain import Contracts

    grant_id = Contracts.load().consent.relay(account, SignedConsent.from_json(payload.read_text()))
    click.echo(f"relayed consent 0x{grant_id.hex()}")


def audit_trail(account: Any, key: Path) -> None:
    """Every anchored read of your records, each receipt verified (as the patient). Entries
    that do not verify are listed and flagged, never hidden: anyone can anchor a batch under
    your address, and a bad batch does not hide the genuine reads."""
    from rich.console import Console
    from rich.table import Table

    from .onchain import Contracts
    from .patient import Patient

    with _ipfs() as ipfs:
        patient = Patient(account, Contracts.load(), ipfs, load_key_pair(key))
        trail = patient.audit_trail()
    from datetime import UTC, datetime

    table = Table(title="audit trail")
    for name in ("when", "reader", "record", "purpose"):
        table.add_column(name, no_wrap=True)
    table.add_column("check")  # the only column that wraps: what is wrong, in words
    for entry in trail:
        when = datetime.fromtimestamp(entry.when, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        check = "verified" if entry.verified else f"FLAGGED: {entry.problem}"
        r = entry.receipt
        if r is None:
            table.add_row(when, entry.reader, f"batch 0x{entry.root.hex()[:16]}…", "", check)
        else:
            table.add_row(
                when, r.reader, f"0x{r.record_id.hex()} v{r.version}", r.purpose.name.lower(), check
            )
    Console(width=200).print(table)
    flagged = sum(not e.verified for e in trail)
    click.echo(f"{len(trail) - flagged} reads verified, {flagged} entries flagged")


# ------------------------------------------------------------------------------ claims


def _units(claims: Any, text: str, allow_zero: bool = False) -> int:
    """``12.50`` in token units (e.g. 12500000 for a 6-decimal stablecoin)."""
    from .errors import ConfigurationError
    from .worker import to_units

    try:
        value = to_units(text, claims.decimals)
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc)) from None
    if value == 0 and not allow_zero:
        raise click.BadParameter(f"{text} is not a positive amount in whole token units")
    return value


def _money(claims: Any, units: int) -> str:
    return f"{units / 10**claims.decimals:,.2f}"


def _echo_escrow(claims: Any, insurer: str) -> None:
    balance, reserved = claims.escrow(insurer)
    click.echo(f"escrow {_money(claims, balance)} (reserved {_money(claims, reserved)})")


def claims_fund(account: Any, amount: str) -> None:
    """Deposit AMOUNT tokens into your escrow (as an insurer); AMOUNT like 1000.00."""
    from .onchain import Contracts

    claims = Contracts.load().claims
    claims.deposit(account, _units(claims, amount))
    _echo_escrow(claims, account.address)


def claims_faucet(account: Any, amount: str, to: str | None) -> None:
    """Mint AMOUNT test tokens to --to (default: you), on a local development chain only:
    the stablecoin `ape run deploy` deploys there has an open mint."""
    from .onchain import Contracts

    claims = Contracts.load().claims
    receiver = to or account.address
    claims.mint_test_tokens(account, receiver, _units(claims, amount))
    click.echo(
        f"minted {amount} test tokens to {receiver}; "
        f"it holds {_money(claims, claims.balance_of(receiver))}"
    )


def claims_withdraw(account: Any, amount: str) -> None:
    """Withdraw AMOUNT of escrow not reserved for approved claims (as an insurer)."""
    from .onchain import Contracts

    claims = Contracts.load().claims
    claims.withdraw(account, _units(claims, amount))
    _echo_escrow(claims, account.address)


def claims_policy(
    account: Any,
    patient: str,
    limit: str,
    deductible: str,
    copay_bps: int,
    cover: str,
    days: float,
    auto_approve_below: str,
) -> None:
    """Issue a policy to PATIENT (as an insurer); prints its id."""

    from .fhir import Category
    from .onchain import Contracts

    claims = Contracts.load().claims
    try:
        covered = frozenset(Category[c.strip().upper()] for c in cover.split(",") if c.strip())
    except KeyError as exc:
        names = ", ".join(c.name.lower() for c in Category)
        raise click.BadParameter(f"unknown category {exc}; one of: {names}") from None
    now = _now()
    terms = PolicyTerms(
        patient,
        _units(claims, limit),
        _units(claims, deductible, allow_zero=True),
        copay_bps,
        covered,
        now,
        now + int(days * 86400),
        _units(claims, auto_approve_below, allow_zero=True),
    )
    policy_id = claims.issue_policy(account, terms)
    click.echo(f"policy {policy_id} issued to {patient}")


def claims_submit(
    account: Any,
    file: Path,
    policy: int,
    insurer: str,
    record: tuple[str, ...],
    service_date: Any,
    key: Path,
) -> None:
    """Submit the FHIR Claim in FILE citing --record ids as evidence (as a provider)."""
    from .hospital import Hospital
    from .onchain import Contracts

    with _ipfs() as ipfs:
        hospital = Hospital(account, Contracts.load(), ipfs, load_key_pair(key))
        claim_id, receipt = hospital.submit_claim(
            policy,
            insurer,
            fhir_loads(file.read_bytes()),
            [_hex32(r) for r in record],
            service_date.date() if service_date else None,
        )
        view = hospital.contracts.claims.claim(claim_id)
    click.echo(f"claim 0x{claim_id.hex()} {view.status.name.lower()} ({receipt.gas_used:,} gas)")


def claims_draft(
    account: Any,
    patient: str,
    insurer: str,
    policy: int,
    record: tuple[str, ...],
    item: tuple[str, ...],
    service_date: Any,
) -> None:
    """Print a FHIR Claim from you (the provider) for PATIENT to submit with `claims submit`:
    each --item is CODE:DISPLAY:AMOUNT (a CPT code, its text, tokens like 120.00)."""
    from datetime import date

    from .fhir_claims import build_claim
    from .onchain import Contracts

    claims = Contracts.load().claims
    codes = []
    for text in item:
        code, _, rest = text.partition(":")
        display, _, amount = rest.rpartition(":")
        if not code or not display or not amount:
            raise click.BadParameter(f"{text!r}: write an item as CODE:DISPLAY:AMOUNT")
        codes.append((code, display, _units(claims, amount)))
    day = service_date.date() if service_date else date.today()
    resource = build_claim(
        patient, account.address, insurer, policy, day, codes, [_hex32(r) for r in record]
    )
    click.echo(fhir_dumps(resource, indent=2))


def claims_list(account: Any, status: str | None) -> None:
    """Claims where you are the insurer, the patient or the provider."""
    from rich.console import Console
    from rich.table import Table

    from .onchain import Contracts

    claims = Contracts.load().claims
    me = account.address
    views = {v.claim_id: v for v in claims.claims(provider=me)}
    for view in claims.claims_under(insurer=me) + claims.claims_under(patient=me):
        views[view.claim_id] = view
    wanted = ClaimStatus[status.upper()] if status else None
    table = Table("claim", "policy", "provider", "asked", "insurer pays", "patient owes", "status")
    for view in sorted(views.values(), key=lambda v: v.block):
        if wanted is not None and view.status is not wanted:
            continue
        table.add_row(
            f"0x{view.claim_id.hex()}",
            str(view.policy_id),
            view.provider,
            _money(claims, view.amount),
            _money(claims, view.approved),
            _money(claims, view.patient_share),
            view.status.name.lower(),
        )
    Console(width=200).print(table)


def claims_show(account: Any, claim_id: str) -> None:
    """Print CLAIM_ID's outcome as a FHIR ClaimResponse."""
    from .fhir_claims import claim_response
    from .onchain import Contracts

    claims = Contracts.load().claims
    view = claims.claim(_hex32(claim_id))
    insurer, patient = claims.parties_of_policy(view.policy_id)
    click.echo(fhir_dumps(claim_response(view, patient, insurer), indent=2))


def claims_evidence(account: Any, claim_id: str, key: Path) -> None:
    """Decrypt CLAIM_ID's FHIR Claim and every record it cites (as the insurer); the record
    reads are consented for payment and logged in the patient's audit trail."""
    from .insurer import Insurer
    from .onchain import Contracts

    with _ipfs() as ipfs:
        insurer = Insurer(account, Contracts.load(), ipfs, load_key_pair(key))
        view = insurer.contracts.claims.claim(_hex32(claim_id))
        _, patient = insurer.contracts.claims.parties_of_policy(view.policy_id)
        bundle = {
            "claim": insurer.open_claim(view, patient),
            "evidence": [r.resource for r in insurer.open_evidence(view)],
        }
        if insurer.receipts.pending:
            insurer.receipts.flush()
    click.echo(fhir_dumps(bundle, indent=2))


def claims_approve(account: Any, claim_id: str, amount: str) -> None:
    """Approve AMOUNT of CLAIM_ID (as its insurer); the chain computes the shares."""
    from .onchain import Contracts

    claims = Contracts.load().claims
    claims.approve(account, _hex32(claim_id), _units(claims, amount))
    view = claims.claim(_hex32(claim_id))
    click.echo(
        f"approved: insurer pays {_money(claims, view.approved)}, "
        f"patient owes {_money(claims, view.patient_share)}"
    )


def claims_deny(account: Any, claim_id: str, reason: str) -> None:
    """Deny CLAIM_ID with a --reason code (as its insurer)."""
    from .onchain import Contracts

    Contracts.load().claims.deny(account, _hex32(claim_id), reason)
    click.echo(f"denied 0x{_hex32(claim_id).hex()} ({reason})")


def claims_settle(account: Any, claim_ids: tuple[str, ...], batch_size: int) -> None:
    """Pay CLAIM_IDS (default: every approved claim of yours) from escrow (as the insurer)."""
    from .onchain import Contracts

    claims = Contracts.load().claims
    ids = [_hex32(c) for c in claim_ids] or None
    with _progress_bar("settling claims") as progress:
        receipts, count, paid = claims.settle_all(account, ids, batch_size, progress)
    if not receipts:
        click.echo("nothing to settle")
        return
    click.echo(f"paid {count} claims, {_money(claims, paid)} in all")


def claims_dispute(account: Any, claim_id: str) -> None:
    """Dispute the denial of CLAIM_ID (as its provider or patient, within 14 days)."""
    from .onchain import Contracts

    Contracts.load().claims.dispute(account, _hex32(claim_id))
    click.echo(f"disputed 0x{_hex32(claim_id).hex()}; an arbitrator will resolve it")


def claims_collect(account: Any, to: str) -> None:
    """Collect, to address TO, the claim payments the token refused to send you (a provider
    on a token's blacklist, say): settlement deferred them, nothing was lost."""
    from .onchain import Contracts

    claims = Contracts.load().claims
    owed = claims.owed_to(account.address)
    if not owed:
        raise click.ClickException("nothing is owed to you: every payment reached you")
    claims.withdraw_owed(account, to)
    click.echo(f"collected {_money(claims, owed)} to {to}")


def claims_owed(account: Any) -> None:
    """What you owe providers (deductible and co-pay) on approved and paid claims."""
    from .onchain import Contracts

    claims = Contracts.load().claims
    click.echo(f"you owe {_money(claims, claims.amount_owed(account.address))}")


# ------------------------------------------------------------------------------ insurer worker


def _default_db() -> Path:
    from .settings import get_settings

    return get_settings().state_dir / "insurer-worker.sqlite"


db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="the worker's SQLite journal [default: .carechain/insurer-worker.sqlite]",
)


@main.group()
def insurer() -> None:
    """The insurer's settlement worker: run it, watch it, decide its manual queue."""


def insurer_worker(
    account: Any,
    key: Path,
    rules: Path,
    db: Path | None,
    from_block: int | None,
    until_idle: bool,
) -> None:
    """Follow this insurer's claims, adjudicate them by the RULES file and settle them in
    batches, exactly once. Logs one JSON object per line on stderr; Ctrl-C (or SIGTERM)
    finishes the current step and stops. Restart it any time: it resumes from its journal."""
    import logging

    from .insurer import Insurer
    from .onchain import Contracts
    from .worker import Journal, JsonFormatter, Rules, Worker

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("carechain.worker")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    parsed = Rules.load(rules)
    journal = Journal(db or _default_db())
    try:
        with _ipfs() as ipfs:
            client = Insurer(account, Contracts.load(), ipfs, load_key_pair(key))
            worker = Worker(client, parsed, journal, start_block=from_block)
            logger.info(
                "started",
                extra={
                    "fields": {
                        "insurer": client.address,
                        "db": str(journal.path),
                        "confirmations": parsed.confirmations,
                        "batch_size": parsed.batch_size,
                    }
                },
            )
            worker.run(until_idle=until_idle)
    finally:
        journal.close()


@insurer.command("status")
@db_option
@click.option("--json", "as_json", is_flag=True, help="print the status as JSON")
def insurer_status(db: Path | None, as_json: bool) -> None:
    """Where the worker is: cursor, lag, queue sizes, transactions in flight, totals paid."""
    from rich.console import Console
    from rich.table import Table

    status = _journal(db).status()
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    scale = 10 ** status["decimals"]
    table = Table(title=f"insurer worker {status['insurer']}", show_header=False)
    last = status["last_step"]
    rows = [
        ("chain", str(status["chain_id"])),
        ("cursor (last safe block read)", str(status["cursor"])),
        ("head at last step", str(status["head"])),
        ("lag at last step (blocks)", str(status["lag"])),
        ("last step", time_ago(last) if last else "never"),
        ("manual queue", str(status["manual_queue"])),
        ("transactions in flight", str(status["in_flight"])),
        ("claims paid", f"{status['paid_count']} ({status['paid_total'] / scale:,.2f})"),
        ("reorgs handled", str(status["reorgs"])),
        ("fee replacements", str(status["replacements"])),
    ]
    # paid claims have their own row above, with the total
    rows += [
        (f"claims {state}", str(n))
        for state, n in sorted(status["claims"].items())
        if state != "paid"
    ]
    unanchored = status["unanchored_receipts"]
    rows.append(("receipt batches not anchored", str(len(unanchored))))
    for batch in unanchored:
        state = "retrying" if batch["retrying"] else "NOT ANCHORED, gave up"
        rows.append(
            (
                f"  receipts {batch['root'][:10]}…",
                f"{batch['count']} reads of {batch['patient']}: {state} after "
                f"{batch['attempts']} attempts ({batch['error']})",
            )
        )
    if status["last_error"]:
        rows.append(("last error", status["last_error"]))
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


def time_ago(timestamp: float) -> str:
    """``12 s ago`` for a Unix time."""
    import time

    return f"{time.time() - timestamp:,.0f} s ago"


def _journal(db: Path | None) -> Any:
    from .errors import ConfigurationError
    from .worker import Journal

    path = db or _default_db()
    if not path.exists():
        raise ConfigurationError(
            f"no worker journal at {path}; start the worker first (carechain insurer worker) "
            "or pass --db"
        )
    return Journal(path)


@insurer.command("queue")
@db_option
def insurer_queue(db: Path | None) -> None:
    """Claims the rules sent to a human, with the reason each is there."""
    from rich.console import Console
    from rich.table import Table

    journal = _journal(db)
    scale = 10 ** int(journal.get("decimals", "0") or 0)
    rows = journal.claims("manual")
    if not rows:
        click.echo("the manual queue is empty")
        return
    table = Table(title=f"manual queue ({len(rows)})")
    # ids and addresses whole: `insurer decide` takes the claim id as printed
    table.add_column("claim", no_wrap=True, min_width=66)
    table.add_column("policy")
    table.add_column("amount")
    table.add_column("provider", no_wrap=True, min_width=42)
    table.add_column("why")
    for row in rows:
        table.add_row(
            row["claim_id"],
            str(row["policy_id"]),
            f"{row['amount'] / scale:,.2f}",
            row["provider"],
            row["note"] or "",
        )
    Console(width=200).print(table)


@insurer.command("decide")
@click.argument("claim_id")
@db_option
@click.option("--approve", "amount", default=None, help="approve this amount, e.g. 820.00")
@click.option("--deny", "reason", default=None, help="deny with this reason code")
def insurer_decide(claim_id: str, db: Path | None, amount: str | None, reason: str | None) -> None:
    """Decide a claim in the manual queue; the running worker sends it on its next step."""
    from .errors import CarechainError
    from .worker import to_units

    if (amount is None) == (reason is None):
        raise click.UsageError("give exactly one of --approve AMOUNT or --deny REASON")
    journal = _journal(db)
    claim_id = "0x" + _hex32(claim_id).hex()
    units = None
    if amount is not None:
        try:
            units = to_units(amount, int(journal.get("decimals", "0") or 0))
        except CarechainError as exc:
            raise click.BadParameter(str(exc)) from None
        row = journal.claim(claim_id)
        if row is not None and not 0 < units <= row["amount"]:
            raise click.BadParameter(f"{amount} is not between 0 and the amount claimed")
    journal.decide_manually(claim_id, units, reason)
    click.echo(
        f"{claim_id}: {'approve ' + amount if amount else 'deny (' + str(reason) + ')'}"
        " recorded; the worker sends it on its next step"
    )


# ------------------------------------------------------------------------------ traceability


@contextmanager
def _supply_chain(account: Any) -> Iterator[Any]:
    from .onchain import Contracts
    from .trace import SupplyChainParty

    with _ipfs() as ipfs:
        yield SupplyChainParty(account, Contracts.load(), ipfs)


def _gs1(text: str) -> Any:
    from .errors import InvalidRecordError
    from .trace import parse_gs1

    try:
        return parse_gs1(text)
    except InvalidRecordError as exc:
        raise click.BadParameter(str(exc)) from None


def _udi(text: str) -> Any:
    from .errors import InvalidRecordError
    from .trace import parse_udi

    try:
        return parse_udi(text)
    except InvalidRecordError as exc:
        raise click.BadParameter(str(exc)) from None


def trace_prefix(account: Any, prefix: str, to: str | None, revoke: bool) -> None:
    """(Governor) Assign the GS1 company PREFIX (6 to 12 digits, leading zeros included) to
    the manufacturer TO, who alone may then register GTINs and device UDIs under it; or
    --revoke it. Without either, show who owns it."""
    from .onchain import Contracts

    if not (prefix.isascii() and prefix.isdigit() and 6 <= len(prefix) <= 12):
        raise click.BadParameter(f"a GS1 company prefix is 6 to 12 digits, got {prefix!r}")
    trace = Contracts.load().trace
    if trace is None:
        raise click.UsageError("this deployment has no Traceability contract; redeploy")
    if to and revoke:
        raise click.UsageError("give --to MANUFACTURER or --revoke, not both")
    if to:
        trace.assign_company_prefix(account, prefix, to)
        click.echo(f"company prefix {prefix} assigned to {to}")
    elif revoke:
        trace.revoke_company_prefix(account, prefix)
        click.echo(f"company prefix {prefix} revoked")
    else:
        # Any GTIN under the prefix names it: pad with zeros to 13 digits, indicator 0.
        owned, owner = trace.company_prefix_of(int(("0" + prefix).ljust(13, "0") + "0"))
        click.echo(f"company prefix {owned} belongs to {owner}" if owned else "not assigned")


def trace_register(account: Any, code: str, first: int, last: int, certificate: Path) -> None:
    """(Manufacturer) Register the batch CODE names ((01) GTIN, (17) expiry, (10) lot) with
    serials FIRST..LAST and its certificate of analysis."""
    gs1 = _gs1(code)
    with _supply_chain(account) as party:
        batch_id = party.register_batch(gs1, first, last, certificate.read_bytes())
    click.echo(f"batch 0x{batch_id.hex()}: {last - first + 1:,} units of {gs1.element_string()}")


def trace_ship(account: Any, code: str, first: int, last: int, to: str) -> None:
    """(Holder) Offer serials FIRST..LAST of CODE's batch to TO; TO accepts them."""
    gs1 = _gs1(code)
    with _supply_chain(account) as party:
        batch_id = party.trace.batch_id(gs1.gtin_number, gs1.lot_bytes)
        party.ship(batch_id, first, last, to)
    click.echo(f"offered {last - first + 1:,} units to {to}; they run `carechain trace accept`")


def trace_accept(account: Any, code: str) -> None:
    """(Receiver) Accept every range of CODE's batch offered to you."""
    gs1 = _gs1(code)
    with _supply_chain(account) as party:
        units = party.accept_all(party.trace.batch_id(gs1.gtin_number, gs1.lot_bytes))
    click.echo(f"accepted {units:,} units" if units else "nothing is offered to you")


def trace_dispense(account: Any, code: str) -> None:
    """(Pharmacy or hospital) Dispense the unit CODE names (with its (21) serial)."""
    with _supply_chain(account) as party:
        party.dispense(_gs1(code))
    click.echo("dispensed (no patient is recorded)")


def trace_recall(account: Any, code: str, reason: str) -> None:
    """(Manufacturer or regulator) Recall CODE's batch; lists every holder to contact."""
    gs1 = _gs1(code)
    with _supply_chain(account) as party:
        holders = party.recall(party.trace.batch_id(gs1.gtin_number, gs1.lot_bytes), reason)
    click.echo(f"recalled; {len(holders)} parties hold or are receiving units:")
    for holder in holders:
        click.echo(f"  {holder}")


def trace_verify(account: Any, code: str) -> None:
    """Is the unit CODE names genuine, where has it been, is it recalled? Exits 2 if it is
    not genuine, recalled, expired or already dispensed."""
    with _supply_chain(account) as party:
        result = party.verify(_gs1(code))
    if not result.genuine:
        click.secho("NOT GENUINE: no such unit was ever registered", fg="red")
        sys.exit(2)
    flags = [n for n in ("recalled", "expired", "dispensed") if getattr(result, n)]
    click.echo(
        f"genuine; held by {result.holder}"
        + (f", offered to {result.offered_to}" if result.offered_to else "")
    )
    for line in result.history:
        click.echo(f"  {line}")
    if flags:
        click.secho(f"DO NOT USE: {', '.join(flags)}", fg="red")
        sys.exit(2)


def trace_device(
    account: Any,
    udi: str,
    action: str,
    to: str | None,
    kind: str | None,
    failed: bool,
    document: Path | None,
    reason: str | None,
) -> None:
    """Devices by UDI: register (the manufacturer owning the DI's company prefix,
    --document), assign (--to hospital), service (--kind, --document report, --failed),
    decommission (--reason), history."""
    _udi(udi)
    with _supply_chain(account) as party:
        if action == "register":
            if document is None:
                raise click.UsageError("register needs --document")
            party.register_device(udi, document.read_bytes())
        elif action == "assign":
            if not to:
                raise click.UsageError("assign needs --to HOSPITAL")
            party.assign_device(udi, to)
        elif action == "service":
            if document is None or kind is None:
                raise click.UsageError("service needs --kind and --document (the report)")
            party.log_service(udi, kind, not failed, document.read_bytes())
        elif action == "decommission":
            party.decommission(udi, reason or "end-of-life")
        for line in party.device_history(udi):
            click.echo(line)


def _register_connected_commands() -> None:
    role = click.argument(
        "role",
        type=click.Choice(
            [
                "provider",
                "insurer",
                "auditor",
                "arbitrator",
                "manufacturer",
                "distributor",
                "pharmacy",
                "regulator",
            ]
        ),
    )
    address = click.argument("address", type=ADDRESS)
    key_option = click.option(
        "--key", required=True, type=click.Path(exists=True, path_type=Path), help="key file"
    )
    main.add_command(_connected(main_whoami))
    admin.add_command(_connected(role(address(admin_admit))))
    admin.add_command(_connected(role(address(admin_remove))))
    keys.add_command(_connected(key_option(keys_publish)))

    @main.group()
    def records() -> None:
        """Anchor, list and read records."""

    files = click.argument(
        "files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
    )
    idempotent = click.option(
        "--idempotent/--new-ids",
        default=True,
        show_default=True,
        help="derive record ids from the FHIR ids (a re-run anchors nothing twice), or use "
        "fresh random ids",
    )
    records.add_command(
        _connected(
            click.option("--patient", required=True, type=ADDRESS)(
                key_option(idempotent(files(records_anchor)))
            )
        )
    )
    records.add_command(
        _connected(click.option("--patient", default=None, type=ADDRESS)(records_list))
    )
    purposes = click.Choice([p.name.lower() for p in Purpose])
    purpose_option = click.option(
        "--purpose", type=purposes, default="treatment", show_default=True
    )
    records.add_command(
        _connected(
            click.argument("record_id")(
                key_option(
                    purpose_option(click.option("--version", type=int, default=None)(records_read))
                )
            )
        )
    )

    @main.group()
    def consent() -> None:
        """Grant, deny, revoke, sign, relay, list, export and import consent."""

    scope_option = click.option(
        "--scope", default="all", show_default=True, help="all | category:<name> | record:0x<id>"
    )
    period_days = DAYS
    days_option = click.option("--days", type=period_days, default=30, show_default=True)
    grantee_arg = click.argument("grantee", type=ADDRESS)
    consent.add_command(
        _connected(
            grantee_arg(
                scope_option(
                    purpose_option(
                        days_option(key_option(click.option("--deny", is_flag=True)(consent_grant)))
                    )
                )
            )
        )
    )
    consent.add_command(_connected(click.argument("grant_id")(consent_revoke)))
    consent.add_command(
        _connected(click.option("--patient", default=None, type=ADDRESS)(consent_list))
    )
    consent.add_command(_connected(click.argument("grant_id")(consent_export)))
    consent.add_command(
        _connected(
            click.argument("file", type=click.Path(exists=True, path_type=Path))(
                key_option(consent_import)
            )
        )
    )
    consent.add_command(
        _connected(
            grantee_arg(
                scope_option(
                    purpose_option(
                        days_option(
                            key_option(
                                click.option(
                                    "--out", required=True, type=click.Path(path_type=Path)
                                )(consent_sign)
                            )
                        )
                    )
                )
            )
        )
    )
    consent.add_command(
        _connected(
            click.argument("payload", type=click.Path(exists=True, path_type=Path))(consent_relay)
        )
    )

    @main.group()
    def audit() -> None:
        """The read audit trail."""

    audit.add_command(_connected(key_option(audit_trail)))

    @main.group()
    def claims() -> None:
        """Insurance claims: escrow, policies, submission, review, settlement, disputes."""

    amount = click.argument("amount")
    claim_arg = click.argument("claim_id")
    claims.add_command(_connected(amount(claims_fund)))
    claims.add_command(
        _connected(
            amount(
                click.option("--to", default=None, type=ADDRESS, help="who gets them")(
                    claims_faucet
                )
            )
        )
    )
    claims.add_command(_connected(amount(claims_withdraw)))
    policy_options = [
        click.argument("patient", type=ADDRESS),
        click.option("--limit", required=True, help="most the insurer pays, e.g. 5000.00"),
        click.option("--deductible", default="0", show_default=True),
        click.option("--copay-bps", type=click.IntRange(0, 10_000), default=0, show_default=True),
        click.option(
            "--cover", required=True, help="covered categories, e.g. observation,condition"
        ),
        click.option("--days", type=period_days, default=365, show_default=True),
        click.option("--auto-approve-below", default="0", show_default=True),
    ]
    command = claims_policy
    for option in reversed(policy_options):
        command = option(command)
    claims.add_command(_connected(command))
    submit_options = [
        click.argument("file", type=click.Path(exists=True, path_type=Path)),
        click.option("--policy", type=int, required=True),
        click.option("--insurer", required=True, type=ADDRESS),
        click.option("--record", multiple=True, required=True, help="evidence record id"),
        click.option(
            "--service-date",
            type=click.DateTime(["%Y-%m-%d"]),
            default=None,
            help="the day of service, if the Claim does not say (item.servicedDate)",
        ),
        key_option,
    ]
    command = claims_submit
    for option in reversed(submit_options):
        command = option(command)
    claims.add_command(_connected(command))
    draft_options = [
        click.argument("patient", type=ADDRESS),
        click.option("--insurer", required=True, type=ADDRESS),
        click.option("--policy", type=int, required=True),
        click.option("--record", multiple=True, required=True, help="evidence record id"),
        click.option(
            "--item", multiple=True, required=True, help="CODE:DISPLAY:AMOUNT, e.g. 99213:Visit:120"
        ),
        click.option(
            "--service-date", type=click.DateTime(["%Y-%m-%d"]), default=None, help="default today"
        ),
    ]
    command = claims_draft
    for option in reversed(draft_options):
        command = option(command)
    claims.add_command(_connected(command))
    statuses = click.Choice([s.name.lower() for s in ClaimStatus if s is not ClaimStatus.NONE])
    claims.add_command(_connected(click.option("--status", type=statuses)(claims_list)))
    claims.add_command(_connected(claim_arg(claims_show)))
    claims.add_command(_connected(claim_arg(key_option(claims_evidence))))
    claims.add_command(_connected(claim_arg(amount(claims_approve))))
    claims.add_command(_connected(claim_arg(click.option("--reason", required=True)(claims_deny))))
    claims.add_command(
        _connected(
            click.argument("claim_ids", nargs=-1)(
                click.option("--batch-size", type=click.IntRange(1, 100), default=50)(claims_settle)
            )
        )
    )
    claims.add_command(_connected(claim_arg(claims_dispute)))
    claims.add_command(_connected(click.argument("to", type=ADDRESS)(claims_collect)))
    claims.add_command(_connected(claims_owed))

    @main.group()
    def trace() -> None:
        """Medicines (GS1 codes) and medical devices (UDI): custody, recalls, verification."""

    code_arg = click.argument("code")
    serials = [
        click.option("--first", type=int, required=True),
        click.option("--last", type=int, required=True),
    ]
    command = trace_register
    for option in reversed(
        [
            code_arg,
            *serials,
            click.option(
                "--certificate", required=True, type=click.Path(exists=True, path_type=Path)
            ),
        ]
    ):
        command = option(command)
    trace.add_command(_connected(command))
    command = trace_ship
    for option in reversed([code_arg, *serials, click.option("--to", required=True, type=ADDRESS)]):
        command = option(command)
    trace.add_command(_connected(command))
    trace.add_command(_connected(code_arg(trace_accept)))
    trace.add_command(_connected(code_arg(trace_dispense)))
    trace.add_command(_connected(code_arg(click.option("--reason", required=True)(trace_recall))))
    trace.add_command(_connected(code_arg(trace_verify)))
    command = trace_prefix
    for option in reversed(
        [
            click.argument("prefix"),
            click.option(
                "--to", default=None, type=ADDRESS, help="the manufacturer to assign it to"
            ),
            click.option("--revoke", is_flag=True, help="take the prefix away"),
        ]
    ):
        command = option(command)
    trace.add_command(_connected(command))
    device_options = [
        click.argument("udi"),
        click.argument(
            "action",
            type=click.Choice(["register", "assign", "service", "decommission", "history"]),
        ),
        click.option("--to", default=None, type=ADDRESS, help="the hospital (assign)"),
        click.option("--kind", type=click.Choice(["maintenance", "calibration", "quality-check"])),
        click.option("--failed", is_flag=True, help="the check failed (service)"),
        click.option("--document", type=click.Path(exists=True, path_type=Path)),
        click.option("--reason", default=None, help="why (decommission)"),
    ]
    command = trace_device
    for option in reversed(device_options):
        command = option(command)
    trace.add_command(_connected(command))

    worker_options = [
        key_option,
        click.option(
            "--rules",
            required=True,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="the adjudication rules (TOML; see examples/insurer-rules.toml)",
        ),
        db_option,
        click.option(
            "--from-block",
            type=int,
            default=None,
            help="first block to read on a new journal [default: the deployment's block]",
        ),
        click.option("--until-idle", is_flag=True, help="exit once nothing is left to do"),
    ]
    command = insurer_worker
    for option in reversed(worker_options):
        command = option(command)
    insurer.add_command(_connected(command))


_register_connected_commands()
