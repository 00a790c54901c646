"""The documented cluster path, run with Hydra's submitit launcher on the local executor (the `slurm` extra):
`hmworld score --multirun shard=0,1 num_shards=2 hydra/launcher=submitit_local`, then `hmworld score-merge`,
gives the same leaderboard as one process."""
from hmworld.benchmark import build_leaderboard, score_submission
from hmworld.benchmark.scoring import ScoreConfig
from tests.benchmark.testlib import score_rows
from tests.testlib import run_cli


def test_submitit_local_shards_merge_to_the_one_process_table(small_split, subs, tmp_path):
    one = tmp_path / "one" / "results.sqlite"
    score_submission(ScoreConfig(subs["repeat-last"], small_split, one, metrics=["psnr", "ssim"], threads=1))
    run_cli("score", "--multirun", f"submission={subs['repeat-last']}", f"split={small_split}",
            f"results={tmp_path}/shards/${{shard}}.sqlite", "metrics=[psnr,ssim]", "threads=1", "progress=false",
            "shard=0,1", "num_shards=2", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
            f"hydra.sweep.dir={tmp_path}/sweep", timeout=600)
    shards = sorted((tmp_path / "shards").glob("*.sqlite"))
    assert [p.name for p in shards] == ["0.sqlite", "1.sqlite"]
    assert (tmp_path / "sweep" / ".submitit").is_dir()                # really went through submitit
    merged = tmp_path / "merged" / "results.sqlite"
    run_cli("score-merge", f"inputs=[{shards[0]},{shards[1]}]", f"results={merged}")
    assert score_rows(merged) == score_rows(one)
    a, b = build_leaderboard(one, tmp_path / "site-one"), build_leaderboard(merged, tmp_path / "site-merged")
    for name in ("leaderboard.csv", "leaderboard.md", "index.html"):
        assert (a.out / name).read_bytes() == (b.out / name).read_bytes()


def test_a_user_error_in_a_sharded_run_ends_in_the_one_line_error(small_split, tmp_path):
    """A bad setting that only the jobs see (here a submission path that does not exist) ends as in one process:
    `error: <message>` last, exit status 2, no traceback (the job hands the error back to the launching process)."""
    missing = tmp_path / "no_such_submission"
    proc = run_cli("score", "--multirun", f"submission={missing}", f"split={small_split}",
                   f"results={tmp_path}/shards/${{shard}}.sqlite", "progress=false", "shard=0,1", "num_shards=2",
                   "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", f"hydra.sweep.dir={tmp_path}/sweep",
                   check=False, timeout=600)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(missing) in last, proc.stderr
    assert "Traceback" not in proc.stderr and "has not produced any output" not in proc.stderr
    assert (tmp_path / "sweep" / ".submitit").is_dir()                # the jobs really ran under submitit
    assert not (tmp_path / "shards").exists() or not any((tmp_path / "shards").iterdir())
