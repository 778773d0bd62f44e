"""Turn beat_bench.py's raw results into docs/benchmarks.md's table and docs/benchmarks.png."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{unit}"


def _cell(result: dict[str, Any], key: str, unit: str, digits: int = 1) -> str:
    if result.get("error") == "not measured":
        return "not run"
    if "error" in result:
        return f"fails: {result['error'][:60]}"
    return _fmt(result.get(key), unit, digits)


def _ratio(stock: dict[str, Any], ours: dict[str, Any], key: str) -> str:
    if "error" in stock or "error" in ours or not ours.get(key) or stock.get(key) is None:
        return "—"
    ratio = stock[key] / ours[key]
    return f"{ratio:,.1f}×" if ratio < 10 else f"{ratio:,.0f}×"


def table(data: dict[str, Any]) -> str:
    lines = [
        "| events | scheduler | build | idle tick | tick after insert | live p50 | live p99 | sent by the end | peak RSS |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in data["rows"]:
        if "n" not in row:
            continue
        for kind in ("stock", "ours"):
            if kind not in row:
                row[kind] = {
                    "ticks": {"error": "not measured"},
                    "latency": {"error": "not measured"},
                }
            ticks, live = row[kind]["ticks"], row[kind]["latency"]
            lines.append(
                f"| {row['n']:,} | {kind} | {_cell(ticks, 'build_s', ' s', 2)} "
                f"| {_cell(ticks, 'idle_tick_ms', ' ms', 2)} | {_cell(ticks, 'insert_tick_ms', ' ms', 1)} "
                f"| {_cell(live, 'p50_s', ' s', 2)} | {_cell(live, 'p99_s', ' s', 2)} "
                f"| {live.get('sent', '—')}/200 | {_cell(ticks, 'rss_mb', ' MB', 0)} |"
            )
        lines.append(
            f"| {row['n']:,} | **stock ÷ ours** | | {_ratio(row['stock']['ticks'], row['ours']['ticks'], 'idle_tick_ms')} "
            f"| {_ratio(row['stock']['ticks'], row['ours']['ticks'], 'insert_tick_ms')} "
            f"| {_ratio(row['stock']['latency'], row['ours']['latency'], 'p50_s')} "
            f"| {_ratio(row['stock']['latency'], row['ours']['latency'], 'p99_s')} | | |"
        )
    return "\n".join(lines)


def burst_table(data: dict[str, Any]) -> str:
    bursts = next((r["burst"] for r in data["rows"] if "burst" in r), {})
    lines = ["| scheduler | published | time to publish all 10,000 |", "|---|---:|---:|"]
    for kind, result in bursts.items():
        if "error" in result:
            lines.append(f"| {kind} | — | fails: {result['error'][:80]} |")
        else:
            lines.append(
                f"| {kind} | {result['published']:,} | {_fmt(result.get('seconds'), ' s', 2)} |"
            )
    return "\n".join(lines)


def _get(row: dict[str, Any], kind: str, part: str, key: str) -> Any:
    return row.get(kind, {}).get(part, {}).get(key)


def plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in data["rows"] if "n" in r]
    fig, (ticks, latency) = plt.subplots(1, 2, figsize=(11, 4.2))
    for kind, style in (("stock", "o--"), ("ours", "s-")):
        for key, label in (("idle_tick_ms", "idle tick"), ("insert_tick_ms", "tick after insert")):
            points = [
                (r["n"], _get(r, kind, "ticks", key)) for r in rows if _get(r, kind, "ticks", key)
            ]
            if points:
                ticks.plot(*zip(*points, strict=True), style, label=f"{kind}: {label}")
        points = [
            (r["n"], _get(r, kind, "latency", "p99_s"))
            for r in rows
            if _get(r, kind, "latency", "p99_s")
        ]
        if points:
            latency.plot(*zip(*points, strict=True), style, label=f"{kind}: live p99")
    for axis, title, unit in ((ticks, "Tick cost", "ms"), (latency, "Firing latency", "s")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("scheduled events")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def merge(paths: list[Path]) -> dict[str, Any]:
    """Results of several runs, later ones winning per size and scheduler."""
    rows: dict[Any, dict[str, Any]] = {}
    database = ""
    for path in paths:
        data = json.loads(path.read_text())
        database = data["database"]
        for row in data["rows"]:
            key = row.get("n", "burst")
            merged = rows.setdefault(key, {"n": row["n"]} if "n" in row else {"burst": {}})
            if "burst" in row:
                merged["burst"].update(row["burst"])
            else:
                merged.update({k: v for k, v in row.items() if k in ("stock", "ours", "prepare")})
    ordered = sorted((r for k, r in rows.items() if k != "burst"), key=lambda r: r["n"])
    return {"database": database, "rows": ordered + ([rows["burst"]] if "burst" in rows else [])}


def main(paths: list[Path]) -> None:
    data = merge(paths)
    plot(data, ROOT / "docs" / "benchmarks.png")
    print(f"## Beat, {data['database']}\n\n{table(data)}\n\nBurst:\n\n{burst_table(data)}\n")


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]])
