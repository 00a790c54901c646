"""`hmworld weights weights_dir=DIR`: what each learned metric needs and what is present (exit status 1 when
something is missing). The logic is the metrics package's (`hmworld.metrics.weights_cli`)."""
from __future__ import annotations

from omegaconf import DictConfig

from hmworld.cli.ui import command, user_errors


def weights(cfg: DictConfig) -> int:
    import os

    from hmworld.metrics.weights import format_report, report

    with user_errors():
        weights_dir = cfg.weights_dir or os.environ.get("HMWORLD_WEIGHTS_DIR") or None
        rows = report(weights_dir, cfg.yolo_weights)
    print(format_report(rows))
    missing = [r for r in rows if not r.present]
    if missing:
        # Hydra's main returns nothing to the shell, so the status is set here (as `weights_cli.run` returns it).
        raise SystemExit(1)
    return 0


main = command("weights", weights)
