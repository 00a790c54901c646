"""The `hmworld` console script: `hmworld <command> key=value ...` (Hydra overrides everywhere).

Each command is a module whose `main()` is made by `hmworld.cli.ui.command` (its Hydra config, the error
printers); the dispatcher only picks the module, so later commands slot in by adding one line to COMMANDS.
"""
from __future__ import annotations

import importlib
import sys

# name -> (module, one-line help). Commands of other parts of the toolkit register here as they land.
COMMANDS: dict[str, tuple[str, str]] = {
    "render": ("hmworld.cli.render", "render a new HM-World split (embedded CPU renderer by default)"),
    "caption": ("hmworld.cli.caption", "re-caption a split in place (template | minicpm | vlm), resumably"),
    "ucv-sim": ("hmworld.cli.ucv_sim", "UnrealCV protocol simulator (a stand-in UE5 game drawn by the embedded renderer)"),
    "predict-baseline": ("hmworld.cli.predict_baseline", "write a reference predictor's submission (repeat-last | mean-context | nearest-view)"),
    "score": ("hmworld.cli.score", "validate a submission and score it into a results store, resumably"),
    "score-merge": ("hmworld.cli.score_merge", "join results stores (shards) into one"),
    "leaderboard": ("hmworld.cli.leaderboard", "write the leaderboard: CSV, Markdown, self-contained HTML page"),
    "weights": ("hmworld.cli.weights", "what each learned metric needs and what is present"),
    "import-hmworld": ("hmworld.cli.import_hmworld", "convert the official HM-World release into a split"),
    "cache": ("hmworld.cli.cache", "VAE latents + caption embeddings per clip for training (resumable)"),
    "train": ("hmworld.cli.train", "train HyDRA / baselines with PyTorch Lightning (tiny CPU model by default)"),
    "generate": ("hmworld.cli.generate", "predict target clips into a submission folder (or one clip)"),
    "retrieval-view": ("hmworld.cli.retrieval_view", "heat maps of the memory frames each target frame retrieved, with subject visibility"),
    "study": ("hmworld.cli.study", "the memory study: render, cache, train every retrieval mode x seed, generate, score, report"),
    "stats": ("hmworld.cli.stats", "dataset card: distributions, stats.json, HTML page, comparison with a reference profile"),
    "assets": ("hmworld.cli.assets", "fetch/check the 0 A.D. asset cache of the skinned-subject preview (renderer.subjects_style=asset)"),
}

USAGE = """usage: hmworld <command> [key=value ...] [--help] [--cfg job] [--multirun]

Commands:
{commands}

Every argument is a Hydra override (key=value); `split=DIR` always names a split folder.
`hmworld <command> --help` lists a command's settings and defaults.
"""


def usage() -> str:
    width = max(len(n) for n in COMMANDS)
    return USAGE.format(commands="\n".join(f"  {n:<{width}}  {h}" for n, (_, h) in COMMANDS.items()))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name = argv[0]
    if name not in COMMANDS:
        print(f"hmworld: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    sys.argv = [f"hmworld-{name}", *argv[1:]]  # Hydra parses sys.argv
    # a bad override or a toolkit error: one line, exit 2 (each command's main is hmworld.cli.ui.command's)
    return int(module.main() or 0)
