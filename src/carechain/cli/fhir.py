"""carechain fhir and carechain cid: offline checks of FHIR files and CIDs."""

from __future__ import annotations

from pathlib import Path

import click

from ..fhir import category_for, describe, parse_resource
from ..unixfs import compute_cid


@click.group()
def fhir() -> None:
    """FHIR R4 records."""


@fhir.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def fhir_validate(files: tuple[Path, ...]) -> None:
    """Check that FILES are valid FHIR R4; exits 1 on the first invalid one."""
    for path in files:
        resource = parse_resource(path.read_bytes())
        click.echo(f"{path}: valid {describe(resource)} ({category_for(resource).name})")


@click.command("cid")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
def cid(file: Path) -> None:
    """The CID carechain (and Kubo) give FILE's bytes, computed locally."""
    click.echo(compute_cid(file.read_bytes()))
