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
  scores         per clip and value: metric (psnr, ssim, lpips, subject_consistency, background_consistency,
                 dsc_gt, dsc_ctx, dsc_miss_rate), metric_group (the scorer's metric), value (NULL where the
                 metric has nothing to score), details (JSON: counts the conventions aggregate with),
                 weights (JSON: file -> sha256 of every weights file used)
  metric_status  per metric group: computed | weights missing | not installed | not requested
  thumbnails     re-entry frames, ground truth (source 'gt') and prediction (source = submission id)
  timings        seconds per clip and metric (kept apart: not part of any result)
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

SCHEMA_VERSION = "1"
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
RESULT_TABLES = ("submissions", "clips", "scores", "metric_status", "thumbnails")
TABLE_KEYS = {
    "submissions": KEY, "clips": (*KEY, "clip_id"), "scores": (*KEY, "clip_id", "metric"),
    "metric_status": (*KEY, "metric_group"), "thumbnails": ("split_fingerprint", "source", "clip_id", "frame"),
    "timings": (*KEY, "clip_id", "metric_group"),
}

# A metric is stronger evidence than "weights missing": when stores disagree, the better-informed one wins.
STATUS_RANK = {"computed": 3, "weights missing": 2, "not installed": 1, "not requested": 0}


class StoreError(Exception):
    pass


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


class ResultsStore:
    """A results file. Opened with a generous busy timeout: several scoring processes may share one store."""

    def __init__(self, path: str | Path, create: bool = True):
        from hmworld.benchmark.errors import BenchmarkError

        self.path = Path(path)
        if not create and not self.path.is_file():
            raise BenchmarkError(f"results={self.path}: no such results store")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=120, isolation_level=None)
            self.db.execute("PRAGMA foreign_keys=ON")
            version = self._schema_version()
        except sqlite3.DatabaseError as exc:
            raise BenchmarkError(f"results={self.path}: not a results store ({exc})") from exc
        if version is None:
            if not create:
                raise BenchmarkError(f"results={self.path}: not a results store (no schema)")
            # Statement by statement inside one transaction (executescript would commit on its own).
            with self.transaction():
                for stmt in DDL.strip().split(";"):
                    if stmt.strip():
                        self.db.execute(stmt)
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        elif version != SCHEMA_VERSION:
            raise BenchmarkError(f"results={self.path}: schema version {version}, this toolkit reads {SCHEMA_VERSION}")

    def _schema_version(self) -> Optional[str]:
        has = self.db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has:
            return None
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return row[0] if row else None

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
                        seconds: dict[str, float], thumbs: list[tuple[str, int, str, bytes]]) -> None:
        """One clip's results, atomically: rows (metric, group, value, details, weights), thumbnails
        (source, frame, mime, data)."""
        fp = key[1]
        with self.transaction() as db:
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

    def submissions(self) -> list[dict]:
        cur = self.db.execute("SELECT submission_id, split_fingerprint, convention_version, model, info, split_clips "
                              "FROM submissions ORDER BY split_fingerprint, convention_version, submission_id")
        return [dict(submission_id=a, split_fingerprint=b, convention_version=c, model=m, info=json.loads(i),
                     split_clips=n) for a, b, c, m, i, n in cur]

    def clip_rows(self, key: tuple[str, str, str]) -> list[dict]:
        cur = self.db.execute("SELECT clip_id, status, problems FROM clips WHERE submission_id=? AND "
                              "split_fingerprint=? AND convention_version=? ORDER BY clip_id", key)
        return [dict(clip_id=c, status=s, problems=json.loads(p)) for c, s, p in cur]

    def score_rows(self, key: tuple[str, str, str]) -> list[dict]:
        cur = self.db.execute("SELECT clip_id, metric, metric_group, value, details, weights FROM scores WHERE "
                              "submission_id=? AND split_fingerprint=? AND convention_version=? "
                              "ORDER BY clip_id, metric", key)
        return [dict(clip_id=c, metric=m, group=g, value=v, details=json.loads(d), weights=json.loads(w))
                for c, m, g, v, d, w in cur]

    def metric_statuses(self, key: tuple[str, str, str]) -> dict[str, tuple[str, str]]:
        cur = self.db.execute("SELECT metric_group, status, note FROM metric_status WHERE submission_id=? AND "
                              "split_fingerprint=? AND convention_version=?", key)
        return {g: (s, n) for g, s, n in cur}

    def thumbnails(self, split_fingerprint: str, sources: Iterable[str]) -> Iterator[tuple[str, str, int, str, bytes]]:
        sources = list(sources)
        if not sources:
            return iter(())
        marks = ",".join("?" * len(sources))
        return iter(self.db.execute(f"SELECT source, clip_id, frame, mime, data FROM thumbnails WHERE "
                                    f"split_fingerprint=? AND source IN ({marks}) ORDER BY source, clip_id, frame",
                                    (split_fingerprint, *sources)).fetchall())

    def table_rows(self, table: str) -> list[tuple]:
        """Every row of a result table in key order (tests and merge compare stores with it)."""
        keys = ", ".join(TABLE_KEYS[table])
        return self.db.execute(f"SELECT * FROM {table} ORDER BY {keys}").fetchall()
