"""`hmworld train split=DIR out=RUN_DIR model=... trainer.*=...`: flow-matching training (see `--help`).

Several processes on one machine (``trainer.devices=N`` with a DDP/FSDP/DeepSpeed strategy) are started here, one
per device, each running this same command with the same overrides; under torchrun or SLURM (which start the
processes themselves, also across nodes) nothing is launched and Lightning reads the environment.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys

from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from hmworld.cli.ui import command, console, user_errors

_EXTERNAL = ("LOCAL_RANK", "TORCHELASTIC_RUN_ID", "SLURM_NTASKS")


def _num_devices(trainer_cfg) -> int:
    import torch

    d = trainer_cfg.get("devices", 1)
    if isinstance(d, int) and d > 0:
        return d
    if isinstance(d, str) and d.isdigit():
        return int(d)
    if OmegaConf.is_list(d) or isinstance(d, (list, tuple)):
        return len(d)
    if trainer_cfg.get("accelerator") != "cpu" and torch.cuda.is_available():  # auto / -1
        return torch.cuda.device_count()
    return 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_local_processes(cfg: DictConfig) -> list[subprocess.Popen]:
    """Start processes 1..N-1 of a single-node multi-process run and make this one process 0.

    Lightning would start them itself, but it rebuilds the command from sys.argv, which the `hmworld` dispatcher
    rewrote (the subcommand is gone), so the children are started here with the real command line.
    """
    from hmworld.errors import ConfigError

    n = _num_devices(cfg.trainer)
    strategy = str(cfg.trainer.get("strategy", "auto"))
    if n <= 1 or any(k in os.environ for k in _EXTERNAL):
        return []
    if int(cfg.trainer.get("num_nodes", 1)) > 1:
        raise ConfigError("trainer.num_nodes > 1: start one process per device with torchrun or SLURM "
                          "(see model/TRAINING.md); hmworld train launches processes on one machine only")
    if not any(s in strategy for s in ("ddp", "fsdp", "deepspeed")):
        raise ConfigError(f"trainer.devices={n} needs a multi-process strategy: trainer.strategy=ddp (or fsdp, "
                          f"deepspeed_stage_2 ...), got {strategy!r}")
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task)
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": str(n),
           "NODE_RANK": "0"}
    children = []
    for rank in range(1, n):
        cmd = [sys.executable, "-m", "hmworld", "train", *overrides, "progress=false"]
        children.append(subprocess.Popen(cmd, env={**env, "LOCAL_RANK": str(rank)}))
    os.environ.update({k: env[k] for k in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "NODE_RANK")})
    os.environ["LOCAL_RANK"] = "0"
    return children


def train(cfg: DictConfig) -> None:
    from hmworld.errors import ConfigError, HMWorldError
    from hmworld.fsutil import atomic_write_text

    with user_errors():
        for key in ("split", "out"):
            if OmegaConf.is_missing(cfg, key):
                raise ConfigError(f"{key}= is required (split: the split folder; out: the run folder)")
        from hmworld.split import Split

        Split(cfg.split)  # a wrong folder is named before torch and lightning load (seconds)
        from hmworld.model.training import run_training

        children = launch_local_processes(cfg)
        if os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0":
            # written first, so a killed run still says what it was
            os.makedirs(cfg.out, exist_ok=True)
            atomic_write_text(os.path.join(cfg.out, "config.yaml"), OmegaConf.to_yaml(cfg, resolve=True))
        try:
            result = run_training(cfg, progress=bool(cfg.progress))
        except BaseException:
            for c in children:  # our own children only, by handle
                c.terminate()
            raise
        failed = [c.args for c in children if c.wait() != 0]
        if failed:
            raise HMWorldError(f"{len(failed)} training process(es) failed")
        if not result["is_global_zero"]:
            return
    from hmworld.model.trained import read_metrics

    rows = read_metrics(result["metrics"])
    losses = [float(r["train_loss"]) for r in rows if r.get("train_loss")]
    t = Table(title=f"run {result['out']}", show_header=False, title_justify="left")
    t.add_row("steps", f"{result['global_step']}" + (f" (resumed from {result['resumed_from']})" if result["resumed_from"] else ""))
    t.add_row("parameters", f"{result['trainable_params']:,} trainable of {result['params']:,}")
    if losses:
        k = min(20, len(losses))
        t.add_row("train_loss", f"first {k} steps mean {sum(losses[:k]) / k:.4f}, last {k} steps mean "
                                f"{sum(losses[-k:]) / k:.4f}")
    t.add_row("checkpoint", str(result["checkpoint"]))
    t.add_row("logs", f"{result['metrics']}, {os.path.join(str(result['out']), 'tensorboard')}")
    console.print(t)


main = command("train", train)
