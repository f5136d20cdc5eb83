"""Gather the benchmark results into one summary: JSON to compare runs, Markdown to read,
and a PNG chart.

    make bench      (runs gas.py, paths.py, claims.py, network.py, devices.py and scale.py
                     first; or: python bench/summary.py)

Reads bench/results/gas.json, paths.json, claims.json, network.json, devices.json and
scale.json (whichever exist) and writes bench/results/summary.json, summary.md and
summary.png (and scale.png, the scale figures on their own). ``summary.json`` always has at
least ``{"gas": [{"name", "gas", "floor"}], "eas": {"ours", "eas"}, "ingest": {"naive_rps",
"best_rps"}, "read_ms": {"1MiB": {"p50", "p95"}}}`` so that runs can be compared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"

#: The targets the benchmarks are held to (from the benchmarks issue).
TARGETS = {
    "anchor_ratio": 1.10,  # one record: gas / floor
    "batch_ratio": 1.08,  # batched, per record
    "eas_factor": 5.0,  # at least this many times cheaper than EAS
    "ingest_rps": 2000.0,  # issue 21: 1,000 realistic records on the 2-core machine
    "ingest_speedup": 100.0,
    "claims_reviewed_50_per_s": 50.0,
    "read_1mib_p50_ms": 100.0,
    "scale_listing_ms": 50.0,  # a patient's listing after catch-up, at every chain size
    "scale_catchup_events_per_s": 20_000.0,  # a first sync of the index, at the largest size
}


def _load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def build() -> dict[str, Any]:
    """The summary from whatever results exist."""
    gas, paths, claims = _load("gas"), _load("paths"), _load("claims")
    network, devices, scale = _load("network"), _load("devices"), _load("scale")
    summary: dict[str, Any] = {}
    if gas:
        summary["gas"] = [
            {"name": g["name"], "gas": g["gas"], "floor": g["floor"], "ratio": g["ratio"]}
            for g in gas["gas"]
        ]
        eas = gas["eas"]
        summary["eas"] = {
            "ours": eas["ours"]["one"],
            "eas": eas["eas"]["one"],
            "ours_batch_100_per_record": eas["ours"]["batch_100_per_record"],
            "eas_batch_100_per_record": eas["eas"]["batch_100_per_record"],
        }
    if paths:
        summary["ingest"] = paths["ingest"]
        summary["read_ms"] = paths["read_ms"]
        summary["crypto"] = paths["crypto"]
    if claims:
        summary["claims"] = {
            "claims": claims["claims"],
            "per_s": {
                mode: {batch: run["claims_per_s"] for batch, run in runs.items()}
                for mode, runs in claims["runs"].items()
            },
        }
    if network:
        summary["network"] = network
    if devices:
        summary["devices"] = devices
    if scale:
        summary["scale"] = _scale(scale)
    summary["targets"] = _verdicts(summary)
    return summary


def _scale(scale: dict[str, Any]) -> dict[str, Any]:
    """The scale bench's headline figures by chain size ("10k", "100k", "1M"): a patient's
    listing after catch-up (ms), the peak RSS of a process doing a first sync of the index
    (the heaviest read; MiB), and the first sync's events per second at the largest size."""
    sizes = scale["sizes"]
    largest = sizes[list(sizes)[-1]]
    return {
        "listing_ms": {label: round(r["listing"]["ms"], 2) for label, r in sizes.items()},
        "peak_mib": {label: round(r["first_sync"]["peak_mib"], 1) for label, r in sizes.items()},
        "catchup_events_per_s": round(largest["first_sync"]["events_per_s"]),
        "audit_trail_ms": {label: round(r["audit_trail"]["ms"], 2) for label, r in sizes.items()},
        "open_claims_ms": {label: round(r["open_claims"]["ms"], 2) for label, r in sizes.items()},
        "first_sync_s": {label: round(r["first_sync"]["seconds"], 2) for label, r in sizes.items()},
        "worker_catchup_s": {
            label: round(r["worker_catchup"]["seconds"], 3) for label, r in sizes.items()
        },
        "build_s": {label: round(r["build_s"]) for label, r in sizes.items()},
    }


def _verdicts(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with the measured value and whether it was met."""
    out: dict[str, dict[str, Any]] = {}

    def check(name: str, value: float, target: float, at_most: bool) -> None:
        met = value <= target if at_most else value >= target
        out[name] = {"value": round(value, 3), "target": target, "met": met}

    rows = {g["name"]: g for g in summary.get("gas", [])}
    if "anchor (one record)" in rows:
        check("anchor_ratio", rows["anchor (one record)"]["ratio"], TARGETS["anchor_ratio"], True)
    batch = rows.get("anchorBatch (100 records), per record")
    if batch:
        check("batch_ratio", batch["ratio"], TARGETS["batch_ratio"], True)
    if "eas" in summary:
        factor = summary["eas"]["eas"] / summary["eas"]["ours"]
        check("eas_factor", factor, TARGETS["eas_factor"], False)
    if "ingest" in summary:
        ingest = summary["ingest"]
        check("ingest_rps", ingest["best_rps"], TARGETS["ingest_rps"], False)
        speedup = ingest["best_rps"] / ingest["naive_rps"]
        check("ingest_speedup", speedup, TARGETS["ingest_speedup"], False)
    reviewed = summary.get("claims", {}).get("per_s", {}).get("reviewed", {}).get("50")
    if reviewed is not None:
        check("claims_reviewed_50_per_s", reviewed, TARGETS["claims_reviewed_50_per_s"], False)
    if "read_ms" in summary:
        p50 = summary["read_ms"]["1MiB"]["p50"]
        check("read_1mib_p50_ms", p50, TARGETS["read_1mib_p50_ms"], True)
    if "scale" in summary:
        scale = summary["scale"]
        slowest = max(scale["listing_ms"].values())
        check("scale_listing_ms", slowest, TARGETS["scale_listing_ms"], True)
        rate = scale["catchup_events_per_s"]
        check("scale_catchup_events_per_s", rate, TARGETS["scale_catchup_events_per_s"], False)
    return out


def markdown(summary: dict[str, Any]) -> str:
    """The summary as Markdown tables."""
    mark = {True: "✓", False: "✗"}
    lines = ["# carechain benchmarks", "", "One run on a local anvil and Kubo node.", ""]
    if summary.get("targets"):
        lines += ["| target | measured | goal | met |", "|---|---:|---:|:-:|"]
        for name, t in summary["targets"].items():
            lines.append(f"| {name} | {t['value']:,} | {t['target']:,} | {mark[t['met']]} |")
        lines.append("")
    if "gas" in summary:
        lines += ["| function | gas | floor | ratio |", "|---|---:|---:|---:|"]
        for g in summary["gas"]:
            lines.append(
                f"| {g['name']} | {g['gas']:,.0f} | {g['floor']:,.0f} | {g['ratio']:.3f} |"
            )
        lines.append("")
    if "eas" in summary:
        e = summary["eas"]
        lines += [
            "| anchoring | carechain | EAS | EAS / carechain |",
            "|---|---:|---:|---:|",
            f"| one record | {e['ours']:,.0f} | {e['eas']:,.0f} | {e['eas'] / e['ours']:.2f} |",
            f"| batch of 100, per record | {e['ours_batch_100_per_record']:,.0f} | "
            f"{e['eas_batch_100_per_record']:,.0f} | "
            f"{e['eas_batch_100_per_record'] / e['ours_batch_100_per_record']:.2f} |",
            "",
        ]
    if "ingest" in summary:
        i = summary["ingest"]
        lines += [
            f"Ingest of {i['records']} FHIR records: naive {i['naive_rps']:.1f}/s, best "
            f"{i['best_rps']:.1f}/s ({i['best_rps'] / i['naive_rps']:.1f}x).",
            "",
            "| read path | p50 ms | p95 ms |",
            "|---|---:|---:|",
        ]
        for label, r in summary["read_ms"].items():
            lines.append(f"| {label} | {r['p50']:.1f} | {r['p95']:.1f} |")
        lines.append("")
    if "claims" in summary:
        c = summary["claims"]
        lines += [
            f"Claims through the settlement worker ({c['claims']} per run):",
            "",
            "| claims | settlement batch | claims/s |",
            "|---|---|---:|",
        ]
        lines += [
            f"| {mode} | {batch} | {rate:.1f} |"
            for mode, rates in c["per_s"].items()
            for batch, rate in rates.items()
        ]
        lines.append("")
    if "network" in summary:
        n = summary["network"]
        lat, rep = n["anchor_to_read_on_b_s"], n["new_member_replication"]
        rps = n["anchor_rps"]
        lines += [
            f"Consortium ({n['members']} members, geth Clique, {n['period_s']} s blocks):",
            "",
            "| figure | value |",
            "|---|---:|",
            f"| records/s anchored, one hospital | {rps['one_hospital']:.0f} |",
            f"| records/s anchored, two hospitals at once | {rps['two_hospitals']:.0f} |",
            f"| anchor on A → verified on B, p50 / p95 | {lat['p50']:.2f} s / {lat['p95']:.2f} s |",
            f"| of which waiting for A's block, p50 | {lat['waiting_for_a_block_p50']:.2f} s |",
            f"| a new member replicates {rep['records']:,} records | {rep['seconds']:.0f} s |",
            "",
        ]
    if "devices" in summary:
        d = summary["devices"]
        lat = d["latency_s"]
        lines += [
            f"Signed device readings, {d['devices']} devices through one gateway for "
            f"{d['seconds']} s:",
            "",
            "| figure | value |",
            "|---|---:|",
            f"| readings per minute (target {d['target_per_minute']:,}) | {d['per_minute']:,} |",
            f"| readings anchored / refused | {d['anchored']:,} / {d['refused']:,} |",
            f"| readings per record | {d['readings_per_record']} |",
            f"| reading → anchored, p50 / p95 | {lat['p50']:.1f} s / {lat['p95']:.1f} s |",
            f"| gas per reading | {d['gas_per_reading']:,} |",
            "",
        ]
    if "scale" in summary:
        lines += scale_table(summary["scale"])
    return "\n".join(lines)


def scale_table(scale: dict[str, Any]) -> list[str]:
    """The scale figures as a Markdown table, one column per chain size."""
    sizes = list(scale["listing_ms"])
    rows = [
        ("building the chain to this size, s", "build_s", "{:,.0f}"),
        ("first sync of a patient's index, s", "first_sync_s", "{:,.1f}"),
        ("its peak RSS, MiB", "peak_mib", "{:,.0f}"),
        ("listing the patient's 50 records, ms", "listing_ms", "{:,.1f}"),
        ("the patient's audit trail (5 reads), ms", "audit_trail_ms", "{:,.1f}"),
        ("an insurer's open claims (5), ms", "open_claims_ms", "{:,.1f}"),
        ("the worker's catch-up, s", "worker_catchup_s", "{:,.2f}"),
    ]
    lines = [
        "A million records (bench/scale.py): one chain grown to each size; after catch-up.",
        "",
        "| records | " + " | ".join(sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for name, key, form in rows:
        lines.append(f"| {name} | " + " | ".join(form.format(scale[key][s]) for s in sizes) + " |")
    lines += [
        "",
        f"First sync at the largest size: {scale['catchup_events_per_s']:,} events/s.",
        "",
    ]
    return lines


def scale_chart(scale: dict[str, Any], ax: Any) -> None:
    """Time against chain size, both on log scales."""
    sizes = list(scale["listing_ms"])
    records = [{"10k": 1e4, "100k": 1e5, "1M": 1e6}[s] for s in sizes]
    series = [
        ("first sync (index)", [scale["first_sync_s"][s] * 1000 for s in sizes]),
        ("worker catch-up", [scale["worker_catchup_s"][s] * 1000 for s in sizes]),
        ("listing 50 records", [scale["listing_ms"][s] for s in sizes]),
        ("audit trail", [scale["audit_trail_ms"][s] for s in sizes]),
        ("open claims", [scale["open_claims_ms"][s] for s in sizes]),
    ]
    for label, values in series:
        ax.plot(records, values, marker="o", label=label)
    ax.axhline(TARGETS["scale_listing_ms"], color="grey", linestyle="--", label="listing target")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("records on the chain (log)")
    ax.set_ylabel("ms (log)")
    ax.set_title("reads as the chain grows")
    ax.legend(fontsize=7)


def chart(summary: dict[str, Any], path: Path) -> None:
    """Gas against the floor, the read path, and throughput, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = summary.get("scale")
    figure, (gas_ax, read_ax, rate_ax, *scale_ax) = plt.subplots(
        1,
        4 if scale else 3,
        figsize=(22 if scale else 17, 6),
        gridspec_kw={"width_ratios": [2.2, 1, 1, 1.2] if scale else [2.2, 1, 1]},
    )
    if scale:
        scale_chart(scale, scale_ax[0])
    rows = summary.get("gas", [])
    names = [g["name"] for g in rows]
    y = range(len(rows))
    gas_ax.barh([i + 0.2 for i in y], [g["gas"] for g in rows], 0.4, label="measured")
    gas_ax.barh([i - 0.2 for i in y], [g["floor"] for g in rows], 0.4, label="EVM floor")
    gas_ax.set_yticks(list(y), names, fontsize=7)
    gas_ax.invert_yaxis()
    gas_ax.set_xlabel("gas (per record for batches)")
    gas_ax.set_title("gas against the floor")
    gas_ax.legend()
    reads = summary.get("read_ms", {})
    labels = list(reads)
    x = range(len(labels))
    read_ax.bar([i - 0.2 for i in x], [reads[k]["p50"] for k in labels], 0.4, label="p50")
    read_ax.bar([i + 0.2 for i in x], [reads[k]["p95"] for k in labels], 0.4, label="p95")
    read_ax.axhline(TARGETS["read_1mib_p50_ms"], color="grey", linestyle="--", label="target")
    read_ax.set_xticks(list(x), labels)
    read_ax.set_ylabel("ms")
    read_ax.set_title("read path")
    read_ax.legend()
    bars: dict[str, float] = {}
    if "ingest" in summary:
        bars["ingest naive"] = summary["ingest"]["naive_rps"]
        bars["ingest best"] = summary["ingest"]["best_rps"]
    for mode, rates in summary.get("claims", {}).get("per_s", {}).items():
        for batch, rate in rates.items():
            bars[f"{mode} claims, batch {batch}"] = rate
    rate_ax.bar(list(bars), list(bars.values()))
    rate_ax.set_yscale("log")
    rate_ax.set_ylabel("per second (log)")
    rate_ax.set_title("throughput")
    rate_ax.tick_params(axis="x", rotation=30, labelsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    if scale:
        figure, ax = plt.subplots(figsize=(7, 5))
        scale_chart(scale, ax)
        figure.tight_layout()
        figure.savefig(path.with_name("scale.png"), dpi=110)
        plt.close(figure)


def main() -> None:
    summary = build()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = markdown(summary)
    (RESULTS / "summary.md").write_text(text + "\n")
    chart(summary, RESULTS / "summary.png")
    print(text)
    print(f"written: {RESULTS / 'summary.json'}, summary.md, summary.png (and scale.png)")


if __name__ == "__main__":
    main()
