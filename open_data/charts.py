"""Charts drawn on the server as SVG geometry for the statistics page (W5): no script runs in the
browser, and nothing is fetched from anyone else. The template draws what these return; every
chart also has a table of the same numbers (its text alternative).
"""

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence

from open_data.selectors import LoadCell

# About a phone's width in CSS pixels: the labels keep their size on the screen it is made for.
WIDTH = 360
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 40, 14, 12, 28


@dataclasses.dataclass(frozen=True)
class Line:
    label: str
    colour: str
    dash: str  # SVG stroke-dasharray ("" for a solid line): lines differ by more than colour
    segments: tuple[str, ...]  # polyline points; a missing value breaks the line
    dots: tuple[tuple[float, float], ...]  # lone points, which a polyline would not show


@dataclasses.dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    lines: tuple[Line, ...]
    y_ticks: tuple[tuple[float, str], ...]
    x_ticks: tuple[tuple[float, str], ...]


def _nice_ceiling(value: float) -> float:
    """The axis' top: 1, 2, 2.5 or 5 times a power of ten, at least `value`."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def line_chart(
    dates: Sequence[dt.date],
    series: Sequence[tuple[str, str, str, Sequence[float | None]]],
) -> LineChart:
    """Lines over `dates`; each series is (label, colour, dash, one value or None per date)."""
    right = WIDTH - RIGHT
    bottom = HEIGHT - BOTTOM
    top_value = _nice_ceiling(
        max((value for *_, values in series for value in values if value is not None), default=0)
    )
    span = max(len(dates) - 1, 1)

    def x(index: int) -> float:
        return round(LEFT + (right - LEFT) * index / span, 1)

    def y(value: float) -> float:
        return round(bottom - (bottom - TOP) * value / top_value, 1)

    lines = []
    for label, colour, dash, values in series:
        segments, dots, current = [], [], []
        for index, value in enumerate(values):
            if value is None:
                if current:
                    segments.append(current)
                current = []
                continue
            current.append((x(index), y(value)))
        if current:
            segments.append(current)
        for segment in segments:
            if len(segment) == 1:
                dots.append(segment[0])
        lines.append(
            Line(
                label=label,
                colour=colour,
                dash=dash,
                segments=tuple(
                    " ".join(f"{px},{py}" for px, py in segment)
                    for segment in segments
                    if len(segment) > 1
                ),
                dots=tuple(dots),
            )
        )
    y_ticks = tuple((y(top_value * step / 4), _number(top_value * step / 4)) for step in range(5))
    # At most five date labels, whatever the range.
    every = max(1, math.ceil(len(dates) / 5))
    x_ticks = tuple(
        (x(index), date.strftime("%d.%m")) for index, date in enumerate(dates) if index % every == 0
    )
    return LineChart(WIDTH, HEIGHT, LEFT, right, TOP, bottom, tuple(lines), y_ticks, x_ticks)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# Load bands of the heatmap, light to dark (sequential, readable in grey as well); the text in a
# band's legend and in each cell's title says the percentage, so colour is never the only cue.
BANDS = (
    (0, 25, "#e6f1f5"),
    (25, 50, "#a9d0de"),
    (50, 75, "#4f9bb8"),
    (75, 90, "#1f6f8f"),
    (90, 10**6, "#0b3a4d"),
)
NO_PLACES = "#ffffff"

# Hours down, weekdays across: 24 rows of 7 cells fit a phone held upright.
CELL_W, CELL_H = 40, 18
HEAT_LEFT, HEAT_TOP = 44, 22


@dataclasses.dataclass(frozen=True)
class HeatCell:
    x: int
    y: int
    fill: str
    weekday: int
    hour: int
    percent: int | None
    offered: int
    booked: int


@dataclasses.dataclass(frozen=True)
class Heatmap:
    width: int
    height: int
    cells: tuple[HeatCell, ...]
    rows: tuple[tuple[int, int], ...]  # (y of the label, hour)
    columns: tuple[tuple[int, int], ...]  # (x of the label, weekday)
    bands: tuple[tuple[int, int, str], ...]
    cell_w: int = CELL_W
    cell_h: int = CELL_H


def band_of(percent: int | None) -> str:
    if percent is None:
        return NO_PLACES
    for low, high, colour in BANDS:
        if low <= percent < high:
            return colour
    return BANDS[-1][2]


def heatmap(grid: Sequence[Sequence[LoadCell]]) -> Heatmap:
    cells = tuple(
        HeatCell(
            x=HEAT_LEFT + cell.weekday * CELL_W,
            y=HEAT_TOP + cell.hour * CELL_H,
            fill=band_of(cell.percent),
            weekday=cell.weekday,
            hour=cell.hour,
            percent=cell.percent,
            offered=cell.offered,
            booked=cell.booked,
        )
        for row in grid
        for cell in row
    )
    return Heatmap(
        width=HEAT_LEFT + 7 * CELL_W + 4,
        height=HEAT_TOP + 24 * CELL_H + 4,
        cells=cells,
        rows=tuple((HEAT_TOP + hour * CELL_H + CELL_H // 2 + 4, hour) for hour in range(24)),
        columns=tuple(
            (HEAT_LEFT + weekday * CELL_W + CELL_W // 2, weekday) for weekday in range(7)
        ),
        bands=BANDS,
    )
