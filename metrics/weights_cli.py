"""`hmworld weights` as a function: `main(["weights_dir=DIR", "model=tiny", ...])` prints the report and returns
the exit status (0 when everything is present, 1 when something is missing). Same config (render_configs/
weights.yaml), same rows and same table as the command (hmworld/cli/weights.py); --help prints the command's help.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

CONFIG_NAME = "weights"


def compose_config(overrides: Sequence[str] = ()):
    """Hydra's compose API over the command's config: unknown keys and bad values fail with Hydra's messages."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="hmworld.render_configs", version_base="1.3"):
        return compose(config_name=CONFIG_NAME, overrides=list(overrides))


def run(overrides: Sequence[str] = ()) -> int:
    from hmworld.cli.weights import run as run_report

    return run_report(compose_config(overrides))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(__doc__.strip())
        return 0
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
