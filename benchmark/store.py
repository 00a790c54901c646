"""The results store: one SQLite file holding many submissions, per clip and per metric.

Every row is keyed by (submission_id, split_fingerprint, convention_version): numbers from different splits or
metric conventions are never mixed. A clip's rows (all its metrics and its thumbnails) are written in one
transaction, so a killed run leaves each clip either fully stored or absent, and a rerun computes exactly what
is missing. No wall-clock times or dates are stored in the tables the leaderboard reads, so the same
submission scored twice, resumed, or sharded and merged gives identical rows.

Tables (see benchmark/README.md for every column):
  meta           schema version
  submissions    submission.yaml fields, the number of clips in the split
  clips          per clip: valid | invalid (+ its problems as JSON), the video's sha256
  scores         per clip and value: metric (a value column of hmworld.metrics.registry: psnr, ssim, lpips,
                 dsc_gt, dsc_ctx, dsc_miss_rate, subject_consistency, background_consistency, subject_psnr ...
                 reentry_ssim), metric_group (the scorer's metric), value (NULL where the
                 metric has nothing to score), details (JSON: counts the conventions aggregate with),
                 weights (JSON: file -> sha256 of every weights file used)
  metric_status  per metric group: computed | weights missing | not installed | not requested
  events         per clip, exit-entry event and masked metric: the event's instance id, exit and entry frames,
                 hidden gap (entry - exit), re-entry frames scored, value (NULL: no frame to score)
  thumbnails     re-entry frames, ground truth (source 'gt') and prediction (source = submission id)
  timings        seconds per clip and metric (kept apart: not part of any result)

Schema versions: 1 (no events table); 2 adds `events`. A version-1 store is upgraded in place when opened (the
empty table is created and the version set to 2 in one transaction; no row changes), so older stores keep working.
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

SCHEMA_VERSION = "2"
UPGRADABLE = ("1",)      # older schema versions opened by adding what they lack (see _upgrade)
KEY = ("submission_id", "split_fingerprint", "convention_version")

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    submission_id TEXT NOT NULL, split_fingerprint TEXT NOT NULL, convention_version TEXT NOT NULL,
    model TEXT NOT NULL, info TEXT NOT NULL, split_clips INTEGER NOT NULL,
    PRIMARY KEY (submission_id, split_fingerprint, convention_version));
CREATE TABLE IF NOT EXISTS clips (
    submission_id TEXT NOT NULL, split_fingerprint TEXT NOT NULL, convention_version TEXT NOT NULL,
    clip_id TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('valid', 'invalid')),
    problems TEXT NOT NULL, video_sha256 TEXT,
    PRIMARY KEY (submission_id, split_fingerprint, convention_version, clip_id));
CREATE TABLE IF NOT EXISTS scores (
    submission_id TEXT NOT NULL, split_fingerprint TEXT NOT NULL, convention_version TEXT NOT NULL,
    clip_id TEXT NOT NULL, metric TEXT NOT NULL, metric_group TEXT NOT NULL, value REAL,
    details TEXT NOT NULL, weights TEXT NOT NULL,
    PRIMARY KEY (submission_id, split_fingerprint, convention_version, clip_id, metric));
CREATE TABLE IF NOT EXISTS metric_status (
    submission_id TEXT NOT NULL, split_fingerprint TEXT NOT NULL, convention_version TEXT NOT NULL,
    metric_group TEXT NOT NULL, status TEXT NOT NULL, note TEXT NOT NULL,
    PRIMARY KEY (submission_id, split_fingerprint, convention_version, metric_group));
CREATE TABLE IF NOT EXISTS events (
    submission_id TEXT NOT NULL, split_fingerprint TEXT NOT NULL, convention_version TEXT NOT NULL,
    clip_id TEXT NOT NULL, event INTEGER NOT NULL, metric TEXT NOT NULL, instance_id INTEGER NOT NULL,
    exit_frame INTEGER NOT NULL, entry_frame INTEGER NOT NULL, gap_frames INTEGER NOT NULL, frames INTEGER NOT NULL,
    value REAL,
    PRIMARY KEY (submission_id, split_fingerprint, convention_version, clip_id, event, metric));
CREATE TABLE IF NOT EXISTS thumbnails (
    split_fingerprint TEXT NOT NULL, source TEXT NOT NULL, clip_id TEXT NOT NULL, frame INTEGER NOT NULL,
    mime TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (split_fingerprint, source, clip_id, frame));
CREATE TABLE IF NOT EXISTS timings (
    submission_id TEXT NOT NULL, split_fingerprint TEXT NOT NULL, convention_version TEXT NOT NULL,
    clip_id TEXT NOT NULL, metric_group TEXT NOT NULL, seconds REAL NOT NULL,
    PRIMARY KEY (submission_id, split_fingerprint, convention_version, clip_id, metric_group));
"""

# Result tables compared row by row when stores are merged (timings are not results).
RESULT_TABLES = ("submissions", "clips", "scores", "events", "metric_status", "thumbnails")
TABLE_KEYS = {
    "submissions": KEY, "clips": (*KEY, "clip_id"), "scores": (*KEY, "clip_id", "metric"),
    "events": (*KEY, "clip_id", "event", "metric"),
    "metric_status": (*KEY, "metric_group"), "thumbnails": ("split_fingerprint", "source", "clip_id", "frame"),
    "timings": (*KEY, "clip_id", "metric_group"),
}

# A metric is stronger evidence than "weights missing": when stores disagree, the better-informed one wins.
STATUS_RANK = {"computed": 3, "weights missing": 2, "not installed": 1, "not requested": 0}


def check_store_file(path: Path) -> None:
    """Refuse, without writing to it, a file that is neither empty nor a results store of this schema.

    Read-only (SQLite URI mode=ro): an unrelated database is never given our tables, a text file is never
    turned into a database."""
    from hmworld.benchmark.errors import BenchmarkError

    path = Path(path)
    if not path.exists():
        return
    if not path.is_file():
        raise BenchmarkError(f"results={path}: not a file (a results store is one SQLite file)")
    if path.stat().st_size == 0:
        return
    try:
        with open(path, "rb") as f:
            magic = f.read(16)
    except OSError as exc:
        raise BenchmarkError(f"results={path}: unreadable ({exc.strerror or exc})") from exc
    if magic != b"SQLite format 3\x00":
        raise BenchmarkError(f"results={path}: not an SQLite database (not a results store); left untouched")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=120)
    except sqlite3.DatabaseError as exc:
        raise BenchmarkError(f"results={path}: cannot be opened ({exc})") from exc
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        if not tables:
            return
        version = None
        if "meta" in tables:
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = row[0] if row else None
    except sqlite3.DatabaseError as exc:
        raise BenchmarkError(f"results={path}: not a results store ({exc}); left untouched") from exc
    finally:
        db.close()
    if version is None:
        raise BenchmarkError(f"results={path}: an SQLite database that is not a results store "
                             f"(tables {', '.join(repr(t)[:40] for t in tables[:5])}); left untouched")
    if version != SCHEMA_VERSION and version not in UPGRADABLE:
        raise BenchmarkError(f"results={path}: schema version {str(version)[:20]!r}, this toolkit reads "
                             f"{', '.join((*UPGRADABLE, SCHEMA_VERSION))}; left untouched")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


class ResultsStore:
    """A results file. Opened with a generous busy timeout: several scoring processes may share one store."""

    def __init__(self, path: str | Path, create: bool = True):
        from hmworld.benchmark.errors import BenchmarkError

        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise BenchmarkError(f"results={self.path}: not a file (a results store is one SQLite file)")
        if not create and not self.path.is_file():
            raise BenchmarkError(f"results={self.path}: no such results store")
        if create and self.path.is_file():
            check_store_file(self.path)          # someone else's file is refused before it is opened for writing
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BenchmarkError(f"results={self.path}: cannot create its folder ({exc.strerror or exc})") from exc
        try:
            self.db = sqlite3.connect(str(self.path), timeout=120, isolation_level=None)
            self.db.execute("PRAGMA foreign_keys=ON")
            version = self._schema_version()
        except sqlite3.DatabaseError as exc:
            raise BenchmarkError(f"results={self.path}: not a results store ({exc})") from exc
        if version is None:
            if not create:
                self.db.close()
                raise BenchmarkError(f"results={self.path}: not a results store (no schema)")
            try:
                tables = [r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            except sqlite3.DatabaseError as exc:
                self.db.close()
                raise BenchmarkError(f"results={self.path}: not a results store ({exc})") from exc
            if tables:
                self.db.close()
                raise BenchmarkError(f"results={self.path}: an SQLite database that is not a results store "
                                     f"(tables {', '.join(repr(t)[:40] for t in tables[:5])}); left untouched")
            # Statement by statement inside one transaction (executescript would commit on its own).
            with self.transaction():
                for stmt in DDL.strip().split(";"):
                    if stmt.strip():
                        self.db.execute(stmt)
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        elif version in UPGRADABLE:
            self._upgrade(version)
        elif version != SCHEMA_VERSION:
            self.db.close()
            raise BenchmarkError(f"results={self.path}: schema version {str(version)[:20]!r}, this toolkit reads "
                                 f"{', '.join((*UPGRADABLE, SCHEMA_VERSION))}")

    def _upgrade(self, version: str) -> None:
        """Version 1 -> 2: add the (empty) events table; every existing row stays as it is."""
        from hmworld.benchmark.errors import BenchmarkError

        try:
            with self.transaction():
                for stmt in DDL.strip().split(";"):
                    if stmt.strip():
                        self.db.execute(stmt)          # CREATE TABLE IF NOT EXISTS: only what is missing
                self.db.execute("UPDATE meta SET value=? WHERE key='schema_version' AND value=?",
                                (SCHEMA_VERSION, version))
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise BenchmarkError(f"results={self.path}: schema version {version}, upgrading it to {SCHEMA_VERSION} "
                                 f"(adds the events table) failed: {exc}") from exc

    def _schema_version(self) -> Optional[str]:
        has = self.db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has:
            return None
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError:
            return "(unreadable meta table)"
        return row[0] if row else "(none)"

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: all or nothing, and one writer at a time across processes."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------ writing

    def put_submission(self, key: tuple[str, str, str], model: str, info: dict, split_clips: int) -> None:
        with self.transaction() as db:
            row = db.execute("SELECT model, info, split_clips FROM submissions WHERE submission_id=? AND "
                             "split_fingerprint=? AND convention_version=?", key).fetchone()
            if row is None:
                db.execute("INSERT INTO submissions VALUES (?,?,?,?,?,?)", (*key, model, _dumps(info), split_clips))

    def put_clip_statuses(self, key: tuple[str, str, str], statuses: Iterable[tuple[str, str, list[str], Optional[str]]]) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO clips VALUES (?,?,?,?,?,?,?)",
                           [(*key, cid, st, _dumps(probs), sha) for cid, st, probs, sha in statuses])

    def put_metric_status(self, key: tuple[str, str, str], statuses: dict[str, tuple[str, str]]) -> None:
        with self.transaction() as db:
            for group, (status, note) in statuses.items():
                old = db.execute("SELECT status FROM metric_status WHERE submission_id=? AND split_fingerprint=? "
                                 "AND convention_version=? AND metric_group=?", (*key, group)).fetchone()
                if old and STATUS_RANK.get(old[0], 0) > STATUS_RANK.get(status, 0):
                    continue     # e.g. a later run without weights must not hide metrics already computed
                db.execute("INSERT OR REPLACE INTO metric_status VALUES (?,?,?,?,?,?)", (*key, group, status, note))

    def put_clip_scores(self, key: tuple[str, str, str], clip_id: str,
                        rows: list[tuple[str, str, Optional[float], dict, dict]],
                        seconds: dict[str, float], thumbs: list[tuple[str, int, str, bytes]],
                        events: Iterable[tuple[int, dict]] = ()) -> None:
        """One clip's results, atomically: rows (metric, group, value, details, weights), thumbnails
        (source, frame, mime, data), masked per-event records (index, {instance_id, exit_frame, entry_frame,
        gap_frames, frames, values: {metric: value}})."""
        fp = key[1]
        ev_rows = [(*key, clip_id, int(i), str(m), int(e["instance_id"]), int(e["exit_frame"]), int(e["entry_frame"]),
                    int(e["gap_frames"]), int(e["frames"]), None if v is None else float(v))
                   for i, e in events for m, v in sorted(e["values"].items())]
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", ev_rows)
            db.executemany("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?,?)",
                           [(*key, clip_id, m, g, v, _dumps(d), _dumps(w)) for m, g, v, d, w in rows])
            db.executemany("INSERT OR REPLACE INTO timings VALUES (?,?,?,?,?,?)",
                           [(*key, clip_id, g, float(s)) for g, s in sorted(seconds.items())])
            db.executemany("INSERT OR IGNORE INTO thumbnails VALUES (?,?,?,?,?,?)",
                           [(fp, src, clip_id, int(fr), mime, sqlite3.Binary(data)) for src, fr, mime, data in thumbs])

    # ------------------------------------------------------------------ reading

    def done_groups(self, key: tuple[str, str, str]) -> dict[str, dict[str, str]]:
        """clip id -> {metric group -> weights identity JSON} already stored."""
        out: dict[str, dict[str, str]] = {}
        for clip_id, group, weights in self.db.execute(
                "SELECT DISTINCT clip_id, metric_group, weights FROM scores WHERE submission_id=? AND "
                "split_fingerprint=? AND convention_version=?", key):
            out.setdefault(clip_id, {})[group] = weights
        return out

    def thumbnail_keys(self, split_fingerprint: str) -> set[tuple[str, str, int]]:
        return {(s, c, f) for s, c, f in self.db.execute(
            "SELECT source, clip_id, frame FROM thumbnails WHERE split_fingerprint=?", (split_fingerprint,))}

    def _damaged(self, where: str, why: str) -> Exception:
        from hmworld.benchmark.errors import BenchmarkError

        return BenchmarkError(f"results={self.path}: {where}: {why} (the store is damaged or was edited; "
                              f"rescore into a fresh store)")

    def _json(self, text, where: str, kind: type):
        try:
            obj = json.loads(text) if isinstance(text, (str, bytes)) else None
        except ValueError:
            obj = None
        if not isinstance(obj, kind):
            raise self._damaged(where, f"{repr(text)[:60]} is not a JSON {kind.__name__}")
        return obj

    def _text(self, value, where: str) -> str:
        if not isinstance(value, str):
            raise self._damaged(where, f"{repr(value)[:60]} is not text")
        return value

    def submissions(self) -> list[dict]:
        cur = self.db.execute("SELECT submission_id, split_fingerprint, convention_version, model, info, split_clips "
                              "FROM submissions ORDER BY split_fingerprint, convention_version, submission_id")
        out = []
        for a, b, c, m, i, n in cur:
            where = f"submission {repr(a)[:40]}"
            for v in (a, b, c, m):
                self._text(v, where)
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise self._damaged(where, f"split_clips {repr(n)[:40]} is not a count")
            out.append(dict(submission_id=a, split_fingerprint=b, convention_version=c, model=m,
                            info=self._json(i, where + " info", dict), split_clips=n))
        return out

    def clip_rows(self, key: tuple[str, str, str]) -> list[dict]:
        cur = self.db.execute("SELECT clip_id, status, problems FROM clips WHERE submission_id=? AND "
                              "split_fingerprint=? AND convention_version=? ORDER BY clip_id", key)
        out = []
        for c, st, p in cur:
            where = f"submission {key[0][:40]!r} clip {repr(c)[:60]}"
            self._text(c, where)
            problems = self._json(p, where + " problems", list)
            out.append(dict(clip_id=c, status=st, problems=[str(x) for x in problems]))
        return out

    def score_rows(self, key: tuple[str, str, str]) -> list[dict]:
        import math

        cur = self.db.execute("SELECT clip_id, metric, metric_group, value, details, weights FROM scores WHERE "
                              "submission_id=? AND split_fingerprint=? AND convention_version=? "
                              "ORDER BY clip_id, metric", key)
        out = []
        for c, m, g, v, d, w in cur:
            where = f"submission {key[0][:40]!r} clip {repr(c)[:60]} metric {repr(m)[:40]}"
            for t in (c, m, g):
                self._text(t, where)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise self._damaged(where, f"value {repr(v)[:60]} is not a finite number")
            details = self._json(d, where + " details", dict)
            for dk, dv in details.items():
                if (str(dk).endswith(("_total", "_count")) or dk == "frames") and (
                        isinstance(dv, bool) or not isinstance(dv, (int, float)) or not math.isfinite(dv)):
                    raise self._damaged(where, f"detail {repr(dk)[:40]} = {repr(dv)[:40]} is not a number")
            out.append(dict(clip_id=c, metric=m, group=g, value=None if v is None else float(v), details=details,
                            weights=self._json(w, where + " weights", dict)))
        return out

    def event_rows(self, key: tuple[str, str, str]) -> list[dict]:
        """The masked metrics per exit-entry event: clip_id, event, metric, instance_id, exit_frame, entry_frame,
        gap_frames, frames, value."""
        import math

        cur = self.db.execute("SELECT clip_id, event, metric, instance_id, exit_frame, entry_frame, gap_frames, "
                              "frames, value FROM events WHERE submission_id=? AND split_fingerprint=? AND "
                              "convention_version=? ORDER BY clip_id, event, metric", key)
        out = []
        for c, i, m, sid, ex, en, gap, n, v in cur:
            where = f"submission {key[0][:40]!r} clip {repr(c)[:60]} event {repr(i)[:20]}"
            self._text(c, where)
            self._text(m, where)
            for name, x in (("event", i), ("instance_id", sid), ("exit_frame", ex), ("entry_frame", en),
                            ("gap_frames", gap), ("frames", n)):
                if isinstance(x, bool) or not isinstance(x, int):
                    raise self._damaged(where, f"{name} {repr(x)[:40]} is not a whole number")
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise self._damaged(where, f"value {repr(v)[:60]} is not a finite number")
            out.append(dict(clip_id=c, event=i, metric=m, instance_id=sid, exit_frame=ex, entry_frame=en,
                            gap_frames=gap, frames=n, value=None if v is None else float(v)))
        return out

    def metric_statuses(self, key: tuple[str, str, str]) -> dict[str, tuple[str, str]]:
        cur = self.db.execute("SELECT metric_group, status, note FROM metric_status WHERE submission_id=? AND "
                              "split_fingerprint=? AND convention_version=?", key)
        return {str(g): (str(s), str(n)) for g, s, n in cur}

    def thumbnails(self, split_fingerprint: str, sources: Iterable[str]) -> Iterator[tuple[str, str, int, str, bytes]]:
        sources = list(sources)
        if not sources:
            return iter(())
        marks = ",".join("?" * len(sources))
        return iter(self.db.execute(f"SELECT source, clip_id, frame, mime, data FROM thumbnails WHERE "
                                    f"split_fingerprint=? AND source IN ({marks}) ORDER BY source, clip_id, frame",
                                    (split_fingerprint, *sources)).fetchall())

