"""Dashboard benchmark: page timings in headless Chromium on the benchmark set.

Starts `storemon serve` (loopback only) on a database with the benchmark set — a fresh
DuckDB file loaded from ../shared/data (or --data-dir), or the database given with
--db (loaded first if it has no polls) — waits until the fleet report is computed, then
loads each page --runs times in a fresh browser context (cold cache) and measures:

- fleet page ``/``: first contentful paint, fully rendered (the load event: every
  chart is drawn on the server, so nothing draws after it), page weight (bytes on the
  wire, scripts and styles gzip-compressed) and the number of requests;
- store page ``/ui/stores/<id>``: first contentful paint, load event and the moment its
  timeline chart is drawn, and its weight;
- responsiveness: a poller asks ``/get_report`` for a complete report every 20 ms: with
  the server idle; while the same pages are fetched without a browser (the server's
  own work); and while Chromium loads them (the browser shares the cores); p50 / p99.

Targets (issue 9): fleet FCP < 1 s, fully rendered < 2 s; store page < 500 ms; page
weight < 1.5 MB. Usage: python benchmarks/bench_dashboard.py [--db URL] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _serving import Server, load_benchmark_db

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data
CHROMIUM = os.environ.get("STOREMON_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TARGETS = {"fleet_fcp_ms": 1000.0, "fleet_rendered_ms": 2000.0, "store_ms": 500.0}
WEIGHT_TARGET_BYTES = 1.5e6

_TIMINGS_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  const resources = performance.getEntriesByType("resource");
  const drawn = document.getElementById("timeline");
  return {
    fcp_ms: paint ? paint.startTime : null,
    dom_ms: nav.domContentLoadedEventEnd,
    load_ms: nav.loadEventEnd,
    drawn_ms: drawn && drawn.dataset.drawnAt ? Number(drawn.dataset.drawnAt) : null,
    bytes: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
    decoded_bytes: nav.decodedBodySize + resources.reduce((s, r) => s + r.decodedBodySize, 0),
    requests: 1 + resources.length,
  };
}"""


def wait_complete(client: Any, path: str, timeout: float = 300.0) -> Any:
    """GET ``path`` until it answers 200 (the API says 202 while it computes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(path)
        if answer.status_code == 200:
            return answer
        if answer.status_code != 202:
            raise SystemExit(f"{path}: HTTP {answer.status_code} {answer.text[:300]}")
        time.sleep(0.2)
    raise SystemExit(f"{path} did not complete within {timeout:.0f} s")


class Poller:
    """GET /get_report of a complete report every ``interval`` s on one keep-alive connection."""

    def __init__(self, url: str, report_id: str, interval: float = 0.02) -> None:
        import httpx

        self.client = httpx.Client(base_url=url, timeout=10)
        self.path = f"/get_report?report_id={report_id}&format=json"
        self.interval = interval
        self.samples: list[float] = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop_event.is_set():
            started = time.perf_counter()
            self.client.get(self.path).raise_for_status()
            self.samples.append(time.perf_counter() - started)
            self.stop_event.wait(self.interval)

    def __enter__(self) -> Poller:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join()
        self.client.close()


def quantiles_ms(samples: list[float]) -> dict[str, float]:
    data = sorted(samples)
    if not data:
        return {"n": 0}
    p99 = data[min(len(data) - 1, round(0.99 * (len(data) - 1)))]
    return {
        "n": len(data),
        "p50_ms": round(1000 * statistics.median(data), 2),
        "p99_ms": round(1000 * p99, 2),
    }


def measure(browser: Any, url: str, path: str, wait_for: str | None = None) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(url + path, wait_until="load")
        if wait_for:
            page.wait_for_selector(wait_for, timeout=30_000)
        timings: dict[str, Any] = page.evaluate(_TIMINGS_JS)
        return timings
    finally:
        context.close()


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and max of each figure over the runs that have it (a paint can be missing)."""
    summary: dict[str, Any] = {}
    for key in runs[0]:
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            summary[key] = {
                "median": round(statistics.median(values), 1),
                "max": round(max(values), 1),
                "n": len(values),
            }
    return summary


def run(args: argparse.Namespace, db_url: str, workdir: Path) -> dict[str, Any]:
    import httpx
    from playwright.sync_api import sync_playwright

    server = Server(db_url, workdir)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            started = time.perf_counter()
            summary = wait_complete(client, "/summary").json()
            fleet_report_s = time.perf_counter() - started
            store_id = args.store or client.get("/stores?limit=1").json()["stores"][0]["store_id"]
            report = client.post("/reports", json={}).json()
            wait_complete(client, f"/reports/{report['report_id']}.csv")
        from urllib.parse import quote

        store_path = "/ui/stores/" + quote(store_id, safe="")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            try:
                measure(browser, server.url, "/")  # warm the server's caches once
                measure(browser, server.url, store_path, "#timeline[data-drawn]")
                with Poller(server.url, report["report_id"]) as idle:
                    time.sleep(args.idle_seconds)
                html = {"Accept": "text/html"}
                with (
                    Poller(server.url, report["report_id"]) as served,
                    httpx.Client(base_url=server.url, timeout=60, headers=html) as fetcher,
                ):
                    for _ in range(args.runs):  # the server's part only, no browser
                        fetcher.get("/").raise_for_status()
                        fetcher.get(store_path).raise_for_status()
                fleet: list[dict[str, Any]] = []
                store: list[dict[str, Any]] = []
                with Poller(server.url, report["report_id"]) as busy:
                    for _ in range(args.runs):
                        fleet.append(measure(browser, server.url, "/"))
                        store.append(
                            measure(browser, server.url, store_path, "#timeline[data-drawn]")
                        )
            finally:
                browser.close()
    finally:
        server.stop()
    return {
        "stores": summary["stores"],
        "store_id": store_id,
        "fleet_report_on_demand_s": round(fleet_report_s, 2),
        "runs": args.runs,
        "fleet": summarize(fleet),
        "store": summarize(store),
        "fleet_runs": fleet,
        "store_runs": store,
        "get_report_idle": quantiles_ms(idle.samples),
        "get_report_while_pages_load": quantiles_ms(busy.samples),
        "get_report_while_pages_are_served": quantiles_ms(served.samples),
        "load_average": os.getloadavg(),
    }


def report(result: dict[str, Any]) -> None:
    fleet, store = result["fleet"], result["store"]
    on_demand = result["fleet_report_on_demand_s"]
    print(f"{result['stores']:,} stores; fleet report computed on demand in {on_demand} s")
    print(f"{'page':<8}{'FCP ms':>10}{'load ms':>10}{'drawn ms':>10}{'kB wire':>10}{'kB raw':>10}")
    for name, data in (("fleet", fleet), ("store", store)):
        drawn = data.get("drawn_ms", {}).get("median", "")
        fcp = data.get("fcp_ms", {}).get("median", "")
        print(
            f"{name:<8}{fcp:>10}{data['load_ms']['median']:>10}"
            f"{drawn:>10}{data['bytes']['median'] / 1000:>10.1f}"
            f"{data['decoded_bytes']['median'] / 1000:>10.1f}"
        )
    idle, busy = result["get_report_idle"], result["get_report_while_pages_load"]
    served = result["get_report_while_pages_are_served"]
    print(
        f"get_report p50/p99: idle {idle.get('p50_ms')}/{idle.get('p99_ms')} ms; "
        f"pages served (no browser) {served.get('p50_ms')}/{served.get('p99_ms')} ms; "
        f"pages loading in Chromium {busy.get('p50_ms')}/{busy.get('p99_ms')} ms"
    )
    print(f"load average {', '.join(f'{x:.2f}' for x in result['load_average'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="database URL (loaded with the benchmark set if empty)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--runs", type=int, default=5, help="page loads of each page")
    parser.add_argument("--store", help="store id for the store page (default: the first)")
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        workdir = Path(tmp)
        db_url = args.db or f"duckdb:///{workdir / 'bench.duckdb'}"
        load_benchmark_db(db_url, args.data_dir)
        result = run(args, db_url, workdir)
    report(result)
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
