"""index.html: one self-contained static page (inline CSS and JavaScript, inline SVG charts, thumbnails as
files beside it under thumbs/); nothing is fetched from the network when it is viewed.

Per comparable group (split fingerprint x convention version): a sortable table (click a header; again to
reverse), a bar chart per metric, and per submission a drill-down with per-clip scores and ground-truth vs
prediction thumbnails of the re-entry frames. Then the paper's reported numbers in their own table.
"""
from __future__ import annotations

import html
from typing import Optional

from hmworld.benchmark.leaderboard import (LABELS, LOWER_IS_BETTER, METRIC_COLUMNS, NOT_APPLICABLE, PAPER_COLUMNS,
                                           TRAILING_COLUMNS, Group, arrow, group_notes)
from hmworld.benchmark.reported import REPORTED, REPORTED_HEADING
from hmworld.benchmark.text import plain
from hmworld.metrics.registry import COLUMN

# The main table: the registry's board columns; the drill-down shows every column a submission has.
BOARD_COLUMNS = tuple(c for c in METRIC_COLUMNS if COLUMN[c].board)
TABLE_COLUMNS = (*BOARD_COLUMNS, "clips", *TRAILING_COLUMNS)
ALL_COLUMNS = (*METRIC_COLUMNS, *TRAILING_COLUMNS)
# The metric-vs-hidden-gap plots (per exit-entry event, masked metrics).
GAP_PLOTS = ("subject_psnr", "subject_ssim")
PALETTE = ("#2f6fde", "#d9480f", "#2b8a3e", "#862e9c", "#e8590c", "#0b7285", "#5c940d", "#c2255c")

CSS = """
:root { --fg:#1d2330; --muted:#5b6475; --line:#d9dde5; --accent:#2f6fde; --bg:#fff; --zebra:#f6f8fb; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg);
       margin: 0 auto; max-width: 1280px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 6px; } h2 { font-size: 18px; margin: 32px 0 6px; } h3 { font-size: 15px; margin: 18px 0 6px; }
p.lead, p.meta { color: var(--muted); margin: 4px 0 12px; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #eef1f6; padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { padding: 5px 9px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
table.board th { white-space: normal; max-width: 96px; vertical-align: bottom; }
.scroll { overflow-x: auto; max-width: 100%; }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }
tbody tr:nth-child(even) { background: var(--zebra); }
table.sortable th[data-col] { cursor: pointer; user-select: none; }
table.sortable th[data-col]:hover { color: var(--accent); }
th[aria-sort="ascending"]::after { content: " ▲"; font-size: 10px; }
th[aria-sort="descending"]::after { content: " ▼"; font-size: 10px; }
button.drill { font: inherit; color: var(--accent); background: none; border: 0; padding: 0; cursor: pointer; text-decoration: underline; }
button.drill[aria-expanded="true"] { font-weight: 600; }
tr.partial td { color: var(--muted); font-style: italic; }
.charts { display: flex; flex-wrap: wrap; gap: 14px; margin: 10px 0; }
.chart { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.chart h4 { margin: 0 0 4px; font-size: 13px; }
.chart svg text { font: 11px system-ui, sans-serif; fill: var(--fg); }
.panel { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 12px 0; background: #fbfcfe; }
.panel[hidden] { display: none; }
.thumbs { display: flex; gap: 8px; }
figure { margin: 0; text-align: center; } figure img { display: block; height: 72px; border: 1px solid var(--line); }
figcaption { font-size: 11px; color: var(--muted); }
td.invalid { color: #b3261e; white-space: normal; text-align: left; }
ul.notes { color: var(--muted); padding-left: 18px; }
section.reported { margin-top: 40px; border-top: 2px solid var(--line); }
td.na { color: var(--muted); }
.legend { font-size: 11px; color: var(--muted); max-width: 420px; }
.legend .key { margin-right: 10px; white-space: nowrap; }
.legend i { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 4px; }
"""

JS = """
(function () {
  'use strict';
  function cellValue(row, col) { var c = row.cells[col]; return c ? c.getAttribute('data-v') : ''; }
  function sortBy(table, th) {
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute('data-type') === 'num';
    var now = th.getAttribute('aria-sort');
    var dir = now === 'descending' ? 'ascending' : now === 'ascending' ? 'descending'
              : (th.getAttribute('data-first') || 'ascending');
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, col), y = cellValue(b, col);
      if (x === '' || x === null) { return (y === '' || y === null) ? 0 : 1; }   // empty cells always last
      if (y === '' || y === null) { return -1; }
      var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return dir === 'ascending' ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    Array.prototype.forEach.call(table.querySelectorAll('th[data-col]'), function (th) {
      th.tabIndex = 0;
      th.addEventListener('click', function () { sortBy(table, th); });
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter') { sortBy(table, th); } });
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll('button.drill'), function (btn) {
    btn.addEventListener('click', function () {
      var panel = document.getElementById(btn.getAttribute('aria-controls'));
      var open = panel.hasAttribute('hidden');
      var group = btn.getAttribute('data-group');
      Array.prototype.forEach.call(document.querySelectorAll('button.drill[data-group="' + group + '"]'), function (b) {
        b.setAttribute('aria-expanded', 'false');
        document.getElementById(b.getAttribute('aria-controls')).setAttribute('hidden', '');
      });
      if (open) {
        panel.removeAttribute('hidden');
        btn.setAttribute('aria-expanded', 'true');
        panel.scrollIntoView({block: 'nearest'});
      }
    });
  });
})();
"""


def _e(text) -> str:
    """Untrusted text in HTML text or an attribute: control characters and escapes removed, then escaped."""
    return html.escape(plain(text), quote=True)


def _fmt(col: str, v) -> str:
    if v is None:
        return ""
    if col == "clips":
        return str(v)
    return f"{v:.{COLUMN[col].digits}f}"


def _td(col: str, v, shown: Optional[str] = None, na: bool = False) -> str:
    if na:
        return f'<td data-v="" class="na" title="not applicable">{NOT_APPLICABLE}</td>'
    data = "" if v is None else (str(v) if isinstance(v, int) else repr(float(v)))
    return f'<td data-v="{_e(data)}">{_e(shown if shown is not None else _fmt(col, v))}</td>'


def _th(col: str, label: str, numeric: bool = True) -> str:
    first = "ascending" if (col in LOWER_IS_BETTER or not numeric) else "descending"
    return (f'<th scope="col" data-col="{_e(col)}" data-type="{"num" if numeric else "text"}" '
            f'data-first="{first}">{_e(label)}</th>')


def _bar_chart(col: str, g: Group) -> str:
    rows = [(s.display, s.values.get(col), col in s.not_applicable) for s in g.rows]
    vals = [v for _, v, _ in rows if v is not None]
    if not vals:
        return ""
    top = max(max(vals), 1e-12)
    label_w, bar_w, h = 150, 170, 18
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 60}" height="{h * len(rows) + 6}" '
             f'role="img" aria-label="{_e(LABELS[col])} per submission">']
    for i, (name, v, na) in enumerate(rows):
        y = 3 + i * h
        short = name if len(name) <= 22 else name[:21] + "…"
        parts.append(f'<text x="0" y="{y + 12}">{_e(short)}</text>')
        if v is None:
            why = "not applicable" if na else "not computed"
            parts.append(f'<text x="{label_w}" y="{y + 12}" fill="#5b6475">{why}</text>')
            continue
        w = max(1.0, bar_w * v / top)
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{h - 5}" rx="2" fill="#2f6fde"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 12}">{_e(_fmt(col, v))}</text>')
    parts.append("</svg>")
    return (f'<div class="chart" data-metric="{_e(col)}"><h4>{_e(LABELS[col])} {arrow(col)}</h4>'
            + "".join(parts) + "</div>")


def _gap_plot(col: str, g: Group) -> str:
    """Inline SVG scatter: the masked metric `col` per exit-entry event against its hidden gap, one colour per
    submission, each submission's mean per gap length joined by a line. Empty when no event has a value."""
    series = []
    for s in g.rows:
        pts = [(int(e["gap_frames"]), float(e["value"])) for e in s.events
               if e["metric"] == col and e["value"] is not None]
        if pts:
            series.append((s.display, pts))
    if not series:
        return ""
    xs = [x for _, pts in series for x, _ in pts]
    ys = [y for _, pts in series for _, y in pts]
    x0, x1 = min(xs), max(xs)
    xpad = max(0.5, (x1 - x0) * 0.06)        # points never sit on the frame
    x0, x1 = x0 - xpad, x1 + xpad
    y0, y1 = min(ys), max(ys)
    pad = (y1 - y0) * 0.08 or max(abs(y1) * 0.05, 0.01)
    y0, y1 = y0 - pad, y1 + pad
    width, height, left, right, top, bottom = 420, 260, 48, 12, 10, 34
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    label = LABELS[col]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(label)} per event against the hidden gap">',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#d9dde5"/>']
    for k in range(5):
        yv = y0 + (y1 - y0) * k / 4
        parts.append(f'<text x="{left - 4}" y="{py(yv) + 4:.1f}" text-anchor="end">{_e(_fmt(col, yv))}</text>')
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{py(yv):.1f}" y2="{py(yv):.1f}" stroke="#eef1f6"/>')
    ticks = sorted(set(xs))
    step = max(1, len(ticks) // 8)
    for xv in ticks[::step]:
        parts.append(f'<text x="{px(xv):.1f}" y="{top + ph + 14}" text-anchor="middle">{int(xv)}</text>')
    parts.append(f'<text x="{left + pw / 2:.1f}" y="{height - 4}" text-anchor="middle">hidden gap (frames)</text>')
    for i, (name, pts) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        for x, y in pts:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{colour}" fill-opacity="0.75">'
                         f'<title>{_e(name)}: gap {x}, {_e(label)} {_e(_fmt(col, y))}</title></circle>')
        means = {}
        for x, y in pts:
            means.setdefault(x, []).append(y)
        line = " ".join(f"{px(x):.1f},{py(sum(v) / len(v)):.1f}" for x, v in sorted(means.items()))
        if len(means) > 1:
            parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
    parts.append("</svg>")
    legend = "".join(f'<span class="key"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{_e(name)}</span>'
                     for i, (name, _) in enumerate(series))
    return (f'<div class="chart gap" data-gap-metric="{_e(col)}"><h4>{_e(label)} {arrow(col)} vs hidden gap</h4>'
            + "".join(parts) + f'<div class="legend">{legend}</div></div>')


def _panel(gi: int, si: int, s, thumbs: dict, frames_of: dict) -> str:
    # Only the metrics this submission has: empty columns would push the thumbnails off the screen.
    cols = [c for c in ALL_COLUMNS
            if any(clip["values"].get(c) is not None or c in clip["not_applicable"] for clip in s.per_clip)]
    head = "".join([_th("clip", "clip", numeric=False), _th("status", "status", numeric=False),
                    *(_th(c, f"{LABELS[c]} {arrow(c)}") for c in cols),
                    '<th scope="col">re-entry frames: ground truth | prediction</th>'])
    body = []
    for clip in s.per_clip:
        cid = clip["clip_id"]
        cells = [f'<td data-v="{_e(cid)}"><code>{_e(cid)}</code></td>', f'<td data-v="{_e(clip["status"])}">{_e(clip["status"])}</td>']
        if clip["status"] == "invalid":
            cells.append(f'<td class="invalid" colspan="{len(cols) + 1}">{_e("; ".join(clip["problems"]))}</td>')
        else:
            cells += [_td(c, clip["values"].get(c), na=c in clip["not_applicable"]) for c in cols]
            figs = []
            frames = frames_of.get((s.split_fingerprint, s.submission_id, cid), [])
            for f in frames:
                gt = thumbs.get((s.split_fingerprint, "gt", cid, f))
                pr = thumbs.get((s.split_fingerprint, s.submission_id, cid, f))
                for rel, who in ((gt, "ground truth"), (pr, "prediction")):
                    if rel:
                        figs.append(f'<figure><img loading="lazy" src="{_e(rel)}" alt="{who}, {_e(cid)} frame {f}">'
                                    f'<figcaption>{"GT" if who == "ground truth" else "pred"} f{f}</figcaption></figure>')
            cells.append(f'<td><div class="thumbs">{"".join(figs) or "–"}</div></td>')
        body.append(f'<tr data-clip="{_e(cid)}">' + "".join(cells) + "</tr>")
    info = s.info
    meta = [f"submission <code>{_e(s.submission_id)}</code>", f"{s.clips} of {s.split_clips} clips scored"]
    if isinstance(info.get("params"), int) and not isinstance(info.get("params"), bool):
        meta.append(f"{int(info['params']):,} parameters")
    if info.get("url"):
        meta.append(f"url: {_e(info['url'])}")   # shown as text: the page never links out on its own
    desc = f'<p class="meta">{_e(info.get("description", ""))}</p>' if info.get("description") else ""
    return (f'<div class="panel" id="panel-{gi}-{si}" data-submission="{_e(s.submission_id)}" hidden>'
            f'<h3>{_e(s.display)}: per-clip scores</h3><p class="meta">{" · ".join(meta)}</p>{desc}'
            f'<div class="scroll"><table class="sortable clips"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}'
            f'</tbody></table></div></div>')


def _group(gi: int, g: Group, thumbs: dict, frames_of: dict) -> str:
    head = "".join(['<th scope="col" data-col="rank" data-type="num" data-first="ascending">#</th>',
                    _th("model", "model", numeric=False),
                    *(_th(c, f"{LABELS[c]} {arrow(c)}" if c != "clips" else "clips") for c in TABLE_COLUMNS)])
    rows = []
    for si, s in enumerate(g.rows):
        cells = [f'<td data-v="{s.rank if s.rank else ""}">{s.rank if s.rank else "–"}</td>',
                 f'<td data-v="{_e(s.display)}"><button class="drill" type="button" aria-expanded="false" '
                 f'aria-controls="panel-{gi}-{si}" data-group="{gi}">{_e(s.display)}</button></td>']
        for c in TABLE_COLUMNS:
            if c == "clips":
                cells.append(_td(c, s.clips, f"{s.clips}/{s.split_clips}"))
            else:
                cells.append(_td(c, s.values.get(c), na=c in s.not_applicable))
        cls = "" if s.complete else ' class="partial"'
        rows.append(f'<tr data-submission="{_e(s.submission_id)}"{cls}>' + "".join(cells) + "</tr>")
    charts = "".join(_bar_chart(c, g) for c in (*BOARD_COLUMNS, *TRAILING_COLUMNS))
    gap = "".join(_gap_plot(c, g) for c in GAP_PLOTS)
    if gap:
        charts += (f'<div class="gap-plots"><h3>Masked metrics vs hidden gap</h3><p class="meta">One point per '
                   f'exit-entry event (mean over its re-entry frames); hidden gap = entry_frame - exit_frame. Lines '
                   f'join each submission\'s mean per gap length.</p><div class="charts">{gap}</div></div>')
    notes = group_notes(g)
    notes_html = ('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>") if notes else ""
    panels = "".join(_panel(gi, si, s, thumbs, frames_of) for si, s in enumerate(g.rows))
    return (f'<section class="group" id="group-{gi}" data-fingerprint="{_e(g.split_fingerprint)}" '
            f'data-convention="{_e(g.convention_version)}">'
            f'<h2>Split <code>{_e(g.split_fingerprint[:16])}</code> · conventions {_e(g.convention_version)}</h2>'
            f'<p class="meta">Split fingerprint <code>{_e(g.split_fingerprint)}</code>, {g.split_clips} clips. '
            f'Ranked only against submissions on this split and convention version. Click a column to sort, a model '
            f'for its per-clip scores.</p>'
            f'<div class="scroll"><table class="sortable board" id="board-{gi}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>{notes_html}<div class="charts">{charts}</div>'
            f'{panels}</section>')


def _reported() -> str:
    head = "".join([_th("method", "method", numeric=False), _th("reference", "reference", numeric=False),
                    *(_th(c, f"{LABELS[c]} {arrow(c)}") for c in PAPER_COLUMNS)])
    rows = []
    for r in REPORTED:
        rows.append("<tr>" + f'<td data-v="{_e(r["method"])}">{_e(r["method"])}</td>'
                    f'<td data-v="{_e(r["reference"])}">{_e(r["reference"])}</td>' +
                    "".join(_td(c, r[c], f"{r[c]:.3f}") for c in PAPER_COLUMNS) + "</tr>")
    sources = "; ".join(sorted({r["source"] for r in REPORTED}))
    return (f'<section class="reported" id="reported"><h2>{_e(REPORTED_HEADING)}</h2>'
            f'<table class="sortable" id="reported-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
            f'</tbody></table><p class="meta">Source: {_e(sources)}.</p></section>')


def render_page(groups: list[Group], thumbs: dict, title: str, results_name: str, rank_by: str) -> str:
    frames_of: dict[tuple[str, str, str], list[int]] = {}      # (split, source, clip) -> frames with a thumbnail
    for fp, src, clip_id, frame in sorted(thumbs):
        frames_of.setdefault((fp, src, clip_id), []).append(frame)
    body = "".join(_group(gi, g, thumbs, frames_of) for gi, g in enumerate(groups)) or "<p>No submissions scored yet.</p>"
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{_e(title)}</h1>"
            f'<p class="lead">From the results store <code>{_e(results_name)}</code>, ranked by {_e(LABELS[rank_by])} '
            f"{arrow(rank_by)}. ↑ higher is better, ↓ lower is better; an empty cell is a metric not computed, "
            f"{NOT_APPLICABLE} one that applies to none of the scored clips (the masked re-entry metrics need the "
            f"ground truth's instance masks). Subject / BG PSNR and SSIM: the masked re-entry metrics. "
            f"Submissions on different splits or metric conventions are never ranked together.</p>"
            f"{body}{_reported()}<script>{JS}</script></body></html>\n")
