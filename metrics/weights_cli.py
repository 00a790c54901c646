"""`hmworld weights weights_dir=DIR`: what each learned metric needs and what is present.

Hydra `key=value` overrides like every hmworld subcommand: weights_dir=DIR (default $HMWORLD_WEIGHTS_DIR),
yolo_weights=yolo11x.pt. Exit status 0 when everything is present, 1 when something is missing.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Optional, Sequence

from .weights import DEFAULT_YOLO, format_report, report

CONFIG_NAME = "hmworld_weights"


@dataclass
class WeightsConfig:
    weights_dir: Optional[str] = None
    yolo_weights: str = DEFAULT_YOLO


def compose_config(overrides: Sequence[str] = ()):
    """Hydra's compose API over a structured config: unknown keys and bad values fail with Hydra's messages."""
    from hydra import compose, initialize
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra

    ConfigStore.instance().store(name=CONFIG_NAME, node=WeightsConfig)
    GlobalHydra.instance().clear()
    with initialize(version_base="1.3", config_path=None):
        return compose(config_name=CONFIG_NAME, overrides=list(overrides))


def run(overrides: Sequence[str] = ()) -> int:
    cfg = compose_config(overrides)
    weights_dir = cfg.weights_dir or os.environ.get("HMWORLD_WEIGHTS_DIR") or None
    rows = report(weights_dir, cfg.yolo_weights)
    print(format_report(rows))
    return 0 if all(r.present for r in rows) else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(__doc__.strip())
        return 0
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
