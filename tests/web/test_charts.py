"""The server-drawn charts: every cell and bar is there, with its figures in its title."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from storemon.web.charts import Bin, heat_cells, heatmap, histogram, uptime_bins

SVG = "{http://www.w3.org/2000/svg}"


def _profile(open_day: int = 0, open_hour: int = 9) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for day in range(7):
        for hour in range(24):
            is_open = (day, hour) == (open_day, open_hour)
            rows.append(
                {
                    "day_of_week": day,
                    "hour": hour,
                    "stores_open": 12 if is_open else 0,
                    "business_hours": 12.0 if is_open else 0.0,
                    "uptime_hours": 11.5 if is_open else 0.0,
                    "downtime_hours": 0.5 if is_open else 0.0,
                }
            )
    return rows


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(markup.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def test_heatmap_has_168_cells_with_their_figures() -> None:
    svg = _parse(str(heatmap(heat_cells(_profile(open_day=2, open_hour=17)))))
    cells = svg.findall(f"{SVG}rect[@class='cell']")
    assert len(cells) == 168
    (open_cell,) = [c for c in cells if c.get("data-day") == "2" and c.get("data-hour") == "17"]
    assert open_cell.get("data-tip") == (
        "Wed 17:00–18:00 local\n12 stores open\nup 11.50 h · down 0.50 h (4.2 % down)"
    )
    assert open_cell.findtext(f"{SVG}title") == open_cell.get("data-tip")
    assert open_cell.get("fill") == "#f9b98b"  # 4.2 % down: the step from 2 to 5 %
    closed = [c for c in cells if c is not open_cell]
    assert {c.get("fill") for c in closed} == {"url(#closed)"}
    assert "no store open" in (closed[0].get("data-tip") or "")
    assert "Wed 17:00–18:00 local: 4.2 % down" in (svg.findtext(f"{SVG}desc") or "")


def test_heatmap_escapes_and_is_empty_without_rows() -> None:
    assert str(heatmap([])) == ""


def test_uptime_bins_count_every_store_once_with_100_in_the_last_bin() -> None:
    bins = uptime_bins([0.0, 4.99, 5.0, 50.0, 99.99, 100.0, 100.0])
    assert len(bins) == 20
    assert [b.stores for b in bins if b.stores] == [2, 1, 1, 3]
    assert bins[0].stores == 2
    assert bins[1].stores == 1
    assert bins[10].stores == 1
    assert bins[19].stores == 3
    assert bins[19].label == "95–100 %"
    assert sum(b.stores for b in bins) == 7


def test_histogram_bars_carry_counts_and_shares() -> None:
    bins = [Bin(0, 50, 1), Bin(50, 100, 3)]
    svg = _parse(str(histogram(bins)))
    bars = svg.findall(f"{SVG}rect[@class='bar']")
    assert [b.get("data-stores") for b in bars] == ["1", "3"]
    assert bars[1].get("data-tip") == "uptime 50–100 %: 3 stores (75.0 %)"
    heights = [float(b.get("height") or 0) for b in bars]
    assert heights[1] == 200.0
    assert round(heights[0], 1) == round(200 / 3, 1)
    summary = svg.findtext(f"{SVG}desc") or ""
    assert re.search(r"4 stores; 3 \(75.0 %\) had 50–100 % uptime", summary)
    assert str(histogram([Bin(0, 100, 0)])) == ""
