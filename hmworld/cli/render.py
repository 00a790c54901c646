"""`hmworld render out=DIR num_clips=N seed=S ...`: render a new HM-World split (see `--help`)."""
from __future__ import annotations

from omegaconf import DictConfig
from rich.table import Table

from hmworld.cli.ui import bars, command, console, user_errors
from hmworld.render_job import RenderReport, run_render


def clip_table(out, limit: int = 8) -> Table | None:
    """What the split holds: one line per clip (the first `limit`)."""
    import json

    from hmworld.split import Split
    from hmworld.errors import SplitError

    try:
        split = Split(out)
    except SplitError:
        return None
    t = Table(title=f"{len(split)} clips (first {min(limit, len(split))})", title_justify="left")
    for col in ("clip", "scene", "subjects", "camera", "exit -> entry (frame)"):
        t.add_column(col)
    for row in split.manifest.head(limit).itertuples():
        events = ", ".join(f"#{e['instance_id']} {e['exit_frame']}->{e['entry_frame']}" for e in json.loads(row.events))
        t.add_row(row.clip_id, row.scene, ", ".join(row.subjects), row.camera_trajectory, events)
    return t


def summary(report: RenderReport) -> Table:
    info = report.split_info
    t = Table(title=f"split {report.out}", show_header=False, title_justify="left")
    t.add_row("status", f"{info['status']} ({info['num_clips_written']}/{info['num_clips']} clips)")
    t.add_row("this run", f"{report.written} clips written, {report.already_done} already on disk "
                          f"(shard {report.shard}/{report.num_shards})")
    t.add_row("candidates", f"{report.candidates} tried, {sum(report.rejections.values())} rejected")
    for reason, n in sorted(report.rejections.items()):
        t.add_row("", f"  {reason}: {n}")
    if report.render_failures or report.failed_clips:
        t.add_row("renderer failures", f"{report.render_failures} retried; "
                                       f"{len(report.failed_clips)} clip(s) failed: {', '.join(report.failed_clips) or '-'}")
    if report.prefilter_precision is not None:
        t.add_row("pre-filter precision", f"{report.prefilter_precision:.1%} of {report.prefilter_passed} "
                                          "candidates it passed had an event in the masks")
    t.add_row("speed", f"{report.frames} frames in {report.render_seconds:.1f} s = {report.fps:.1f} fps "
                       "(render + encode + write)")
    if info.get("fingerprint"):
        t.add_row("fingerprint", info["fingerprint"])
    t.add_row("files", "manifest.parquet, split.json, captions.txt, clips/<clip_id>/{video.mp4, camera.json, "
                       "subjects.json, events.json, instances.npz}")
    return t


def render(cfg: DictConfig) -> None:
    with user_errors(), bars(cfg.progress) as progress:
        report = run_render(cfg, progress=progress)
    table = clip_table(report.out)
    if table is not None:
        console.print(table)
    console.print(summary(report))


# The undecorated task function stays importable by name, so multirun launchers (joblib, submitit) pickle it
# by reference instead of by value.
main = command("render", render)
