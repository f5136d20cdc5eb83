"""Static analysis of carechain's contracts with Slither, gated on a triage file.

    python tools/static_analysis.py                # contracts/; fail on untriaged High/Medium
    python tools/static_analysis.py --strict       # ... and on untriaged Low as well
    python tools/static_analysis.py --sources DIR  # other sources (the tool's own test)

Slither cannot run solcjs, but it reads compiler output in Hardhat's build-info format.
This script compiles the sources with the project's solc launcher (tools/solc.cjs; only
the ASTs are asked for, which is all Slither's detectors read, so no code is generated),
writes the standard-JSON input and output as `<out>/build-info/<id>.json`, and runs every
Slither detector on it through Slither's Python API.

Each finding is matched against tools/slither-triage.toml by detector and location
(`Contract.function`, or the element's name when it is not a function):

    [[accepted]]
    check = "timestamp"
    where = "ConsentManager._access"
    reason = "..."

Every finding is listed in a table; the exit status is 1 when a High or Medium finding
(with --strict: also Low) is not triaged, and 2 when the sources do not compile. A triage
entry that no longer matches anything is reported so the file does not rot.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
SOLC_VERSION = "0.8.30"
GATED = ("High", "Medium")
IMPACT_ORDER = {"High": 0, "Medium": 1, "Low": 2, "Informational": 3, "Optimization": 4}


@dataclass(frozen=True)
class Finding:
    """One Slither result, reduced to what the triage file and the table need."""

    check: str
    impact: str
    confidence: str
    where: str
    location: str
    description: str


def solidity_sources(folder: Path) -> dict[str, dict[str, str]]:
    """The deployable sources: `folder/*.sol` and `folder/interfaces/*.sol`. Test helpers
    (contracts/test/) are never deployed and are left out."""
    files = sorted(folder.glob("*.sol")) + sorted((folder / "interfaces").glob("*.sol"))
    if not files:
        raise SystemExit(f"no Solidity sources in {folder}")
    return {p.relative_to(ROOT).as_posix(): {"content": p.read_text()} for p in files}


def write_build_info(sources: dict[str, dict[str, str]], out: Path) -> Path:
    """Compile `sources` (ASTs only) with tools/solc.cjs and write a Hardhat build-info file
    under `out/build-info/`, replacing any earlier one."""
    compiler_input = {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "remappings": ["@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"],
            "evmVersion": "paris",
            "outputSelection": {"*": {"": ["ast"]}},
        },
    }
    run = subprocess.run(
        ["node", str(ROOT / "tools" / "solc.cjs"), "--standard-json", "--base-path", "."],
        input=json.dumps(compiler_input),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if run.returncode != 0:
        raise CompileError(run.stderr.strip() or "the solc launcher failed")
    output = json.loads(run.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise CompileError("\n".join(errors))
    digest = hashlib.sha256(run.stdout.encode()).hexdigest()[:32]
    folder = out / "build-info"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    path = folder / f"{digest}.json"
    path.write_text(
        json.dumps(
            {
                "_format": "hh-sol-build-info-1",
                "id": digest,
                "solcVersion": SOLC_VERSION,
                "solcLongVersion": SOLC_VERSION,
                "input": compiler_input,
                "output": output,
            }
        )
    )
    return path


class CompileError(Exception):
    """The sources given to Slither do not compile."""


def analyse(artifacts: Path) -> list[Finding]:
    """Run every Slither detector on the build-info under `artifacts`; findings located in
    node_modules (OpenZeppelin) are dropped."""
    from slither import Slither
    from slither.detectors import all_detectors
    from slither.detectors.abstract_detector import AbstractDetector

    slither = Slither(
        str(ROOT),
        compile_force_framework="hardhat",
        hardhat_ignore_compile=True,
        npx_disable=True,
        hardhat_artifacts_directory=str(artifacts),  # absolute: Path(ROOT, it) is it
    )
    for _, detector in inspect.getmembers(all_detectors, inspect.isclass):
        if issubclass(detector, AbstractDetector):
            slither.register_detector(detector)
    findings = []
    for results in slither.run_detectors():
        for result in results:
            first = result["elements"][0] if result["elements"] else {}
            filename = first.get("source_mapping", {}).get("filename_relative", "")
            if "node_modules" in Path(filename).parts:
                continue
            findings.append(
                Finding(
                    check=result["check"],
                    impact=result["impact"],
                    confidence=result["confidence"],
                    where=_where(first),
                    location=result.get("first_markdown_element", filename),
                    description=result["description"].strip().splitlines()[0],
                )
            )
    findings.sort(key=lambda f: (IMPACT_ORDER.get(f.impact, 9), f.check, f.where))
    return findings


def _where(element: dict) -> str:
    """`Contract.function` for a function (or modifier), the element's own name otherwise."""
    name = element.get("name", "?")
    if element.get("type") in ("function", "modifier"):
        parent = element.get("type_specific_fields", {}).get("parent", {}).get("name")
        return f"{parent}.{name}" if parent else name
    return name


def load_triage(path: Path) -> dict[tuple[str, str], str]:
    """(check, where) -> reason. Every entry must give a reason."""
    if not path.exists():
        return {}
    entries = tomllib.loads(path.read_text()).get("accepted", [])
    triage = {}
    for i, entry in enumerate(entries, 1):
        missing = [k for k in ("check", "where", "reason") if not str(entry.get(k, "")).strip()]
        if missing:
            raise SystemExit(f"{path}: entry {i} lacks {', '.join(missing)}")
        triage[(entry["check"], entry["where"])] = entry["reason"]
    return triage


def report(
    findings: list[Finding],
    triage: dict[tuple[str, str], str],
    gated: tuple[str, ...],
    console: Console,
) -> int:
    """Print the findings table and the verdict; returns the number of blocking findings."""
    table = Table(title="Slither findings", show_lines=False)
    for column in ("impact", "detector", "where", "location", "triage"):
        table.add_column(column, no_wrap=column != "location")
    blocking = 0
    for f in findings:
        accepted = (f.check, f.where) in triage
        if not accepted and f.impact in gated:
            blocking += 1
            verdict = "[bold red]UNTRIAGED[/]"
        else:
            verdict = "accepted" if accepted else "[yellow]untriaged[/]"
        table.add_row(f.impact, f.check, f.where, f.location.removeprefix("contracts/"), verdict)
    console.print(table)
    used = {(f.check, f.where) for f in findings}
    for check, where in sorted(set(triage) - used):
        console.print(f"[yellow]stale triage entry[/] {check} @ {where}: matches no finding")
    counts = {i: sum(f.impact == i for f in findings) for i in IMPACT_ORDER}
    console.print(
        ", ".join(f"{n} {impact}" for impact, n in counts.items() if n) or "no findings",
        f"({len(findings)} in all)",
    )
    for f in findings:
        if (f.check, f.where) not in triage and f.impact in gated:
            console.print(f"[bold red]{f.impact}[/] {f.check}: {f.description}")
    return blocking


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, default=ROOT / "contracts")
    parser.add_argument(
        "--triage", type=Path, default=Path("tools/slither-triage.toml"), help="accepted findings"
    )
    parser.add_argument("--out", type=Path, default=ROOT / ".build" / "slither")
    parser.add_argument("--strict", action="store_true", help="also fail on untriaged Low")
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 140)
    try:
        write_build_info(solidity_sources(args.sources.resolve()), args.out.resolve())
    except CompileError as exc:
        console.print(f"[bold red]the sources do not compile[/]\n{exc}")
        return 2
    findings = analyse(args.out.resolve())
    gated = (*GATED, "Low") if args.strict else GATED
    blocking = report(findings, load_triage(ROOT / args.triage), gated, console)
    if blocking:
        console.print(
            f"[bold red]{blocking} untriaged {'/'.join(gated)} finding(s).[/] Fix them, or "
            f"accept each in {args.triage} with a reason."
        )
        return 1
    console.print(f"[green]no untriaged {'/'.join(gated)} findings[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
