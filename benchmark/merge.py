"""Joining results stores (one per shard or machine) into one: `hmworld score-merge inputs=[...] results=FILE`.

All inputs are merged in one SQLite transaction: the target gains every row or none. A row already present
with the same key and the same values is skipped (merging twice changes nothing); the same key with different
values is a conflict (e.g. a clip scored with other weights), and every conflict is listed and nothing is
written. metric_status keeps the better-informed status (computed > weights missing > not installed >
not requested); thumbnails and timings are not results and keep the first copy.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from hmworld.benchmark.errors import BenchmarkError
from hmworld.benchmark.store import RESULT_TABLES, STATUS_RANK, TABLE_KEYS, ResultsStore

# Tables whose differing rows are conflicts (the others are resolved as the module doc says).
STRICT = ("submissions", "clips", "scores", "events")
MAX_LISTED = 20


@dataclass
class MergeReport:
    results: Path
    inputs: list[str]
    added: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    submissions: int = 0


def _columns(db, schema: str, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA {schema}.table_info({table})")]


def merge_stores(inputs: Sequence[str | Path], results: str | Path) -> MergeReport:
    inputs = [Path(p) for p in inputs]
    results = Path(results)
    if not inputs:
        raise BenchmarkError("inputs=[]: name at least one results store to merge")
    problems = [f"{p}: no such results store" for p in inputs if not p.is_file()]
    problems += [f"{p}: is the target itself" for p in inputs
                 if p.is_file() and results.exists() and os.path.samefile(p, results)]
    if problems:
        if len(problems) == 1:  # one fault: one line
            raise BenchmarkError(f"cannot merge: {problems[0]}")
        raise BenchmarkError("cannot merge:\n" + "\n".join(f"  - {p}" for p in problems))
    for p in inputs:       # opening checks each is a store of this schema version (clear error otherwise)
        ResultsStore(p, create=False).close()
    report = MergeReport(results, [str(p) for p in inputs])
    with ResultsStore(results) as target:
        db = target.db
        conflicts: list[str] = []
        # SQLite attaches and detaches only outside a transaction.
        for i, path in enumerate(inputs):
            db.execute(f"ATTACH DATABASE ? AS src{i}", (str(path),))
        db.execute("BEGIN IMMEDIATE")
        try:
            for i, path in enumerate(inputs):
                src = f"src{i}"
                for table in (*RESULT_TABLES, "timings"):
                    keys = TABLE_KEYS[table]
                    cols = _columns(db, "main", table)
                    others = [c for c in cols if c not in keys]
                    on = " AND ".join(f"m.{k} = s.{k}" for k in keys)
                    if table in STRICT:
                        differ = " OR ".join(f"m.{c} IS NOT s.{c}" for c in others)
                        for row in db.execute(f"SELECT {', '.join('s.' + k for k in keys)} FROM {src}.{table} s "
                                              f"JOIN main.{table} m ON {on} WHERE {differ}"):
                            conflicts.append(f"{path.name}: {table} row {dict(zip(keys, row))} differs from the "
                                             f"one already in {results.name}")
                    if table == "metric_status":
                        n = 0
                        for row in db.execute(f"SELECT * FROM {src}.{table}").fetchall():
                            old = db.execute(f"SELECT status FROM main.{table} WHERE " +
                                             " AND ".join(f"{k} = ?" for k in keys), row[:len(keys)]).fetchone()
                            if old is None or STATUS_RANK.get(row[len(keys)], 0) > STATUS_RANK.get(old[0], 0):
                                db.execute(f"INSERT OR REPLACE INTO main.{table} VALUES ({','.join('?' * len(row))})", row)
                                n += 1
                        report.added[table] = report.added.get(table, 0) + n
                        continue
                    before = db.total_changes
                    db.execute(f"INSERT OR IGNORE INTO main.{table} SELECT * FROM {src}.{table}")
                    n = db.total_changes - before
                    total = db.execute(f"SELECT COUNT(*) FROM {src}.{table}").fetchone()[0]
                    report.added[table] = report.added.get(table, 0) + n
                    report.skipped[table] = report.skipped.get(table, 0) + total - n
            if conflicts:
                raise BenchmarkError(f"{len(conflicts)} conflicting row(s); nothing was merged:\n" +
                                     "\n".join(f"  - {c}" for c in conflicts[:MAX_LISTED]) +
                                     (f"\n  ... and {len(conflicts) - MAX_LISTED} more" if len(conflicts) > MAX_LISTED else ""))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            for i in range(len(inputs)):
                db.execute(f"DETACH DATABASE src{i}")
        report.submissions = db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    return report
