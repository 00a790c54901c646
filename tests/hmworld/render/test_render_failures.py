"""Renderer failures: the clip restarts from its first frame, partial clips are never written, and a clip
that keeps failing is recorded as failed while the rest of the split goes on."""
import json


from tests.testlib import SMALL, render_config
from hmworld.errors import RenderFailure
from hmworld.render import register_renderer
from hmworld.render.embedded import EmbeddedRenderer
from hmworld.render_job import run_render
from hmworld.split import Split


class FlakyRenderer(EmbeddedRenderer):
    """The embedded renderer, failing mid-clip on chosen clip renders (as a dropped UE connection would)."""

    name = "flaky"
    calls = 0

    def __init__(self, catalog, fail_on=(), **kwargs):
        super().__init__(catalog, **kwargs)
        self.fail_on = set(fail_on)

    def render(self, spec):
        FlakyRenderer.calls += 1
        call = FlakyRenderer.calls
        for i, frame in enumerate(super().render(spec)):
            if call in self.fail_on and i == spec.num_frames // 2:
                raise RenderFailure(f"simulated failure on render call {call}")
            yield frame


register_renderer("flaky", lambda catalog, **kw: FlakyRenderer(catalog, **kw))


def _cfg(out, *extra):
    return render_config(f"out={out}", "num_clips=3", "seed=7", *SMALL, "progress=false", "renderer.name=flaky",
                         *extra)


def test_transient_failures_are_retried_and_the_split_is_unchanged(tmp_path, small_split):
    FlakyRenderer.calls = 0
    report = run_render(_cfg(tmp_path / "s", "+renderer.runtime.fail_on=[1,3]"))
    assert report.render_failures == 2 and report.failed_clips == []
    split = Split(tmp_path / "s")
    assert split.complete and split.fingerprint == Split(small_split).fingerprint
    assert not list((tmp_path / "s" / "clips").glob(".tmp-*"))


def test_a_clip_that_keeps_failing_is_recorded_and_the_rest_goes_on(tmp_path):
    FlakyRenderer.calls = 0
    # clip 0 takes render calls 1..3 (2 retries) and fails every time; clips 1 and 2 render normally
    report = run_render(_cfg(tmp_path / "s", "+renderer.runtime.fail_on=[1,2,3]", "failures.max_retries_per_clip=2"))
    assert report.failed_clips == ["train_s7_000000"] and report.written == 2 and report.render_failures == 3
    info = json.loads((tmp_path / "s" / "split.json").read_text())
    assert info["status"] == "in_progress" and info["failed_clips"] == ["train_s7_000000"]
    assert sorted(p.name for p in (tmp_path / "s" / "clips").iterdir()) == ["train_s7_000001", "train_s7_000002"]
    # a later run (renderer healthy again) writes the missing clip and clears the record
    report = run_render(_cfg(tmp_path / "s", "failures.max_retries_per_clip=2"))
    info = json.loads((tmp_path / "s" / "split.json").read_text())
    assert report.written == 1 and info["status"] == "complete" and info["failed_clips"] == []
