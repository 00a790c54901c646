"""`renderer=unrealcv` against the UnrealCV simulator, through the real `unrealcv` client over real TCP:
the same clips as the embedded renderer, and whole clips despite dropped connections, error replies,
stalls and a crashed game."""
import json
import sys
import textwrap

import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.testlib import render_config, run_cli
from hmworld.compositor import CompositionContext, Rejection, compose
from hmworld.errors import ConfigError, RenderFailure
from hmworld.render import build_renderer
from hmworld.render.embedded import EmbeddedRenderer
from hmworld.render_job import run_render
from hmworld.split import Split
from hmworld.render.unrealcv_sim import Faults, UnrealCVSimulator

pytest.importorskip("unrealcv")

# 64x48, 21 + 21 frames, 2 clips: small enough to render a split several times in a few seconds
TINY = ["num_clips=2", "seed=7", "video.width=64", "video.height=48", "video.context_frames=21",
        "video.target_frames=21", "progress=false"]
PRIMITIVE = ["renderer.subjects_style=primitive", "renderer.quality=basic", "renderer.props_style=primitive"]
FAST = ["renderer.runtime.backoff_s=0.05", "renderer.runtime.connect_timeout_s=15",
        "renderer.runtime.request_timeout_s=15"]


def ue_config(out, port, *extra):
    return render_config(f"out={out}", *TINY, "renderer=unrealcv", f"renderer.runtime.port={port}", *FAST, *extra)


@pytest.fixture(scope="module")
def embedded_split(tmp_path_factory):
    out = tmp_path_factory.mktemp("embedded") / "split"
    # The simulator stands in for the game and draws what an UnrealCV config describes to the compositor:
    # primitive bodies and props (no 0 A.D. art), basic quality. The embedded split to compare is asked for the same.
    run_render(render_config(f"out={out}", *TINY, *PRIMITIVE))
    return out


def clip_files(split_dir):
    split = Split(split_dir)
    out = {}
    for clip in split:
        d = split_dir / "clips" / clip.clip_id
        out[clip.clip_id] = {
            "events": json.loads((d / "events.json").read_text()),
            "subjects": json.loads((d / "subjects.json").read_text()),
            "camera": json.loads((d / "camera.json").read_text()),
            "instances": np.load(d / "instances.npz")["instances"],
        }
    return split, out


def assert_same_split(ue_dir, embedded_dir):
    ue, ue_clips = clip_files(ue_dir)
    emb, emb_clips = clip_files(embedded_dir)
    assert ue.complete and sorted(ue_clips) == sorted(emb_clips)
    for cid, e in emb_clips.items():
        u = ue_clips[cid]
        assert u["events"] == e["events"], cid
        assert np.array_equal(u["instances"], e["instances"]), cid
        assert u["subjects"] == e["subjects"] and u["camera"] == e["camera"], cid
    # the simulator draws with the embedded renderer, so even the videos (hence the fingerprint) agree
    assert ue.fingerprint == emb.fingerprint
    assert not list((ue_dir / "clips").glob(".tmp-*"))


def test_same_frames_as_the_embedded_renderer(catalog):
    """Per frame: identical instance masks and RGB, depth within float16 scene-depth precision."""
    cfg = render_config("out=unused", *TINY)
    ctx = CompositionContext.from_config(catalog, cfg)
    specs = [s for s in (compose(ctx, 0, a) for a in range(6)) if not isinstance(s, Rejection)][:2]
    assert specs and sum(len(s.subjects) for s in specs) >= 2
    with UnrealCVSimulator(catalog) as sim, EmbeddedRenderer(catalog, read_depth=True) as emb, \
            build_renderer(ue_config("unused", sim.port).renderer, catalog, read_depth=True) as ue:
        assert ue.name == "unrealcv"
        for spec in specs:
            a, b = list(emb.render(spec)), list(ue.render(spec))
            assert len(b) == spec.num_frames
            for x, y in zip(a, b):
                assert np.array_equal(x.instances, y.instances)
                assert np.array_equal(x.rgb, y.rgb)
                sky = x.depth == 0
                assert np.array_equal(sky, y.depth == 0)
                np.testing.assert_allclose(y.depth[~sky], x.depth[~sky], rtol=1e-3, atol=1e-4)
            assert any(np.isin([t.instance_id for t in spec.subjects], np.stack([y.instances for y in b])).tolist())
        assert ue.connects == 1  # one connection for every clip; the second clip reused the level or loaded its own


def test_split_equals_the_embedded_split(tmp_path, embedded_split):
    with UnrealCVSimulator(sim_catalog()) as sim:
        report = run_render(ue_config(tmp_path / "ue", sim.port))
    assert report.render_failures == 0 and report.failed_clips == [] and report.written == 2
    assert_same_split(tmp_path / "ue", embedded_split)
    config = json.loads((tmp_path / "ue" / "split.json").read_text())["config"]
    assert config["renderer"]["name"] == "unrealcv" and "runtime" not in config["renderer"]  # run-only settings


@pytest.mark.parametrize("fault, extra", [
    (Faults(drop_after=30, match="object_mask"), []),  # the link drops on frame 30 of the first clip
    (Faults(error_after=25, match="HMSetPose"), []),  # the game answers `error ...` to a batched pose
    # a stall: the game never answers (until the client gives up and closes); the timeout is generous, so a slow
    # answer on a busy machine is not taken for a second fault
    (Faults(stall_after=30, match="/lit", stall_s=3600.0), ["renderer.runtime.request_timeout_s=10"]),
], ids=["drop", "error", "stall"])
def test_faults_mid_clip_restart_the_clip_and_the_split_finishes_whole(tmp_path, embedded_split, fault, extra):
    with UnrealCVSimulator(sim_catalog(), faults=fault) as sim:
        report = run_render(ue_config(tmp_path / "ue", sim.port, *extra))
        assert len(sim.fault_log) == 1 and sim.connections == 2  # one fault, one reconnect
    assert report.render_failures == 1 and report.failed_clips == [] and report.written == 2
    assert_same_split(tmp_path / "ue", embedded_split)


def test_a_link_lost_between_clips_is_reconnected_without_failing_a_clip(tmp_path, embedded_split):
    # the second render's setup (its `vget /objects`) finds the connection gone: reconnect, nothing to redo
    with UnrealCVSimulator(sim_catalog(), faults=Faults(drop_after=2, match="vget /objects")) as sim:
        report = run_render(ue_config(tmp_path / "ue", sim.port))
        assert len(sim.fault_log) == 1 and sim.connections == 2
    assert report.render_failures == 0 and report.failed_clips == []
    assert_same_split(tmp_path / "ue", embedded_split)


def test_summary_shows_the_failure_count(tmp_path):
    with UnrealCVSimulator(sim_catalog(), faults=Faults(drop_after=10, match="object_mask")) as sim:
        proc = run_cli("render", f"out={tmp_path / 'ue'}", *TINY, "renderer=unrealcv",
                       f"renderer.runtime.port={sim.port}", *FAST)
    assert "renderer failures" in proc.stdout and "1 retried; 0 clip(s) failed" in proc.stdout, proc.stdout
    assert Split(tmp_path / "ue").complete


def test_a_crashed_game_we_launched_is_relaunched(tmp_path, embedded_split):
    """The backend launches `hmworld ucv-sim` as its game (on a free port, readiness by polling); the first
    game crashes mid-clip, the second is clean: the split finishes whole."""
    marker = tmp_path / "crashed-once"
    wrapper = tmp_path / "game.py"
    wrapper.write_text(textwrap.dedent(f"""
        import os, sys
        args = [sys.executable, "-m", "hmworld", "ucv-sim", "port=" + sys.argv[1]]
        if not os.path.exists({str(marker)!r}):
            open({str(marker)!r}, "w").close()
            args += ["faults.crash_after=15", "faults.match=/lit"]
        os.execv(sys.executable, args)
    """))
    cfg = ue_config(tmp_path / "ue", 1, "renderer.runtime.connect_timeout_s=60")
    OmegaConf.update(cfg, "renderer.runtime.binary", [sys.executable, str(wrapper)])
    OmegaConf.update(cfg, "renderer.runtime.launch_args", ["{port}"])
    OmegaConf.update(cfg, "renderer.runtime.log_dir", str(tmp_path / "logs"))
    report = run_render(cfg)
    assert report.render_failures == 1 and report.failed_clips == []
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["game-1.log", "game-2.log"]
    assert "crash at request 15" not in (tmp_path / "logs" / "game-2.log").read_text()
    assert_same_split(tmp_path / "ue", embedded_split)


def test_a_clip_that_keeps_failing_is_recorded_and_the_others_render(tmp_path, embedded_split):
    emb = Split(embedded_split)
    first, second = (set(emb[i].row["subjects"]) for i in (0, 1))
    only_first = sorted(first - second)
    assert only_first, "seed 7 should give clip 0 a subject clip 1 lacks"
    asset = sim_catalog().subjects[only_first[0]].unreal_asset
    faults = Faults(error_after=1, repeat=True, match=asset)  # spawning that subject always fails
    with UnrealCVSimulator(sim_catalog(), faults=faults) as sim:
        report = run_render(ue_config(tmp_path / "ue", sim.port, "failures.max_retries_per_clip=1"))
    assert report.failed_clips == ["train_s7_000000"] and report.render_failures == 2 and report.written == 1
    info = json.loads((tmp_path / "ue" / "split.json").read_text())
    assert info["status"] == "in_progress" and info["failed_clips"] == ["train_s7_000000"]
    assert sorted(p.name for p in (tmp_path / "ue" / "clips").iterdir()) == ["train_s7_000001"]


def test_clear_errors(catalog):
    cfg = render_config("out=unused", *TINY)
    spec = next(s for s in (compose(CompositionContext.from_config(catalog, cfg), 0, a) for a in range(9))
                if not isinstance(s, Rejection))
    # nothing listens on the port: a RenderFailure naming it, after the configured tries
    r = build_renderer(ue_config("unused", 9, "renderer.runtime.connect_timeout_s=0.3",
                                 "renderer.runtime.max_reconnects=1").renderer, catalog)
    with r, pytest.raises(RenderFailure, match=r"UnrealCV at 127\.0\.0\.1:9 .*after 2 tries"):
        next(r.render(spec))
    # UE cameras cannot shift the principal point: refused before connecting
    from dataclasses import replace

    off = replace(spec, intrinsics=replace(spec.intrinsics, cx=spec.intrinsics.cx + 5))
    with build_renderer(ue_config("unused", 9).renderer, catalog) as r, pytest.raises(ConfigError, match="principal"):
        next(r.render(off))
    with pytest.raises(ConfigError, match="binary .*does not exist"):
        cfg = ue_config("unused", 9)
        OmegaConf.update(cfg, "renderer.runtime.binary", "/nonexistent/HMWorld.sh")
        with build_renderer(cfg.renderer, catalog) as r:
            next(r.render(spec))


def sim_catalog():
    from hmworld.catalog import load_catalog

    return load_catalog()
