"""Charts drawn as SVG on the server: pure functions of plain lists, no browser library.

The wall's trend charts used to be plotly figures; plotly.js is a 3.5 MB bundle that Dash loads
lazily, which on a loaded 8K wall machine took more than Dash's 30 s limit, and a chart that only
ever shows a line, two threshold lines and a few ticks does not need it. An SVG sized in canvas
pixels scales with the wall's canvas units like every other panel and cannot leak in the browser.
Colours follow the dark operations-centre palette; threshold lines use the KPI tiles' warn/alarm
colours so a chart and a tile of the same indicator agree.
"""
from __future__ import annotations

import datetime as dt
import math
from html import escape

LINE_RGB = "#38b6ff"
FILL_RGBA = "rgba(56,182,255,0.14)"
WARN_RGB = "#ffb020"
ALARM_RGB = "#ff5a5f"
AXIS_RGB = "#8c9cb9"
# The SVG namespace name: an identifier an <img> data URI needs, never fetched (nothing goes on the network).
SVG_NS = "http://www.w3.org/2000/svg"
GRID_RGBA = "rgba(140,156,185,0.16)"


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About ``count`` round values covering [low, high] (1, 2, 2.5, 5 × 10ⁿ steps)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 0.5 and len(ticks) < 12:
        ticks.append(round(value, 10))
        value += step
    return ticks


def trend_svg(times: list[dt.datetime], values: list[float | None], *, width: int, height: int, warn: float | None = None,
              alarm: float | None = None, labels: tuple[str, str] = ("warn", "alarm"), time_format: str = "%H:%M",
              font_px: float = 16.0, chart: str = "area", colours: dict | None = None) -> str:
    """A chart of ``values`` over ``times`` (local, naive or aware — only their order and
    spacing matter), with dashed warn/alarm lines, in a ``width``×``height`` viewBox.

    ``chart``: ``area`` (a line over a light fill), ``line`` or ``bar``; ``colours`` may set
    ``line``, ``warn`` and ``alarm`` (``#rrggbb``, a wall spec's panel colours)."""
    colours = colours or {}
    line_rgb = colours.get("line") or LINE_RGB
    warn_rgb, alarm_rgb = colours.get("warn") or WARN_RGB, colours.get("alarm") or ALARM_RGB
    left, right, top, bottom = font_px * 3.2, font_px * 0.8, font_px * 0.8, font_px * 1.9
    plot_w, plot_h = max(1.0, width - left - right), max(1.0, height - top - bottom)
    points = [(t, v) for t, v in zip(times, values) if v is not None and math.isfinite(v)]
    thresholds = [v for v in (warn, alarm) if v is not None and math.isfinite(v)]
    if not points:
        return f'<svg xmlns="{SVG_NS}" viewBox="0 0 {width} {height}"></svg>'
    data_values = [v for _, v in points]
    low = min(0.0, min(data_values)) if min(data_values) >= 0 and min(data_values) < 0.35 * max(data_values) else min(data_values)
    high = max(data_values + [v for v in thresholds if v <= max(data_values) * 1.6])
    ticks = nice_ticks(low, high)
    y_low, y_high = ticks[0], ticks[-1]
    t0, t1 = points[0][0], points[-1][0]
    span = max((t1 - t0).total_seconds(), 1.0)

    def x(moment):
        return left + (moment - t0).total_seconds() / span * plot_w

    def y(value):
        return top + (1 - (value - y_low) / ((y_high - y_low) or 1)) * plot_h

    parts = [f'<svg xmlns="{SVG_NS}" viewBox="0 0 {width} {height}" font-family="Noto Sans CJK SC, sans-serif" font-size="{font_px:.1f}">']
    for tick in ticks:
        parts.append(f'<line x1="{left:.1f}" x2="{width - right:.1f}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="{GRID_RGBA}"/>')
        label = f"{tick:g}" if abs(tick) < 10000 else f"{tick:,.0f}"
        parts.append(f'<text x="{left - font_px * 0.4:.1f}" y="{y(tick) + font_px * 0.35:.1f}" text-anchor="end" fill="{AXIS_RGB}">{escape(label)}</text>')
    # About five time labels, evenly spaced along the axis.
    for i in range(5):
        moment = t0 + dt.timedelta(seconds=span * i / 4)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(f'<text x="{x(moment):.1f}" y="{height - font_px * 0.5:.1f}" text-anchor="{anchor}" fill="{AXIS_RGB}">{escape(moment.strftime(time_format))}</text>')
    line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    base = y(max(y_low, 0.0) if y_low <= 0 <= y_high else y_low)
    if chart == "bar":
        bar_w = max(1.0, plot_w / max(1, len(points)) * 0.7)
        for t, v in points:
            top_y, bottom_y = min(y(v), base), max(y(v), base)
            parts.append(f'<rect x="{min(max(left, x(t) - bar_w / 2), width - right - bar_w):.1f}" y="{top_y:.1f}" width="{bar_w:.1f}" '
                         f'height="{max(0.5, bottom_y - top_y):.1f}" fill="{line_rgb}" fill-opacity="0.85"/>')
    else:
        if chart == "area":
            fill = f'fill="{FILL_RGBA}"' if line_rgb == LINE_RGB else f'fill="{line_rgb}" fill-opacity="0.14"'
            parts.append(f'<polygon points="{x(points[0][0]):.1f},{base:.1f} {line} {x(points[-1][0]):.1f},{base:.1f}" {fill}/>')
        parts.append(f'<polyline points="{line}" fill="none" stroke="{line_rgb}" stroke-width="{max(1.5, font_px / 6):.1f}" stroke-linejoin="round"/>')
    for value, colour, label in ((warn, warn_rgb, labels[0]), (alarm, alarm_rgb, labels[1])):
        if value is None or not math.isfinite(value) or not y_low <= value <= y_high:
            continue
        parts.append(f'<line x1="{left:.1f}" x2="{width - right:.1f}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="8 6"/>')
        # Above the line, or below it when the line is at the top of the plot (the label would be cut).
        label_y = y(value) - font_px * 0.3 if y(value) - font_px >= 0 else y(value) + font_px * 0.95
        parts.append(f'<text x="{width - right:.1f}" y="{label_y:.1f}" text-anchor="end" fill="{colour}" font-size="{font_px * 0.85:.1f}">{escape(label)}</text>')
    last_t, last_v = points[-1]
    if chart != "bar":
        parts.append(f'<circle cx="{x(last_t):.1f}" cy="{y(last_v):.1f}" r="{font_px / 4:.1f}" fill="{line_rgb}"/>')
    parts.append("</svg>")
    return "".join(parts)


def svg_data_uri(svg: str) -> str:
    """An SVG as an ``<img>`` source (percent-encoded where a data URI needs it)."""
    return "data:image/svg+xml;utf8," + svg.replace("%", "%25").replace("#", "%23").replace('"', "'").replace("<", "%3C").replace(">", "%3E")
