// storemon dashboard: progressive enhancement of server-rendered pages.
// Pages work without this file wherever the issue allows (the fleet table, figures, charts'
// built-in titles); this adds the report control, the upload, and chart tooltips.
"use strict";

const storemon = (function () {
  // An API error body {"error", "code", "details"} as one readable line.
  async function errorMessage(response) {
    let text = "";
    try {
      const body = await response.json();
      text = body.error || JSON.stringify(body);
    } catch (_) {
      text = response.statusText || "no answer";
    }
    return `${text} (HTTP ${response.status})`;
  }

  function show(element, text) {
    element.textContent = text;
    element.hidden = !text;
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function number(value) {
    return Number(value).toLocaleString("en-US");
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // --- Compute a report: POST /reports, poll /reports/{id} until complete, link the CSV.
  function reportControl(form) {
    const status = document.getElementById("report-status");
    const error = document.getElementById("report-error");
    const button = document.getElementById("report-submit");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      show(error, "");
      const body = { interpolation: form.interpolation.value };
      if (form.as_of.value) body.as_of = form.as_of.value + "Z";
      const windows = form.windows.value.trim();
      if (windows && windows.replace(/\s/g, "") !== "1h,24h,168h") {
        body.windows = windows.split(",").map((w) => w.trim()).filter(Boolean);
      }
      button.disabled = true;
      status.textContent = "Running…";
      try {
        let response = await fetch("/reports", {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify(body),
        });
        if (!response.ok) throw new Error(await errorMessage(response));
        let job = await response.json();
        const started = performance.now();
        while (job.status === "queued" || job.status === "running") {
          status.textContent = `Running… ${((performance.now() - started) / 1000).toFixed(1)} s`;
          await sleep(400);
          response = await fetch(job.links.self, { headers: { Accept: "application/json" } });
          if (!response.ok) throw new Error(await errorMessage(response));
          job = await response.json();
        }
        if (job.status === "failed") throw new Error(`The report failed: ${job.error}`);
        status.textContent = "";
        const done = document.createElement("span");
        done.id = "report-complete";
        done.textContent = `Complete: ${number(job.row_count)} stores, as of ${job.as_of_used || "–"}` +
          (job.duration_seconds != null ? `, computed in ${job.duration_seconds.toFixed(2)} s. ` : ". ");
        const link = document.createElement("a");
        link.href = job.links.csv;
        link.id = "report-download";
        link.setAttribute("download", "");
        link.textContent = "Download the CSV";
        status.append(done, link);
      } catch (failure) {
        status.textContent = "";
        show(error, failure.message);
      } finally {
        button.disabled = false;
      }
    });
  }

  // --- Upload a CSV: POST /ingest/{source}, then show the summary and the rejected rows.
  function ingestForm(form) {
    const status = document.getElementById("ingest-status");
    const error = document.getElementById("ingest-error");
    const result = document.getElementById("ingest-result");
    const button = document.getElementById("ingest-submit");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      show(error, "");
      result.hidden = true;
      const file = form.file.files[0];
      const source = form.source.value;
      if (!file) {
        show(error, "Choose a CSV file first.");
        return;
      }
      button.disabled = true;
      status.textContent = `Uploading ${file.name} (${number(file.size)} bytes)…`;
      try {
        const url = `/ingest/${source}?name=${encodeURIComponent(file.name)}`;
        const response = await fetch(url, {
          method: "POST",
          headers: { "Content-Type": "text/csv", Accept: "application/json" },
          body: file,
        });
        if (!response.ok) throw new Error(await errorMessage(response));
        const summary = (await response.json())[source];
        status.textContent = "";
        await showSummary(form, source, summary);
        result.hidden = false;
      } catch (failure) {
        status.textContent = "";
        show(error, failure.message);
      } finally {
        button.disabled = false;
      }
    });
  }

  async function rejectedRows(form, source, summary) {
    // Every rejected row when the API lists them (GET /rejects: newest ingest first, so this
    // upload's rows are the first `rejected` of its file), else the summary's first ones.
    const api = form.dataset.rejectsApi;
    if (!api || !summary.rejected) return summary.rejects;
    const limit = Math.min(summary.rejected, 1000);
    const query = new URLSearchParams({ source, file: summary.file, limit: String(limit) });
    const response = await fetch(`${api}?${query}`, { headers: { Accept: "application/json" } });
    if (!response.ok) return summary.rejects;
    const body = await response.json();
    const rows = (body.rejects || []).slice(0, limit);
    return rows.length ? rows.sort((a, b) => a.line - b.line) : summary.rejects;
  }

  async function showSummary(form, source, summary) {
    const figures = document.getElementById("ingest-summary");
    figures.replaceChildren();
    const items = [
      ["file", summary.file], ["rows read", number(summary.rows)],
      ["loaded", number(summary.loaded)], ["rejected", number(summary.rejected)],
    ];
    for (const [label, value] of items) {
      const box = document.createElement("div");
      box.className = "figure";
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = value;
      dd.dataset.field = label.replace(" ", "_");
      box.append(dt, dd);
      figures.appendChild(box);
    }
    const holder = document.getElementById("ingest-rejects");
    holder.replaceChildren();
    if (!summary.rejected) {
      const p = document.createElement("p");
      p.textContent = "No row was rejected.";
      holder.appendChild(p);
      return;
    }
    const rows = await rejectedRows(form, source, summary);
    const caption = document.createElement("h3");
    caption.id = "rejects-caption";
    caption.textContent = rows.length < summary.rejected
      ? `Rejected rows (the first ${rows.length} of ${number(summary.rejected)})`
      : `Rejected rows (${number(summary.rejected)})`;
    const table = document.createElement("table");
    table.id = "rejects-table";
    const withRaw = rows.some((r) => r.raw !== undefined);
    table.innerHTML = '<thead><tr><th scope="col">line</th><th scope="col" class="text">reason</th>' +
      (withRaw ? '<th scope="col" class="text">row as read</th>' : "") + "</tr></thead>";
    const tbody = document.createElement("tbody");
    for (const reject of rows) {
      const tr = document.createElement("tr");
      cell(tr, String(reject.line));
      cell(tr, reject.reason, "text");
      if (withRaw) cell(tr, reject.raw || "", "text raw").title = reject.raw || "";
      tbody.appendChild(tr);
    }
    table.appendChild(tbody);
    holder.append(caption, table);
  }

  // --- Tooltips for chart marks that carry data-tip (hover and keyboard focus).
  function tooltips() {
    const marks = document.querySelectorAll("[data-tip]");
    if (!marks.length) return;
    const tip = document.createElement("div");
    tip.className = "tooltip";
    tip.hidden = true;
    tip.setAttribute("role", "tooltip");
    document.body.appendChild(tip);
    const place = (x, y) => {
      tip.style.left = `${Math.min(x + 14, window.innerWidth - tip.offsetWidth - 8)}px`;
      tip.style.top = `${Math.max(y - tip.offsetHeight - 10, 8)}px`;
    };
    const open = (mark, x, y) => {
      tip.textContent = mark.dataset.tip;
      tip.hidden = false;
      place(x, y);
    };
    for (const mark of marks) {
      mark.addEventListener("mousemove", (e) => open(mark, e.clientX, e.clientY));
      mark.addEventListener("mouseleave", () => { tip.hidden = true; });
      mark.addEventListener("focus", () => {
        const box = mark.getBoundingClientRect();
        open(mark, box.right, box.top);
      });
      mark.addEventListener("blur", () => { tip.hidden = true; });
    }
  }

  function start() {
    const report = document.getElementById("report-form");
    if (report) reportControl(report);
    const ingest = document.getElementById("ingest-form");
    if (ingest) ingestForm(ingest);
    tooltips();
    document.body.dataset.ready = "1";
  }

  return { start, errorMessage, show, cell, number };
})();

document.addEventListener("DOMContentLoaded", storemon.start);
