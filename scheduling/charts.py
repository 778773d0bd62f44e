"""Charts as inline SVG, drawn on the server: no JavaScript, nothing fetched by the browser.

Pure: no Django, no clock. Every text that reaches the SVG is escaped here,
so the caller may mark the result safe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

# Okabe-Ito: told apart with the common colour-vision deficiencies.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)
OTHER_COLOUR = "#999999"


def nice_ceiling(value: float) -> tuple[float, float]:
    """An axis maximum at or above ``value`` and its step, in 1, 2 or 5 times a power of ten.

    Four steps or fewer; ``(1, 1)`` for zero, so an empty chart still has an axis.
    """
    if value <= 0:
        return 1.0, 1.0
    rough = value / 4
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    return step * math.ceil(value / step), step


def colours_for(names: Sequence[str]) -> dict[str, str]:
    """A colour per series name, by alphabetical rank: a name keeps its colour as counts move."""
    ranked = sorted(names)
    return {
        name: PALETTE[ranked.index(name)] if ranked.index(name) < len(PALETTE) else OTHER_COLOUR
        for name in names
    }


def stacked_bars(
    *,
    labels: Sequence[str],
    series: Mapping[str, Sequence[int]],
    title: str,
    tick_every: int = 3,
    width: int = 860,
    height: int = 260,
) -> str:
    """A stacked bar per label (one segment per series, in ``series`` order) and a legend.

    ``labels[i]`` names bar ``i``; each series has one count per label. Every
    segment carries a tooltip (``<title>``) with its label, series and count;
    the legend gives each series' total. Every ``tick_every``-th label is
    written under the axis.
    """
    colours = colours_for(list(series))
    left, right, top, bottom = 48, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(counts[i] for counts in series.values()) for i in range(len(labels))]
    axis_max, step = nice_ceiling(max(totals, default=0))
    slot = plot_w / max(1, len(labels))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="stacked-bars" role="img" '
        f'width="{width}" height="{height + _legend_height(series)}" '
        f'viewBox="0 0 {width} {height + _legend_height(series)}" font-family="sans-serif" '
        f'font-size="11"><title>{escape(title)}</title>',
        *_y_axis(axis_max, step, left=left, top=top, plot_w=plot_w, plot_h=plot_h),
        *_x_labels(labels, tick_every, left=left, slot=slot, baseline=top + plot_h),
    ]
    for i, label in enumerate(labels):
        y = float(top + plot_h)
        for name, counts in series.items():
            if counts[i] <= 0:
                continue
            h = counts[i] / axis_max * plot_h
            y -= h
            parts.append(
                f'<rect x="{left + i * slot + slot * 0.15:.1f}" y="{y:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{colours[name]}">'
                f"<title>{escape(label)}: {escape(name)} {counts[i]:,}</title></rect>"
            )
    parts.extend(_legend(series, colours, top=height, left=left))
    parts.append("</svg>")
    return "".join(parts)


def _y_axis(
    axis_max: float, step: float, *, left: int, top: int, plot_w: int, plot_h: int
) -> list[str]:
    parts = []
    ticks = round(axis_max / step)
    for k in range(ticks + 1):
        value = k * step
        y = top + plot_h - value / axis_max * plot_h
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ccc" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">'
            f"{_number(value)}</text>"
        )
    return parts


def _x_labels(
    labels: Sequence[str], tick_every: int, *, left: int, slot: float, baseline: int
) -> list[str]:
    return [
        f'<text x="{left + i * slot + slot / 2:.1f}" y="{baseline + 16}" text-anchor="middle" '
        f'fill="#666">{escape(label)}</text>'
        for i, label in enumerate(labels)
        if i % max(1, tick_every) == 0
    ]


LEGEND_ROW = 18
LEGEND_COLUMNS = 3


def _legend_height(series: Mapping[str, Sequence[int]]) -> int:
    return LEGEND_ROW * math.ceil(len(series) / LEGEND_COLUMNS) + 6


def _legend(
    series: Mapping[str, Sequence[int]], colours: Mapping[str, str], *, top: int, left: int
) -> list[str]:
    parts = []
    for n, (name, counts) in enumerate(series.items()):
        x = left + (n % LEGEND_COLUMNS) * 270
        y = top + (n // LEGEND_COLUMNS) * LEGEND_ROW
        parts.append(
            f'<g class="legend-item"><rect x="{x}" y="{y}" width="12" height="12" '
            f'fill="{colours[name]}"/><text x="{x + 18}" y="{y + 10}" fill="#333">'
            f"{escape(name)} ({sum(counts):,})</text></g>"
        )
    return parts


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
