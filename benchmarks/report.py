"""Turn beat_bench.py's raw results into Markdown tables with ratios, and a plot.

    .venv/bin/python benchmarks/report.py sqlite.json postgres.json [more.json ...]
        [--markdown FILE] [--plot docs/benchmarks.png]

Files of the same database are merged, later ones winning per size and scheduler (a
10M ``--kinds ours`` run adds its row to the full run's). The tables go to stdout (and
to FILE with ``--markdown``); the plot (matplotlib, Agg) shows the idle tick, the tick
after an insert and the burst against the number of events, log-log, per scheduler and
database.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("stock", "redbeat", "ours")
OTHERS = ("stock", "redbeat")
DATABASES = {"postgres": "PostgreSQL", "sqlite": "SQLite"}
# (column, measurement, key, unit, digits, a rate?)
COLUMNS = [
    ("build", "ticks", "build_s", " s", 2, False),
    ("idle tick", "ticks", "idle_tick_ms", " ms", 2, False),
    ("tick after insert", "ticks", "insert_tick_ms", " ms", 2, False),
    ("live p50", "latency", "p50_s", " s", 3, False),
    ("live p99", "latency", "p99_s", " s", 3, False),
    ("sent", "latency", "sent", "/200", 0, None),
    ("burst", "burst", "seconds", " s", 2, False),
    ("single (events/s)", "write", "single_per_s", "", 0, True),
    ("bulk (events/s)", "write", "bulk_per_s", "", 0, True),
    ("peak RSS", "ticks", "rss_mb", " MB", 0, False),
]
CONVENTION = (
    "In the ratio rows a figure above 1 means ours is better: for times and memory it is "
    "the other scheduler's figure divided by ours, for rates (events/s) ours divided by "
    "the other's."
)


def _fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{unit}"


def _result(row: dict[str, Any], kind: str, part: str) -> dict[str, Any]:
    if kind not in row:
        return {"error": "not measured"}
    return row[kind].get(part) or {"error": "not measured"}


def _cell(row: dict[str, Any], kind: str, part: str, key: str, unit: str, digits: int) -> str:
    result = _result(row, kind, part)
    if result.get("error") == "not measured":
        return "not run"
    if "error" in result:
        return f"error: {result['error'][:50]}"
    if part.startswith("burst") and result.get("seconds") is None:
        done = result.get("queued") or result.get("published") or 0
        if result.get("beat_error"):
            error = result["beat_error"].replace("beat's thread died: ", "beat died: ")
            return f"fails ({done:,}/{result['size']:,}): {error[:64]}"
        return f"{done:,}/{result['size']:,} after {result.get('waited_s', 300):,.0f} s"
    cell = _fmt(result.get(key), unit, digits)
    if part.startswith("burst") and result.get("started_late"):
        cell += " (late start)"
    return cell


def _value(row: dict[str, Any], kind: str, part: str, key: str) -> float | None:
    result = _result(row, kind, part)
    value = result.get(key)
    if "error" in result or not isinstance(value, (int, float)) or value <= 0:
        return None
    return float(value)


def _ratio(row: dict[str, Any], other: str, part: str, key: str, rate: bool) -> str:
    theirs, ours = _value(row, other, part, key), _value(row, "ours", part, key)
    if theirs is None or ours is None:
        return "—"
    ratio = ours / theirs if rate else theirs / ours
    if ratio >= 10:
        return f"{ratio:,.0f}×"
    return f"{ratio:.2f}×" if ratio >= 1 else f"{ratio:.2g}×"


def _columns(data: dict[str, Any]) -> list[tuple[str, str, str, str, int, bool | None]]:
    """COLUMNS, with one burst column per burst size measured."""
    columns = []
    for column in COLUMNS:
        if column[1] != "burst":
            columns.append(column)
            continue
        for size in data["burst_sizes"]:
            label = f"burst of {size:,}, in the broker"
            columns.append((label, f"burst {size}", *column[2:]))
    return columns


def table(data: dict[str, Any]) -> str:
    columns = _columns(data)
    header = "| events | scheduler | " + " | ".join(c[0] for c in columns) + " |"
    lines = [header, "|---:|---|" + "---:|" * len(columns)]
    for row in data["rows"]:
        kinds = [kind for kind in KINDS if kind in row]
        for kind in kinds:
            cells = [
                _cell(row, kind, part, key, unit, digits)
                for _, part, key, unit, digits, _ in columns
            ]
            lines.append(f"| {row['n']:,} | {kind} | " + " | ".join(cells) + " |")
        if "ours" not in row:
            continue
        for other in OTHERS:
            if other not in row:
                continue
            cells = [
                "" if rate is None else _ratio(row, other, part, key, rate)
                for _, part, key, _, _, rate in columns
            ]
            lines.append(f"| {row['n']:,} | **{other} ÷ ours** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _prepared(result: Any) -> str:
    if not isinstance(result, dict):
        return "—"
    if "error" in result:
        return f"error: {result['error'][:50]}"
    if "reused" in result:
        return f"reused ({result['reused']})"
    text = f"{result['insert_seconds']:,.1f} s ({_fmt(result.get('per_s'), '/s', 0)})"
    if result.get("redis_mb") is not None:
        text += f", {result['redis_mb']:,.0f} MB in Redis"
    return text


def preparation_table(data: dict[str, Any]) -> str:
    lines = [
        "| events | database rows (ours' API, read by stock and ours) | RedBeat entries (pipelined saves) |",
        "|---:|---|---|",
    ]
    for row in data["rows"]:
        redbeat = row.get("redbeat", {}).get("prepare") if "redbeat" in row else None
        lines.append(f"| {row['n']:,} | {_prepared(row.get('prepare'))} | {_prepared(redbeat)} |")
    return "\n".join(lines)


def merge(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Runs by database; later files win per size, scheduler and measurement.

    A burst is kept per burst size (``burst 10000``), so that a run with
    ``--measurements burst --burst-size 100000`` adds a column; a preparation
    reused (``--reuse``) keeps the figures of the run that made it.
    """
    merged: dict[str, dict[str, Any]] = {}
    for path in paths:
        data = json.loads(path.read_text())
        size = data.get("burst_size", 10_000)
        into = merged.setdefault(
            data["database"],
            {"database": data["database"], "rows": {}, "runs": [], "burst_sizes": set()},
        )
        into["runs"].append(
            {
                "file": str(path),
                "started": data.get("started"),
                "elapsed_s": data.get("elapsed_s"),
                "versions": data.get("versions"),
            }
        )
        for row in data["rows"]:
            if "n" not in row:
                continue  # an older file's burst row, on an empty table: not comparable
            target = into["rows"].setdefault(row["n"], {"n": row["n"]})
            if "prepare" in row and not ("reused" in row["prepare"] and "prepare" in target):
                target["prepare"] = row["prepare"]
            for kind in KINDS:
                for part, result in row.get(kind, {}).items():
                    if (
                        part == "prepare"
                        and "reused" in result
                        and "prepare" in target.get(kind, {})
                    ):
                        continue
                    if part == "burst":
                        part = f"burst {result.get('size', size)}"
                        into["burst_sizes"].add(result.get("size", size))
                    target.setdefault(kind, {})[part] = result
    for data in merged.values():
        data["rows"] = [data["rows"][n] for n in sorted(data["rows"])]
        data["burst_sizes"] = sorted(data["burst_sizes"])
    return merged


def markdown(merged: dict[str, dict[str, Any]]) -> str:
    parts = []
    for database, data in sorted(merged.items()):
        runs = "; ".join(
            f"{run['file']}: {run['started'] or '?'}, {_fmt(run['elapsed_s'], ' s', 0)}"
            for run in data["runs"]
        )
        parts.append(
            f"## Beat on {DATABASES.get(database, database)}\n\n"
            f"Runs: {runs}. A burst: that many one-offs due at the same second, on top of "
            "the N events; 'sent': the live one-offs published by the end of the run.\n\n"
            f"{CONVENTION}\n\n{table(data)}\n\n"
            f"Preparing the data:\n\n{preparation_table(data)}\n"
        )
    return "\n".join(parts)


def _points(data: dict[str, Any], kind: str, part: str, key: str) -> list[tuple[int, float]]:
    return [
        (row["n"], value)
        for row in data["rows"]
        if row["n"] > 0 and (value := _value(row, kind, part, key)) is not None
    ]


def plot(merged: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"stock": "tab:red", "redbeat": "tab:orange", "ours": "tab:blue"}
    styles = {"postgres": ("o", "-"), "sqlite": ("s", "--")}
    from matplotlib.ticker import FuncFormatter, NullFormatter

    panels = [
        ("Idle tick", "ms", [("ticks", "idle_tick_ms", "")]),
        ("Tick after an insert", "ms", [("ticks", "insert_tick_ms", "")]),
        (
            "Burst: all in the broker",
            "s after the instant due",
            [
                (f"burst {size}", "seconds", f", {size:,}")
                for size in sorted({s for d in merged.values() for s in d["burst_sizes"]})
            ],
        ),
    ]
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 5))
    for axis, (title, unit, series) in zip(axes, panels, strict=True):
        for database, data in sorted(merged.items()):
            marker, line = styles.get(database, ("^", ":"))
            for kind in KINDS:
                for number, (part, key, suffix) in enumerate(series):
                    points = _points(data, kind, part, key)
                    if points:
                        axis.plot(
                            *zip(*points, strict=True),
                            marker=marker,
                            linestyle=line,
                            color=colours[kind],
                            alpha=1 - 0.4 * number,
                            label=f"{kind}, {DATABASES.get(database, database)}{suffix}",
                        )
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.yaxis.set_major_formatter(plain)
        low, high = axis.get_ylim()
        axis.yaxis.set_minor_formatter(plain if high / low < 30 else NullFormatter())
        axis.set_xlabel("scheduled events")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, nargs="+")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "benchmarks.png")
    args = parser.parse_args()
    merged = merge(args.results)
    text = markdown(merged)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    plot(merged, args.plot)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
