"""Line charts as inline SVG, so a load-test report is one self-contained file (no JavaScript, no CDN).

>>> svg = line_chart("Throughput", {"requests/s": [(0, 10.0), (1, 12.5)]}, y_unit="req/s")
>>> svg.startswith("<svg") and "requests/s" in svg and "<script" not in svg
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

Point = tuple[float, float]
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 34, 36  # margins around the plot area, in pixels


def nice_step(span: float, ticks: int = 4) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving about ``ticks`` ticks over ``span``.

    >>> nice_step(100), nice_step(7), nice_step(0)
    (25.0, 2.0, 1.0)
    """
    if span <= 0:
        return 1.0
    raw = span / ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw)


def _label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.3g}"


def line_chart(
    title: str,
    series: Mapping[str, Sequence[Point]],
    *,
    y_unit: str = "",
    x_label: str = "seconds since the load started",
    markers: Sequence[tuple[float, str]] = (),
    width: int = 960,
    height: int = 230,
) -> str:
    """One SVG chart: a line per series (x ascending), y from 0, dashed vertical ``markers`` (x, label)."""
    points = [p for line in series.values() for p in line]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" font-family="sans-serif">',
        f'<text x="{_LEFT}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    if not points:
        parts.append(f'<text x="{_LEFT}" y="{_TOP + plot_h // 2}" font-size="13" fill="#666">no data</text>')
        return "\n".join([*parts, "</svg>"])
    xs = [x for x, _ in points] + [x for x, _ in markers]
    x0, x1 = min(xs), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1
    top = max(y for _, y in points) * 1.05  # a little headroom: a flat line at the maximum stays visible
    y_step = nice_step(top)
    y1 = y_step * max(1, math.ceil(top / y_step))

    def sx(x: float) -> float:
        return _LEFT + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return _TOP + plot_h - y / y1 * plot_h

    bottom = _TOP + plot_h
    for i in range(round(y1 / y_step) + 1):
        y = i * y_step
        parts.append(
            f'<line x1="{_LEFT}" y1="{sy(y):.1f}" x2="{_LEFT + plot_w}" y2="{sy(y):.1f}" stroke="#e5e5e5"/>'
            f'<text x="{_LEFT - 6}" y="{sy(y) + 4:.1f}" font-size="11" text-anchor="end">{_label(y)}</text>'
        )
    x_step = nice_step(x1 - x0, 8)
    tick = math.ceil(x0 / x_step) * x_step
    while tick <= x1 + 1e-9:
        parts.append(
            f'<text x="{sx(tick):.1f}" y="{bottom + 15}" font-size="11" text-anchor="middle">'
            f"{_label(tick)}</text>"
        )
        tick += x_step
    parts.append(
        f'<line x1="{_LEFT}" y1="{bottom}" x2="{_LEFT + plot_w}" y2="{bottom}" stroke="#444"/>'
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}" stroke="#444"/>'
        f'<text x="{_LEFT + plot_w / 2:.0f}" y="{height - 4}" font-size="11" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="14" y="{_TOP + plot_h / 2:.0f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 14 {_TOP + plot_h / 2:.0f})">{escape(y_unit)}</text>'
    )
    for x, label in markers:
        parts.append(
            f'<line x1="{sx(x):.1f}" y1="{_TOP}" x2="{sx(x):.1f}" y2="{bottom}" stroke="#888" '
            f'stroke-dasharray="4 3"/><text x="{sx(x) + 4:.1f}" y="{_TOP + 12}" font-size="11" '
            f'fill="#555">{escape(label)}</text>'
        )
    # The legend runs left to right and ends at the plot's right edge (about 7 px a character at 12 px).
    widths = [7 * (len(name) + 2) + 16 for name in series]
    legend_x = float(_LEFT + plot_w - sum(widths) + 16)
    for i, (name, line) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in line)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>')
        if len(line) == 1:  # a lone sample draws no line: show it as a dot
            parts.append(
                f'<circle cx="{sx(line[0][0]):.1f}" cy="{sy(line[0][1]):.1f}" r="3" fill="{color}"/>'
            )
        parts.append(f'<text x="{legend_x:.0f}" y="20" font-size="12" fill="{color}">■ {escape(name)}</text>')
        legend_x += widths[i]
    return "\n".join([*parts, "</svg>"])


__all__ = ["line_chart", "nice_step"]
