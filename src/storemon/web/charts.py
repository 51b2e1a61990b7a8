"""The fleet page's charts, drawn on the server as SVG: they need no script to be seen.

- :func:`heatmap`: the downtime profile (``GET /profile``, 168 rows, Monday 00 first) as
  a 7 x 24 grid in the stores' local week; a cell's colour is its share of business time
  spent down, and a cell with no store open is hatched grey.
- :func:`histogram`: how many stores had each uptime share of their business time.

Every mark carries its figures twice: a ``<title>`` (what any browser shows on hover,
and what screen readers read) and ``data-tip`` (the page script's tooltip, also on
keyboard focus). The colours are a single-hue scale of the colour-blind safe palette;
the numbers are always in the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from markupsafe import Markup, escape
from numpy.typing import NDArray

__all__ = [
    "DAYS",
    "HEAT_STEPS",
    "Bin",
    "HeatCell",
    "heat_cells",
    "heatmap",
    "histogram",
    "uptime_bins",
]

DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: Down share → fill, light to dark vermillion (upper bounds of each step, in %).
HEAT_STEPS: Final = (
    (0.0, "#f7f7f7"),
    (2.0, "#fde0c5"),
    (5.0, "#f9b98b"),
    (10.0, "#f08c4f"),
    (20.0, "#d55e00"),
    (100.0, "#8a3a00"),
)
_CLOSED_FILL: Final = "url(#closed)"


@dataclass(frozen=True)
class HeatCell:
    day_of_week: int
    hour: int
    stores_open: int
    business_hours: float
    uptime_hours: float
    downtime_hours: float

    @property
    def down_percent(self) -> float | None:
        """Downtime as a share of business time, or None when no store was open."""
        if self.business_hours <= 0:
            return None
        return 100.0 * self.downtime_hours / self.business_hours

    @property
    def tip(self) -> str:
        span = f"{DAYS[self.day_of_week]} {self.hour:02d}:00–{(self.hour + 1) % 24:02d}:00 local"
        down = self.down_percent
        if down is None:
            return f"{span}\nno store open"
        return (
            f"{span}\n{self.stores_open:,} stores open\n"
            f"up {self.uptime_hours:,.2f} h · down {self.downtime_hours:,.2f} h ({down:.1f} % down)"
        )


def heat_cells(rows: Sequence[Mapping[str, object]]) -> list[HeatCell]:
    """The profile's rows (as the API sends them) as cells."""
    return [
        HeatCell(
            day_of_week=int(str(row["day_of_week"])),
            hour=int(str(row["hour"])),
            stores_open=int(str(row["stores_open"])),
            business_hours=float(str(row["business_hours"])),
            uptime_hours=float(str(row["uptime_hours"])),
            downtime_hours=float(str(row["downtime_hours"])),
        )
        for row in rows
    ]


def _heat_fill(down: float | None) -> str:
    if down is None:
        return _CLOSED_FILL
    for bound, colour in HEAT_STEPS:
        if down <= bound:
            return colour
    return HEAT_STEPS[-1][1]


def heatmap(cells: Sequence[HeatCell]) -> Markup:
    """The 7 x 24 grid as an SVG element (empty markup when there are no cells)."""
    if not cells:
        return Markup("")
    cell_w, cell_h, left, top = 30, 24, 40, 18
    width, height = left + 24 * cell_w + 4, top + 7 * cell_h + 4
    parts = [
        f'<svg class="heat" viewBox="0 0 {width} {height}" role="img" '
        'aria-labelledby="heat-title heat-desc">',
        '<title id="heat-title">Downtime by local weekday and hour</title>',
        f'<desc id="heat-desc">{escape(_worst(cells))}</desc>',
        '<defs><pattern id="closed" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#bbb" stroke-width="2"/></pattern></defs>',
    ]
    for hour in range(0, 24, 3):
        x = left + hour * cell_w + cell_w / 2
        parts.append(f'<text x="{x}" y="12" text-anchor="middle">{hour:02d}</text>')
    for day, name in enumerate(DAYS):
        y = top + day * cell_h + cell_h / 2 + 4
        parts.append(f'<text x="{left - 6}" y="{y}" text-anchor="end">{name}</text>')
    for cell in cells:
        x, y = left + cell.hour * cell_w, top + cell.day_of_week * cell_h
        tip = escape(cell.tip)
        parts.append(
            f'<rect class="cell" x="{x}" y="{y}" width="{cell_w}" height="{cell_h}" '
            f'fill="{_heat_fill(cell.down_percent)}" data-tip="{_attribute(tip)}" '
            f'data-day="{cell.day_of_week}" data-hour="{cell.hour}"><title>{tip}</title></rect>'
        )
    parts.append("</svg>")
    # Safe: every piece of text in parts went through escape(); the rest is numbers.
    return Markup("".join(parts))  # noqa: S704


def _attribute(text: Markup) -> str:
    """Escaped text for an attribute, its line breaks kept (``&#10;``)."""
    return str(text).replace("\n", "&#10;")


def _worst(cells: Sequence[HeatCell]) -> str:
    open_cells = [cell for cell in cells if cell.down_percent is not None]
    if not open_cells:
        return "No store was open in this window."
    worst = max(open_cells, key=lambda cell: (cell.down_percent or 0.0, -cell.day_of_week))
    return f"The most downtime is on {worst.tip.splitlines()[0]}: {worst.down_percent:.1f} % down."


@dataclass(frozen=True)
class Bin:
    low: float  # percent, inclusive
    high: float  # percent, exclusive (the last bin includes 100)
    stores: int

    @property
    def label(self) -> str:
        return f"{self.low:g}–{self.high:g} %"


def uptime_bins(
    percentages: Sequence[float] | NDArray[np.float64], *, width: float = 5.0
) -> list[Bin]:
    """Counts of stores per ``width``-percent bin of uptime, 0 to 100 (100 in the last bin)."""
    count = round(100 / width)
    values = np.asarray(percentages, np.float64)
    index = np.clip(np.floor(values / width), 0, count - 1).astype(np.int64)
    counts = np.bincount(index, minlength=count)
    return [Bin(i * width, (i + 1) * width, int(n)) for i, n in enumerate(counts)]


def histogram(bins: Sequence[Bin], *, unit: str = "stores") -> Markup:
    """Bars of ``bins`` as an SVG element (empty markup when no store is counted)."""
    total = sum(b.stores for b in bins)
    if not bins or total == 0:
        return Markup("")
    left, bottom, top, plot_w, plot_h = 44, 30, 10, 700, 200
    width, height = left + plot_w + 10, top + plot_h + bottom
    tallest = max(b.stores for b in bins)
    bar_w = plot_w / len(bins)
    parts = [
        f'<svg class="hist" viewBox="0 0 {width} {height}" role="img" '
        'aria-labelledby="hist-title hist-desc">',
        '<title id="hist-title">Stores by uptime share of business hours</title>',
        f'<desc id="hist-desc">{escape(_hist_summary(bins, total))}</desc>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = top + plot_h - fraction * plot_h
        value = round(fraction * tallest)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y}" y2="{y}" stroke="#e3e3e3"/>'
            f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{value:,}</text>'
        )
    for i, b in enumerate(bins):
        h = plot_h * b.stores / tallest
        x = left + i * bar_w
        share = 100.0 * b.stores / total
        tip = escape(f"uptime {b.label}: {b.stores:,} {unit} ({share:.1f} %)")
        parts.append(
            f'<rect class="bar" x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{bar_w - 2:.1f}" height="{max(h, 0):.1f}" data-tip="{tip}" '
            f'data-low="{b.low:g}" data-stores="{b.stores}"><title>{tip}</title></rect>'
        )
    for i in range(0, len(bins) + 1, max(1, len(bins) // 5)):
        x = left + i * bar_w
        label = f"{i * (100 / len(bins)):g} %"
        anchor = "end" if i == len(bins) else "middle"
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="{anchor}">{label}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 2}" text-anchor="middle">'
        "uptime as a share of the store's business hours</text></svg>"
    )
    # Safe: every piece of text in parts went through escape(); the rest is numbers.
    return Markup("".join(parts))  # noqa: S704


def _hist_summary(bins: Sequence[Bin], total: int) -> str:
    top = bins[-1]
    return (
        f"{total:,} stores; {top.stores:,} ({100.0 * top.stores / total:.1f} %) "
        f"had {top.label} uptime."
    )
