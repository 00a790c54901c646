"""The leaderboard: split-level figures per submission from the store, ranked within comparable groups.

    build_leaderboard("results.sqlite", "site/")   # leaderboard.csv, leaderboard.md, reported.csv, index.html, thumbs/

Only submissions scored on the same split fingerprint under the same convention version are ranked together
(each such group is its own table). Within a group, complete submissions (every clip of the split scored)
come first, ordered by `rank_by` (PSNR by default, the paper's first column) in its better direction; partial
ones follow, marked. Split-level figures follow the metric conventions through hmworld.metrics.aggregate
(per-video means averaged over videos; VBench consistency frame-weighted). Nothing here depends on the clock,
so the same store always gives the same files.
"""
from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from hmworld.benchmark.errors import BenchmarkError
from hmworld.benchmark.reported import REPORTED, REPORTED_COLUMNS, REPORTED_HEADING
from hmworld.benchmark.store import ResultsStore
from hmworld.benchmark.submission import MAX_LENGTH
from hmworld.benchmark.text import contained, csv_cell, md_cell, name_part, plain
from hmworld.fsutil import atomic_write_bytes, atomic_write_text
from hmworld.metrics.registry import COLUMNS, GROUP, GROUPS, columns, lower_is_better

# Every column's facts (label, direction, where it is shown, its metric group) come from hmworld.metrics.registry.
# Columns: the paper's, then ours (masked re-entry metrics); trailing diagnostics (DSC miss rate) after `clips`.
METRIC_COLUMNS = columns(trailing=False)
PAPER_COLUMNS = columns(paper=True)
TRAILING_COLUMNS = columns(trailing=True)
CSV_COLUMNS = ("model", *METRIC_COLUMNS, "clips", *TRAILING_COLUMNS, "split_fingerprint", "convention_version")
LOWER_IS_BETTER = lower_is_better()
LABELS = {c.key: c.label for c in COLUMNS}
GROUP_OF = {c.key: c.group for c in COLUMNS}
VALUE_COLUMNS = (*METRIC_COLUMNS, *TRAILING_COLUMNS)
GROUP_ORDER = tuple(g.name for g in GROUPS)
NOT_APPLICABLE = "n/a"


def arrow(col: str) -> str:
    return "↓" if col in LOWER_IS_BETTER else "↑"


@dataclass
class SubmissionSummary:
    submission_id: str
    model: str
    split_fingerprint: str
    convention_version: str
    info: dict
    split_clips: int
    clips: int                                      # clips with every computed metric stored: what the figures cover
    values: dict[str, Optional[float]]
    groups: list[str]                               # metric groups with stored rows
    status: dict[str, tuple[str, str]]
    per_clip: list[dict] = field(default_factory=list)
    invalid: dict[str, list[str]] = field(default_factory=dict)
    incomplete: list[str] = field(default_factory=list)   # valid clips still missing a metric (scoring unfinished)
    rank: Optional[int] = None
    display: str = ""
    not_applicable: set = field(default_factory=set)      # columns computed but applying to none of its clips
    events: list[dict] = field(default_factory=list)      # masked metrics per exit-entry event (store.event_rows)

    @property
    def complete(self) -> bool:
        return self.clips == self.split_clips

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.submission_id, self.split_fingerprint, self.convention_version)


def _bounded_info(info: dict) -> dict:
    """submission.yaml fields as stored, text cut to the submission limits (a hand-made store may hold more)."""
    out = {}
    for k, v in info.items():
        if isinstance(v, str):
            v = v[: MAX_LENGTH.get(str(k), 1000)]
        out[str(k)[:64]] = v
    return out


def summarize_submission(store: ResultsStore, sub: dict) -> SubmissionSummary:
    from hmworld.metrics import CONVENTION_VERSION, ClipScore, aggregate

    key = (sub["submission_id"], sub["split_fingerprint"], sub["convention_version"])
    clips = store.clip_rows(key)
    rows = store.score_rows(key)
    groups = sorted({r["group"] for r in rows})
    per: dict[str, dict] = {}
    for r in rows:
        d = per.setdefault(r["clip_id"], {"values": {}, "details": {}, "groups": set()})
        d["values"][r["metric"]] = r["value"]
        d["details"].update(r["details"])
        d["groups"].add(r["group"])
    valid = [c["clip_id"] for c in clips if c["status"] == "valid"]
    counted = [c for c in valid if c in per and per[c]["groups"] >= set(groups)]
    incomplete = [c for c in valid if c not in counted]
    # Rebuilt ClipScores, so the split figures follow exactly the conventions the metrics package defines.
    scores = [ClipScore(per[c]["values"], per[c]["details"], {}, CONVENTION_VERSION, clip_id=c) for c in counted]
    try:
        agg = aggregate(scores) if scores else {}
    except (KeyError, TypeError, ValueError, ZeroDivisionError, AssertionError) as exc:
        raise BenchmarkError(f"results={store.path}: submission {key[0][:40]!r}: its stored rows cannot be "
                             f"aggregated ({type(exc).__name__}: {str(exc)[:120]}); the store is damaged or was "
                             f"edited") from exc
    values = {col: (agg.get(col) if GROUP_OF[col] in groups else None) for col in VALUE_COLUMNS}
    # A metric that needs what some clips lack (instance masks): n/a on those clips, n/a for the submission when
    # no counted clip had it.
    na_clips = {c for c in per if any(g in GROUP and GROUP[g].needs_masks
                                      and per[c]["details"].get(f"{g}_applicable") is False for g in per[c]["groups"])}
    not_applicable = {col for col in VALUE_COLUMNS if GROUP[GROUP_OF[col]].needs_masks and GROUP_OF[col] in groups
                      and counted and all(c in na_clips for c in counted)}
    per_clip = []
    for c in clips:
        cid = c["clip_id"]
        entry = {"clip_id": cid, "status": c["status"], "problems": c["problems"],
                 "values": {col: per.get(cid, {}).get("values", {}).get(col) for col in VALUE_COLUMNS},
                 "not_applicable": {col for col in VALUE_COLUMNS if cid in na_clips
                                    and GROUP[GROUP_OF[col]].needs_masks}}
        per_clip.append(entry)
    counted_set = set(counted)
    events = [e for e in store.event_rows(key) if e["clip_id"] in counted_set]
    return SubmissionSummary(
        submission_id=key[0], model=plain(sub["model"], MAX_LENGTH["model"]), split_fingerprint=key[1],
        convention_version=key[2], info=_bounded_info(sub["info"]), split_clips=int(sub["split_clips"]),
        clips=len(counted), values=values, groups=groups,
        status=store.metric_statuses(key), per_clip=per_clip,
        invalid={c["clip_id"]: c["problems"] for c in clips if c["status"] == "invalid"}, incomplete=incomplete,
        not_applicable=not_applicable, events=events)


def _sort_key(s: SubmissionSummary, rank_by: str):
    v = s.values.get(rank_by)
    better = (-v if rank_by not in LOWER_IS_BETTER else v) if v is not None else float("inf")
    return (not s.complete, v is None, better, s.model, s.submission_id)


@dataclass
class Group:
    split_fingerprint: str
    convention_version: str
    rows: list[SubmissionSummary]
    split_clips: int


def build_groups(store: ResultsStore, rank_by: str = "psnr") -> list[Group]:
    if rank_by not in VALUE_COLUMNS:
        raise BenchmarkError(f"rank_by={rank_by!r}: choose from {list(VALUE_COLUMNS)}")
    by: dict[tuple[str, str], list[SubmissionSummary]] = {}
    for sub in store.submissions():
        s = summarize_submission(store, sub)
        by.setdefault((s.split_fingerprint, s.convention_version), []).append(s)
    groups = []
    for (fp, cv), subs in sorted(by.items()):
        subs.sort(key=lambda s: _sort_key(s, rank_by))
        names = [s.model for s in subs]
        for i, s in enumerate(subs):
            s.rank = i + 1 if s.complete else None
            # Two submissions of one model (resubmissions) are told apart by their content id.
            s.display = s.model if names.count(s.model) == 1 else f"{s.model} ({s.submission_id[:8]})"
        groups.append(Group(fp, cv, subs, max(s.split_clips for s in subs)))
    return groups


# ------------------------------------------------------------------------------------------------ CSV / Markdown

def _num(v: Optional[float], digits: int = 6) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def leaderboard_csv(groups: list[Group]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for g in groups:
        for s in g.rows:
            # Text cells come from strangers: control characters removed, formulas neutralised.
            # Not computed and not applicable are both empty cells here (the Markdown and the page tell them apart).
            w.writerow([csv_cell(s.model), *(_num(s.values[c]) for c in METRIC_COLUMNS), s.clips,
                        *(_num(s.values[c]) for c in TRAILING_COLUMNS), csv_cell(s.split_fingerprint),
                        csv_cell(s.convention_version)])
    return buf.getvalue()


def reported_csv() -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(REPORTED_COLUMNS)
    for r in REPORTED:
        w.writerow([r[c] if not isinstance(r[c], float) else f"{r[c]:.3f}" for c in REPORTED_COLUMNS])
    return buf.getvalue()


def _md_escape(text: str) -> str:
    """Untrusted text in a Markdown table cell or list item: no HTML, links, code spans or cell breaks."""
    return md_cell(text)


def group_notes(g: Group) -> list[str]:
    """Plain-language notes for a group: metrics not computed (and why, once for all the submissions it concerns),
    partial or unfinished submissions."""
    notes = []
    missing: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    by_metric: dict[tuple[str, str, str], list[str]] = {}
    for s in g.rows:
        for m, (st, note) in s.status.items():
            if st != "computed" and m not in s.groups:
                by_metric.setdefault((m, st, note if st != "not requested" else ""), []).append(s.display)
    for (m, st, note), who in by_metric.items():
        missing.setdefault((st, note, tuple(who)), []).append(m)
    everyone = tuple(s.display for s in g.rows)
    for (st, note, who), metrics in sorted(missing.items()):
        order = [m for m in GROUP_ORDER if m in metrics]
        scope = "every submission" if who == everyone else ", ".join(who)
        notes.append(f"not computed ({st}{': ' + note if note else ''}): {', '.join(order)} ({scope})")
    na: dict[str, list[str]] = {}
    for s in g.rows:
        for m in sorted({GROUP_OF[c] for c in s.not_applicable}, key=GROUP_ORDER.index):
            na.setdefault(m, []).append(s.display)
    for m, who in na.items():
        scope = "every submission" if tuple(who) == everyone else ", ".join(who)
        notes.append(f"not applicable ({NOT_APPLICABLE}): {m}, which needs {GROUP[m].applies_to}; no scored clip "
                     f"has them ({scope})")
    for s in g.rows:
        if s.invalid:
            notes.append(f"{s.display}: partial, {s.clips} of {s.split_clips} clips scored; invalid: " +
                         "; ".join(f"{c}.mp4: {', '.join(p)}" for c, p in sorted(s.invalid.items())))
        elif not s.complete:
            notes.append(f"{s.display}: {s.clips} of {s.split_clips} clips scored so far (unfinished run or shards "
                         f"not merged yet)" + (f"; waiting: {', '.join(s.incomplete)}" if s.incomplete else ""))
    return notes


def _cell(s: SubmissionSummary, col: str) -> str:
    return NOT_APPLICABLE if col in s.not_applicable else _num(s.values[col], 3)


def leaderboard_md(groups: list[Group], results_name: str, rank_by: str) -> str:
    out = ["# HM-World leaderboard", "",
           f"From the results store {_md_escape(results_name)}. Submissions are ranked by {LABELS[rank_by]} "
           f"({arrow(rank_by)}) only against others scored on the same split (fingerprint) under the same metric "
           "conventions; each such group has its own table. ↑ higher is better, ↓ lower is better; an empty cell "
           "is a metric that was not computed, n/a one that applies to none of the scored clips (see the notes). "
           "`clips` counts the clips the figures cover. Subject / BG (background) PSNR and SSIM: the masked "
           "re-entry metrics (metrics/README.md).", ""]
    if not groups:
        out += ["No submissions scored yet.", ""]
    header = ["#", "model", *(f"{LABELS[c]} {arrow(c)}" for c in METRIC_COLUMNS), "clips",
              *(f"{LABELS[c]} {arrow(c)}" for c in TRAILING_COLUMNS)]
    for g in groups:
        fp, cv = _md_escape(g.split_fingerprint), _md_escape(g.convention_version)
        out += [f"## Split {_md_escape(g.split_fingerprint[:16])} · conventions {cv}", "",
                f"Split fingerprint {fp}, {g.split_clips} clips; metric convention version {cv}.", "",
                "| " + " | ".join(header) + " |", "|" + "|".join(["---:"] + ["---"] + ["---:"] * (len(header) - 2)) + "|"]
        for s in g.rows:
            cells = [str(s.rank) if s.rank else "–", _md_escape(s.display),
                     *(_cell(s, c) for c in METRIC_COLUMNS),
                     f"{s.clips}/{s.split_clips}", *(_cell(s, c) for c in TRAILING_COLUMNS)]
            out.append("| " + " | ".join(cells) + " |")
        notes = group_notes(g)
        if notes:
            out += ["", *(f"- {_md_escape(n)}" for n in notes)]
        out.append("")
    out += [f"## {REPORTED_HEADING}", "",
            "| method | reference | " + " | ".join(f"{LABELS[c]} {arrow(c)}" for c in PAPER_COLUMNS) + " |",
            "|---|---|" + "---:|" * len(PAPER_COLUMNS)]
    for r in REPORTED:
        out.append(f"| {r['method']} | {r['reference']} | " + " | ".join(f"{r[c]:.3f}" for c in PAPER_COLUMNS) + " |")
    out += ["", "Source: " + "; ".join(sorted({r['source'] for r in REPORTED})) + ".", ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------ writing

@dataclass
class LeaderboardReport:
    out: Path
    groups: list[Group]
    files: list[str]
    thumbnails: int

    @property
    def page(self) -> Path:
        return self.out / "index.html"


def build_leaderboard(results: str | Path, out: str | Path, rank_by: str = "psnr",
                      title: str = "HM-World leaderboard") -> LeaderboardReport:
    """Write leaderboard.csv, leaderboard.md, reported.csv, index.html and thumbs/ into `out`.

    Each file is written whole (temporary name, then rename); thumbs/ is rebuilt beside and swapped in before
    the page that references it, so a reader never sees a page pointing at missing images.
    """
    from hmworld.benchmark.page import render_page

    results, out = Path(results), Path(out)
    if out.exists() and not out.is_dir():
        raise BenchmarkError(f"out={out}: exists and is not a folder (the leaderboard writes several files into "
                             f"a folder)")
    with ResultsStore(results, create=False) as store:
        groups = build_groups(store, rank_by)
        # Every thumbnail's file name is built from store values (fingerprint, submission id, clip id, frame):
        # each must be a plain name, checked before anything is written.
        planned: list[tuple[tuple[str, str, str, int], str, bytes]] = []
        for g in groups:
            sources = ["gt", *(s.submission_id for s in g.rows)]
            for src, clip_id, frame, mime, data in store.thumbnails(g.split_fingerprint, sources):
                parts = [name_part(g.split_fingerprint[:16]), name_part(src), name_part(clip_id)]
                where = (f"results={results}: thumbnail of split {g.split_fingerprint[:40]!r}, source "
                         f"{str(src)[:40]!r}, clip {str(clip_id)[:60]!r}")
                if None in parts:
                    raise BenchmarkError(f"{where}: not a safe file name (letters, digits, '.', '_', '-' only); "
                                         f"nothing was written")
                if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < 10 ** 6:
                    raise BenchmarkError(f"{where}: frame {str(frame)[:20]!r} is not a frame index; "
                                         f"nothing was written")
                if mime not in ("image/jpeg", "image/png") or not isinstance(data, bytes):
                    raise BenchmarkError(f"{where}: not a JPEG/PNG thumbnail ({str(mime)[:30]!r}); nothing was written")
                ext = "jpg" if mime == "image/jpeg" else "png"
                rel = f"thumbs/{parts[0]}/{parts[1]}/{parts[2]}_{frame:05d}.{ext}"
                planned.append(((g.split_fingerprint, src, clip_id, frame), rel, data))
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".thumbs-", dir=out))
    except OSError as exc:
        raise BenchmarkError(f"out={out}: cannot write there ({exc.strerror or exc})") from exc
    thumbs: dict[tuple[str, str, str, int], str] = {}
    try:
        for key, rel, data in planned:
            dest = staging / rel.split("/", 1)[1]
            if not contained(staging, dest):
                raise BenchmarkError(f"results={results}: thumbnail {rel!r} would be written outside {out}; "
                                     f"refused")
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "xb") as f:
                f.write(data)
            thumbs[key] = rel
        final = out / "thumbs"
        old = out / f".thumbs-old-{os.getpid()}"
        if final.is_symlink() or final.exists():
            os.replace(final, old)
        os.replace(staging, final)
        if old.is_symlink() or old.is_file():
            old.unlink()
        else:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = {
        "leaderboard.csv": leaderboard_csv(groups),
        "leaderboard.md": leaderboard_md(groups, results.name, rank_by),
        "reported.csv": reported_csv(),
        "index.html": render_page(groups, thumbs, title=title, results_name=results.name, rank_by=rank_by),
    }
    for name, text in files.items():
        atomic_write_bytes(out / name, text.encode("utf-8"))     # fixed names: a link there is replaced, not followed
    return LeaderboardReport(out, groups, sorted(files), len(thumbs))


__all__ = ["build_leaderboard", "build_groups", "summarize_submission", "leaderboard_csv", "leaderboard_md",
           "reported_csv", "CSV_COLUMNS", "METRIC_COLUMNS", "PAPER_COLUMNS", "Group", "SubmissionSummary",
           "atomic_write_text"]
