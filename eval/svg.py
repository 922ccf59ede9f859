"""Small hand-written SVG charts for the eval report: no plotting library, no external resources.

The report must open offline and stay a single file, and two chart types (a line and overlaid
histograms) do not justify a plotting dependency in the default install.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

WIDTH, HEIGHT = 520, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 34, 46
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _frame(title: str, x_label: str, y_label: str, body: list[str]) -> str:
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" font-family="sans-serif">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" text-anchor="middle" font-size="12">{escape(x_label)}</text>',
        f'<text transform="translate(14 {HEIGHT / 2}) rotate(-90)" text-anchor="middle" font-size="12">'
        f"{escape(y_label)}</text>",
    ]
    return "\n".join([*head, *body, "</svg>"])


def _x(value: float, lo: float, hi: float) -> float:
    return LEFT + (value - lo) / (hi - lo) * (WIDTH - LEFT - RIGHT)


def _y(value: float, lo: float, hi: float) -> float:
    return HEIGHT - BOTTOM - (value - lo) / (hi - lo) * (HEIGHT - TOP - BOTTOM)


def _axes(x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[tuple[float, str]]) -> list[str]:
    """Axis lines and labelled ticks; tick positions are already in pixels."""
    x0, y0 = LEFT, HEIGHT - BOTTOM
    out = [
        f'<line x1="{x0}" y1="{y0}" x2="{WIDTH - RIGHT}" y2="{y0}" stroke="black"/>',
        f'<line x1="{x0}" y1="{TOP}" x2="{x0}" y2="{y0}" stroke="black"/>',
    ]
    for px, label in x_ticks:
        out.append(f'<line x1="{px:.1f}" y1="{y0}" x2="{px:.1f}" y2="{y0 + 4}" stroke="black"/>')
        out.append(f'<text x="{px:.1f}" y="{y0 + 16}" text-anchor="middle" font-size="11">{escape(label)}</text>')
    for py, label in y_ticks:
        out.append(f'<line x1="{x0 - 4}" y1="{py:.1f}" x2="{WIDTH - RIGHT}" y2="{py:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{x0 - 7}" y="{py + 4:.1f}" text-anchor="end" font-size="11">{escape(label)}</text>')
    return out


def line_chart(ys: Sequence[float], title: str, x_label: str, y_label: str) -> str:
    """``ys[i]`` plotted at x = i + 1 on a 0-1 y axis (a recall@k curve)."""
    if not ys:
        return _frame(title, x_label, y_label, [f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}">no data</text>'])
    n = len(ys)
    lo_x, hi_x = 0.5, n + 0.5
    x_ticks = [(_x(k, lo_x, hi_x), str(k)) for k in range(1, n + 1)]
    y_ticks = [(_y(v / 5, 0, 1), f"{v / 5:.1f}") for v in range(6)]
    points = " ".join(f"{_x(i + 1, lo_x, hi_x):.1f},{_y(y, 0, 1):.1f}" for i, y in enumerate(ys))
    body = [
        *_axes(x_ticks, y_ticks),
        f'<polyline points="{points}" fill="none" stroke="{COLOURS[0]}" stroke-width="2"/>',
    ]
    for i, y in enumerate(ys):
        px, py = _x(i + 1, lo_x, hi_x), _y(y, 0, 1)
        body.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{COLOURS[0]}"><title>{y:.3f}</title></circle>')
    return _frame(title, x_label, y_label, body)


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def histogram(series: Mapping[str, Sequence[float]], title: str, x_label: str, bins: int = 20) -> str:
    """Overlaid histograms (counts) of each named series over one shared set of bins."""
    values = [v for vs in series.values() for v in vs if math.isfinite(v)]
    if not values:
        return _frame(title, x_label, "questions", [f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}">no data</text>'])
    lo, hi = min(values), max(values)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    width = (hi - lo) / bins
    counts = {
        name: [
            sum(1 for v in vs if math.isfinite(v) and min(int((v - lo) / width), bins - 1) == b) for b in range(bins)
        ]
        for name, vs in series.items()
    }
    top = max(max(c) for c in counts.values()) or 1
    step = _nice_step(hi - lo, 6)
    first = math.ceil(lo / step) * step
    x_ticks = [(_x(first + i * step, lo, hi), f"{first + i * step:g}") for i in range(int((hi - first) / step) + 1)]
    y_step = max(1, math.ceil(_nice_step(top, 5)))
    y_ticks = [(_y(v, 0, top), str(v)) for v in range(0, top + 1, y_step)]
    body = _axes(x_ticks, y_ticks)
    for colour, (name, bars) in zip(COLOURS, counts.items()):
        for b, count in enumerate(bars):
            if count:
                x0, x1 = _x(lo + b * width, lo, hi), _x(lo + (b + 1) * width, lo, hi)
                y = _y(count, 0, top)
                body.append(
                    f'<rect x="{x0:.1f}" y="{y:.1f}" width="{x1 - x0:.1f}" height="{HEIGHT - BOTTOM - y:.1f}" '
                    f'fill="{colour}" fill-opacity="0.45" stroke="{colour}">'
                    f"<title>{escape(name)}: {count}</title></rect>"
                )
    for i, (colour, name) in enumerate(zip(COLOURS, series)):
        n = sum(1 for v in series[name] if math.isfinite(v))
        y = TOP + 6 + 16 * i
        body.append(f'<rect x="{WIDTH - RIGHT - 170}" y="{y}" width="10" height="10" fill="{colour}"/>')
        body.append(f'<text x="{WIDTH - RIGHT - 155}" y="{y + 9}" font-size="11">{escape(name)} (n={n})</text>')
    return _frame(title, x_label, "questions", body)


def unit_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    title: str,
    x_label: str,
    y_label: str,
    marks: Mapping[str, tuple[float, float]] | None = None,
    level: float | None = None,
    diagonal: bool = False,
) -> str:
    """Lines through ``(x, y)`` points on 0-1 axes, one per named series (a precision/coverage curve,
    a reliability diagram); ``marks`` circles one point of a series (where the threshold stands),
    ``level`` draws a dashed horizontal line (a target), ``diagonal`` the line y = x."""
    points = {name: [(x, y) for x, y in pts if math.isfinite(x) and math.isfinite(y)] for name, pts in series.items()}
    if not any(points.values()):
        return _frame(title, x_label, y_label, [f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}">no data</text>'])
    ticks = [v / 5 for v in range(6)]
    body = _axes([(_x(v, 0, 1), f"{v:.1f}") for v in ticks], [(_y(v, 0, 1), f"{v:.1f}") for v in ticks])
    if diagonal:
        body.append(
            f'<line x1="{_x(0, 0, 1):.1f}" y1="{_y(0, 0, 1):.1f}" x2="{_x(1, 0, 1):.1f}" y2="{_y(1, 0, 1):.1f}" '
            'stroke="#999" stroke-dasharray="4 3"/>'
        )
    if level is not None:
        body.append(
            f'<line x1="{LEFT}" y1="{_y(level, 0, 1):.1f}" x2="{WIDTH - RIGHT}" y2="{_y(level, 0, 1):.1f}" '
            f'stroke="#999" stroke-dasharray="4 3"><title>{level:g}</title></line>'
        )
    for colour, (name, pts) in zip(COLOURS, points.items()):
        if pts:
            line = " ".join(f"{_x(x, 0, 1):.1f},{_y(y, 0, 1):.1f}" for x, y in pts)
            body.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        mark = (marks or {}).get(name)
        if mark is not None and all(math.isfinite(v) for v in mark):
            body.append(
                f'<circle cx="{_x(mark[0], 0, 1):.1f}" cy="{_y(mark[1], 0, 1):.1f}" r="5" fill="none" '
                f'stroke="{colour}" stroke-width="2">'
                f"<title>{escape(name)}: {mark[0]:.3f}, {mark[1]:.3f}</title></circle>"
            )
    for i, (colour, name) in enumerate(zip(COLOURS, points)):
        y = HEIGHT - BOTTOM - 16 * (len(points) - i) - 4
        body.append(f'<rect x="{LEFT + 10}" y="{y}" width="10" height="10" fill="{colour}"/>')
        body.append(f'<text x="{LEFT + 25}" y="{y + 9}" font-size="11">{escape(name)}</text>')
    return _frame(title, x_label, y_label, body)
