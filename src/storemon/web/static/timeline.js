// The store page's timeline: the /stores/{id}/timeline JSON (embedded in the page) drawn with
// uPlot in five lanes. Nothing is computed here but pixel positions and what lies under the cursor.
"use strict";

(function () {
  const holder = document.getElementById("timeline");
  const source = document.getElementById("timeline-data");
  if (!holder || !source || typeof uPlot === "undefined") return;
  const data = JSON.parse(source.textContent);
  const zone = data.timezone;
  const css = getComputedStyle(document.documentElement);
  const colour = (name) => css.getPropertyValue(name).trim();
  const UP = colour("--up"), DOWN = colour("--down"), BUSINESS = colour("--business");
  const LANES = ["Business hours", "State", "Outages", "Unobserved", "Polls"];
  const sec = (iso) => Date.parse(iso) / 1000;
  const spans = (list) => list.map((s) => ({ ...s, a: sec(s.start_utc), b: sec(s.end_utc) }));
  const business = spans(data.business), states = spans(data.states);
  const outages = spans(data.outages), unobserved = spans(data.unobserved);
  const polls = data.polls.map((p) => ({ t: sec(p.timestamp_utc), active: p.status === "active" }));
  const t0 = sec(data.window.start_utc), t1 = sec(data.window.end_utc);

  // "Mon 2023-01-23 10:44 EST" in the store's zone, "2023-01-23 15:44 UTC".
  function formatter(timeZone) {
    const format = new Intl.DateTimeFormat("en-US", {
      timeZone, weekday: "short", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
    });
    return (t) => {
      const p = {};
      for (const part of format.formatToParts(new Date(t * 1000))) p[part.type] = part.value;
      return p;
    };
  }
  const localParts = formatter(zone), utcParts = formatter("UTC");
  const local = (t) => {
    const p = localParts(t);
    return `${p.weekday} ${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${p.timeZoneName}`;
  };
  const utc = (t) => {
    const p = utcParts(t);
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} UTC`;
  };
  function tick(t, step) {
    const p = localParts(t);
    if (step >= 86400) return `${p.weekday} ${p.day}`;
    return p.hour === "00" && p.minute === "00" ? `${p.weekday} ${p.day}\n00:00` : `${p.hour}:${p.minute}`;
  }
  const minutes = (m) => (m < 120 ? `${m} min` : `${Math.floor(m / 60)} h ${Math.round(m % 60)} min`);

  function hatch(ctx, ink, paper) {
    const tile = document.createElement("canvas");
    tile.width = tile.height = 8;
    const t = tile.getContext("2d");
    t.fillStyle = paper;
    t.fillRect(0, 0, 8, 8);
    t.strokeStyle = ink;
    t.lineWidth = 3;
    t.beginPath();
    t.moveTo(-2, 10); t.lineTo(10, -2);
    t.moveTo(-2, 2); t.lineTo(2, -2);
    t.moveTo(6, 10); t.lineTo(10, 6);
    t.stroke();
    return ctx.createPattern(tile, "repeat");
  }

  function lane(u, index) {
    const top = u.valToPos(5 - index, "y", true), bottom = u.valToPos(4 - index, "y", true);
    const pad = (bottom - top) * 0.15;
    return [top + pad, bottom - top - 2 * pad];
  }

  function bars(u, list, index, fill) {
    const ctx = u.ctx;
    const [y, h] = lane(u, index);
    for (const s of list) {
      const x0 = u.valToPos(Math.max(s.a, u.scales.x.min), "x", true);
      const x1 = u.valToPos(Math.min(s.b, u.scales.x.max), "x", true);
      if (x1 <= x0) continue;
      ctx.fillStyle = typeof fill === "function" ? fill(s) : fill;
      ctx.fillRect(x0, y, Math.max(x1 - x0, 1), h);
    }
  }

  function draw(u) {
    const ctx = u.ctx;
    ctx.save();
    const downHatch = hatch(ctx, DOWN, "#f5c3a6");
    const greyHatch = hatch(ctx, "#9a9a9a", "#ffffff");
    bars(u, business, 0, BUSINESS);
    bars(u, states, 1, (s) => (s.status === "active" ? UP : downHatch));
    bars(u, outages, 2, DOWN);
    bars(u, unobserved, 3, greyHatch);
    const [y, h] = lane(u, 4);
    const r = Math.max(3, Math.min(6, h / 3)) * devicePixelRatio;
    for (const p of polls) {
      if (p.t < u.scales.x.min || p.t > u.scales.x.max) continue;
      const x = u.valToPos(p.t, "x", true);
      ctx.beginPath();
      if (p.active) { // ▲ in the upper half
        ctx.moveTo(x, y); ctx.lineTo(x + r, y + 1.6 * r); ctx.lineTo(x - r, y + 1.6 * r);
        ctx.fillStyle = UP;
      } else { // ▼ in the lower half
        ctx.moveTo(x - r, y + h - 1.6 * r); ctx.lineTo(x + r, y + h - 1.6 * r); ctx.lineTo(x, y + h);
        ctx.fillStyle = DOWN;
      }
      ctx.closePath();
      ctx.fill();
    }
    ctx.restore();
  }

  const at = (list, t) => list.find((s) => s.a <= t && t < s.b);
  const tip = document.createElement("div");
  tip.className = "tooltip";
  tip.id = "timeline-tip";
  tip.hidden = true;
  document.body.appendChild(tip);

  function describe(u, t) {
    const lines = [`${local(t)}`, utc(t)];
    lines.push(at(business, t) ? "open (business hours)" : "closed");
    const state = at(states, t);
    if (state) lines.push(state.status === "active" ? "▲ up (active)" : "▼ down (inactive)");
    const outage = at(outages, t);
    if (outage) {
      lines.push(`outage ${local(outage.a)} – ${local(outage.b)}, ${minutes(outage.duration_minutes)}` +
        (outage.ongoing ? " (ongoing)" : ""));
    }
    if (at(unobserved, t)) lines.push("unobserved: no poll within the hour");
    const px = 6 / Math.max(1, u.bbox.width / devicePixelRatio) * (u.scales.x.max - u.scales.x.min);
    const near = polls.find((p) => Math.abs(p.t - t) <= px);
    if (near) lines.push(`poll: ${near.active ? "active" : "inactive"} at ${utc(near.t)}`);
    return lines.join("\n");
  }

  function setCursor(u) {
    const left = u.cursor.left;
    if (left == null || left < 0) { tip.hidden = true; return; }
    const t = u.posToVal(left, "x");
    tip.textContent = describe(u, t);
    tip.hidden = false;
    const box = u.over.getBoundingClientRect();
    const x = box.left + left + 14;
    tip.style.left = `${Math.max(8, Math.min(x, window.innerWidth - tip.offsetWidth - 8))}px`;
    const above = box.top - tip.offsetHeight - 6;
    tip.style.top = `${above > 8 ? above : box.bottom + 6}px`;
  }

  const narrow = holder.clientWidth < 560;
  const opts = {
    width: Math.max(320, holder.clientWidth),
    height: 250,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), zone),
    legend: { show: false },
    cursor: { y: false, points: { show: false }, drag: { x: true, y: false } },
    scales: { x: { time: true, min: t0, max: t1 }, y: { range: [0, 5] } },
    axes: [
      {
        stroke: colour("--muted"), grid: { stroke: "#eee" },
        values: (u, splits, axis, space, step) => splits.map((t) => tick(t, step)),
      },
      {
        stroke: colour("--muted"), size: narrow ? 84 : 110, grid: { show: false }, ticks: { show: false },
        splits: () => [4.5, 3.5, 2.5, 1.5, 0.5],
        values: () => LANES,
      },
    ],
    series: [{}, { show: false }],
    hooks: { draw: [draw], setCursor: [setCursor] },
  };
  const chart = new uPlot(opts, [[t0, t1], [null, null]], holder);
  chart.over.addEventListener("mouseleave", () => { tip.hidden = true; });
  window.addEventListener("resize", () => chart.setSize({ width: Math.max(320, holder.clientWidth), height: 250 }));
  holder.dataset.drawn = "1";
  holder.dataset.drawnAt = String(performance.now());
})();
