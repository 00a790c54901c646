"""Drawing the dataset card: matplotlib figures (PNG, embedded as base64) and one self-contained HTML page.

No pyplot (no global state): each family of figures is one `matplotlib.figure.Figure` rendered by Agg, PNG
metadata stripped so the same card gives the same bytes. Every string that comes from the split's files
(names, captions, clip ids, the profile's notes) is HTML-escaped, and in plot labels `$` is escaped so
matplotlib never parses it as mathtext.
"""
from __future__ import annotations

import base64
import html
import io
import math

import numpy as np

from hmworld.stats import figures as F

DPI = 80
FAMILIES = {
    "camera": "Camera motion",
    "subjects": "Subjects and framing",
    "events": "Exit-entry events",
}
COUNT_TITLES = {"scene": "clips per scene", "camera_trajectory": "clips per camera trajectory",
                "subject": "subjects per name", "subject_trajectory": "subjects per trajectory"}
MAX_BARS = 25
MAX_CLIP_ROWS = 500


def _label(text: str, n: int = 32) -> str:
    text = " ".join(str(text).split())
    text = text if len(text) <= n else text[: n - 1] + "…"
    return text.replace("$", r"\$")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def fmt(v, unit: str = "") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer()) or abs(v) >= 1000:
        return f"{v:.0f}"
    return f"{v:.4g}"


def histogram_figure(card, family: str, checks: dict) -> str | None:
    from matplotlib.figure import Figure

    names = [f.name for f in F.FIGURES.values() if f.family == family and f.kind == "number"]
    if not names:
        return None
    cols = 3
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(12, 3.1 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        fig_def = F.FIGURES[name]
        values = [v for v in card.values(name) if v is not None]
        title = name + (f" ({fig_def.unit})" if fig_def.unit else "")
        ax.set_title(_label(title, 48), fontsize=9)
        ax.tick_params(labelsize=8)
        if not values:
            ax.text(0.5, 0.5, "n/a", ha="center", va="center", fontsize=16, color="0.5", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        arr = np.asarray(values, float)
        view = None
        integer = fig_def.unit == "frame" or name == "subjects_per_clip"
        if integer:
            lo, hi = math.floor(arr.min()), math.ceil(arr.max())
            step = max(1, math.ceil((hi - lo + 1) / 40))
            bins = np.arange(lo - 0.5, hi + step + 0.5, step)
        else:
            lo, hi = float(arr.min()), float(arr.max())
            if hi - lo <= 1e-9 * max(1.0, abs(hi)):  # one value (up to rounding): a narrow bar in a wider view
                half = max(abs(hi) * 0.01, 0.005)
                bins = np.array([lo - half, hi + half])
                view = [lo - 20 * half, hi + 20 * half]
            else:
                bins = np.linspace(lo, hi, min(30, max(5, int(math.sqrt(len(arr))) * 2)) + 1)
        ax.hist(arr, bins=bins, color="#4c72b0", edgecolor="white", linewidth=0.5)
        check = checks.get(name)
        stat = check.stat if check else fig_def.stat
        value = F.summarise(values, stat)
        if check:
            colour = "#2a9d54" if check.status == "OK" else "#d1495b"
            if check.hi > check.lo:
                ax.axvspan(check.lo, check.hi, color="#2a9d54", alpha=0.15, lw=0)
            else:
                ax.axvline(check.lo, color="#2a9d54", lw=3, alpha=0.4)
            label = f"{stat} {fmt(value)} (ref {fmt(check.lo)}-{fmt(check.hi)}: {check.status})"
        else:
            colour = "#333333"
            label = f"{stat} {fmt(value)}"
        ax.axvline(value, color=colour, ls="--", lw=1.5)
        if view is not None:
            if check:
                pad = 0.05 * max(check.hi - check.lo, view[1] - view[0])
                view = [min(view[0], check.lo - pad), max(view[1], check.hi + pad)]
            ax.set_xlim(*view)
        ax.set_title(f"{_label(title, 48)}\n{label}, n = {len(arr)}", fontsize=8.5, color="black")
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.xaxis.get_major_locator().set_params(nbins=6)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    return _png(fig)


def counts_figure(card) -> str:
    from matplotlib.figure import Figure

    keys = list(COUNT_TITLES)  # drawn two per row; each row as tall as its longer list
    bars = [max(1, min(len(card.counts[k]), MAX_BARS + 1)) for k in keys]
    rows = [max(bars[0], bars[1]), max(bars[2], bars[3])]
    heights = [max(1.6, 0.6 + 0.24 * n) for n in rows]
    fig = Figure(figsize=(12, sum(heights)), layout="constrained")
    axes = fig.subplots(2, 2, gridspec_kw={"height_ratios": heights}).ravel()
    for i, (ax, key) in enumerate(zip(axes, keys)):
        items = list(card.counts[key].items())
        if len(items) > MAX_BARS:
            rest = sum(n for _, n in items[MAX_BARS:])
            items = items[:MAX_BARS] + [(f"({len(items) - MAX_BARS} others)", rest)]
        ax.set_title(COUNT_TITLES[key], fontsize=9)
        ax.tick_params(labelsize=8)
        if not items:
            ax.text(0.5, 0.5, "n/a", ha="center", va="center", fontsize=16, color="0.5", transform=ax.transAxes)
            continue
        y = np.arange(len(items))
        ax.barh(y, [n for _, n in items], color="#55a868", height=0.7)
        ax.set_ylim(rows[i // 2] - 0.5, -0.5)  # same bar thickness in both charts of a row
        ax.set_yticks(y, [_label(k) for k, _ in items])
        ax.xaxis.get_major_locator().set_params(integer=True)
    return _png(fig)


# ------------------------------------------------------------------------------------------------ HTML
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1000px;
color:#222;padding:0 16px}
h1{font-size:1.5em;margin-bottom:4px}h2{font-size:1.15em;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1e7b40;font-weight:600}.out{color:#c0392b;font-weight:600}.na{color:#888}
img{max-width:100%;height:auto;display:block;margin:8px 0}.muted{color:#666;font-size:13px}
details summary{cursor:pointer;font-weight:600;margin:8px 0}
"""


def _e(v) -> str:
    return html.escape(str(v), quote=True)


def _status_cell(status: str) -> str:
    cls = {"OK": "ok", "OUTSIDE": "out"}.get(status, "na")
    return f'<td class="{cls}">{_e(status)}</td>'


def html_page(card, doc: dict, checks: list, profile) -> str:
    split = doc["split"]
    by_fig = {c.figure: c for c in checks}
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Dataset card: {_e(split['name'])}</title>", f"<style>{CSS}</style></head><body>",
        f"<h1>Dataset card: {_e(split['name'])}</h1>",
        '<p class="muted">written by <code>hmworld stats</code>; the same numbers are in stats.json</p>',
        "<table>",
    ]
    meta = [("split", split["path"]), ("status", f"{split['status']} ({split['clips_in_card']} clips in this card, "
                                                 f"{split['num_clips']} planned)"),
            ("fingerprint", split["fingerprint"] or "none (split not complete)"),
            ("frames", f"context {split['context_frames']} + target {split['target_frames']}"),
            ("subjects / events", f"{len(card.subjects)} subjects, {len(card.events)} exit-entry events")]
    meta += [("warning", w) for w in doc.get("warnings", [])]
    parts += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in meta]
    parts.append("</table>")
    if profile is not None:
        outside = sum(c.status == "OUTSIDE" for c in checks)
        parts.append(f"<h2>Reference: {_e(profile.name)}</h2>")
        parts.append(f'<p class="muted">{_e(profile.source)}</p>')
        parts.append(f"<p><b>{len(checks) - outside - sum(c.status == 'n/a' for c in checks)} OK, "
                     f"{outside} outside, {sum(c.status == 'n/a' for c in checks)} n/a</b> of {len(checks)} "
                     "reference figures.")
        if any(c.scale != 1.0 for c in checks):
            parts.append(f" Frame-valued ranges scaled by {_scale(checks):.3f} "
                         f"(split context {card.context_frames} / profile {profile.context_frames} frames).")
        parts.append("</p><table><tr><th>figure</th><th>statistic</th><th>value</th><th>range</th><th>status</th>"
                     "<th>note</th></tr>")
        for c in checks:
            parts.append(f"<tr><td>{_e(c.figure)}</td><td>{_e(c.stat)}</td><td class=\"n\">{_e(fmt(c.value))}</td>"
                         f"<td class=\"n\">{_e(fmt(c.lo))} – {_e(fmt(c.hi))} {_e(c.unit)}</td>{_status_cell(c.status)}"
                         f"<td>{_e(c.note)}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Summary</h2><table><tr><th>figure</th><th>per</th><th>n</th><th>n/a</th><th>min</th>"
                 "<th>median</th><th>mean</th><th>max</th><th>fraction / count</th></tr>")
    for name, f in doc["figures"].items():
        if f["kind"] == "number":
            cells = [f["min"], f["median"], f["mean"], f["max"], None]
            tail = "".join(f'<td class="n">{_e(fmt(v))}</td>' for v in cells[:4]) + "<td></td>"
        else:
            tail = "<td></td>" * 4 + (f'<td class="n">{_e(fmt(f["fraction"]))} ({_e(fmt(f["count"]))} of {f["n"]})</td>'
                                      if f["n"] else '<td class="na">n/a</td>')
        parts.append(f"<tr><td title=\"{_e(f['definition'])}\">{_e(name)}</td><td>{_e(f['per'])}</td>"
                     f"<td class=\"n\">{f['n']}</td><td class=\"n\">{f['n_missing']}</td>{tail}</tr>")
    parts.append("</table>")
    for family, title in FAMILIES.items():
        png = histogram_figure(card, family, by_fig)
        if png:
            parts.append(f"<h2>{_e(title)}</h2>")
            if profile is not None:
                parts.append('<p class="muted">Shaded: the reference range of the statistic (dashed line), '
                             "not of single values.</p>")
            parts.append(f'<img alt="{_e(title)} histograms" src="data:image/png;base64,{png}">')
    parts.append("<h2>Counts</h2>")
    parts.append(f'<img alt="count bar charts" src="data:image/png;base64,{counts_figure(card)}">')
    parts.append(_clip_table(card))
    parts.append("<h2>Definitions</h2><table>")
    for f in F.FIGURES.values():
        parts.append(f"<tr><td>{_e(f.name)}</td><td>{_e(f.text)}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts) + "\n"


def _scale(checks) -> float:
    return next((c.scale for c in checks if c.scale != 1.0), 1.0)


def _clip_table(card) -> str:
    cols = ["camera_speed_context", "total_rotation_deg", "pan_peak_deg", "main_subject_distance_frame0_m",
            "main_subject_box_height_frame0"]
    events = {}
    for e in card.events:
        events.setdefault(e["clip_id"], []).append(f"#{e['instance_id']} {e['exit_frame']}→{e['entry_frame']}")
    rows = card.split.rows[:MAX_CLIP_ROWS]
    more = len(card.split.rows) - len(rows)
    out = [f"<details><summary>Clips ({len(card.split.rows)}{f', first {MAX_CLIP_ROWS} shown' if more > 0 else ''})"
           "</summary><table><tr><th>clip</th><th>scene</th><th>subjects</th><th>camera</th><th>events</th>"
           + "".join(f"<th>{_e(c)}</th>" for c in cols) + "<th>caption</th></tr>"]
    for row, rec in zip(rows, card.clips):
        subjects = row.get("subjects")
        subjects = ", ".join(str(s) for s in subjects) if isinstance(subjects, (list, tuple)) else ""
        caption = row.get("caption") if isinstance(row.get("caption"), str) else ""
        out.append(f"<tr><td>{_e(row['clip_id'])}</td><td>{_e(row.get('scene'))}</td><td>{_e(subjects)}</td>"
                   f"<td>{_e(row.get('camera_trajectory'))}</td><td>{_e(', '.join(events.get(row['clip_id'], [])))}</td>"
                   + "".join(f'<td class="n">{_e(fmt(rec.get(c)))}</td>' for c in cols)
                   + f"<td>{_e(caption)}</td></tr>")
    out.append("</table></details>")
    return "".join(out)
