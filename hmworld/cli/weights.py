"""`hmworld weights weights_dir=DIR [model=...] [captioner=...]`: every weights file or folder the toolkit loads (the
learned metrics', the captioner's, the model's components'), where each was looked for and whether it is present.
Nothing is downloaded. Exit status 1 when something is missing."""
from __future__ import annotations

from omegaconf import DictConfig

from hmworld.cli.ui import command, user_errors

WEIGHTLESS_CAPTIONERS = ("template",)


def captioner_rows(cfg) -> list:
    from hmworld.weights import folder_status, not_needed

    name = str(cfg.get("name") or "template")
    if name in WEIGHTLESS_CAPTIONERS:
        return [not_needed("captioner", ("captions",), f"captioner {name} (from the clips' metadata)")]
    return [folder_status("captioner", ("captions",), f"captioner {name} ({cfg.get('model')})", cfg.get("model"),
                          setting="captioner.model", revision=cfg.get("revision"))]


def model_rows(model_cfg) -> list:
    from hmworld.model.components import pretrained_parts
    from hmworld.weights import folder_status, not_needed

    name = str(model_cfg.get("name") or "model")
    parts = pretrained_parts(model_cfg)
    if not parts:
        return [not_needed("model", ("train", "generate"), f"{name} (random init, weightless text encoder, "
                                                              "autoencoder fitted by hmworld cache)")]
    return [folder_status(key, ("train", "generate"), f"{name}: {what}", ref, setting=setting, subfolder=sub,
                          needs=needs) for key, what, setting, ref, sub, needs in parts]


def collect(cfg) -> list:
    """Every row of the report: the metrics' files, the captioner's folder, the model's pretrained parts."""
    import os

    from hmworld.metrics.weights import report

    weights_dir = cfg.weights_dir or os.environ.get("HMWORLD_WEIGHTS_DIR") or None
    rows = report(weights_dir, cfg.yolo_weights)
    rows += captioner_rows(cfg.captioner)
    rows += model_rows(cfg.model)
    return rows


def run(cfg) -> int:
    from hmworld.weights import format_report

    with user_errors():
        rows = collect(cfg)
    print(format_report(rows))
    return 0 if all(r.present for r in rows) else 1


def weights(cfg: DictConfig) -> int:
    status = run(cfg)
    if status:
        # Hydra's main returns nothing to the shell, so the status is set here.
        raise SystemExit(status)
    return 0


main = command("weights", weights)
