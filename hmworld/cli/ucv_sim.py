"""`hmworld ucv-sim port=P`: run the UnrealCV protocol simulator until interrupted (see `--help`)."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from hmworld.cli.ui import command, console, user_errors


def ucv_sim(cfg: DictConfig) -> None:
    from hmworld.catalog import load_catalog
    from hmworld.render.unrealcv_sim import Faults, UnrealCVSimulator

    from hmworld.errors import ConfigError

    with user_errors():
        if not 0 <= int(cfg.port) <= 65535:
            raise ConfigError(f"port={cfg.port}: must be 0 (any free port) to 65535")
        catalog = load_catalog(list(cfg.catalog_dirs))
        faults = Faults(**OmegaConf.to_container(cfg.faults, resolve=True))
        log = (lambda msg: console.print(f"[dim]ucv-sim:[/] {msg}", highlight=False)) if cfg.verbose else None
        sim = UnrealCVSimulator(catalog, host=str(cfg.host), port=int(cfg.port), project=str(cfg.project),
                                faults=faults, log=log).start()
    armed = {k: v for k, v in OmegaConf.to_container(cfg.faults).items() if k.endswith("_after") and v}
    console.print(f"UnrealCV simulator ({cfg.project}) listening on {sim.host}:{sim.port}: "
                  f"{len(sim.state.levels)} levels, {len(sim.state.assets)} subject assets"
                  + (f"; faults armed: {armed}" if armed else ""), highlight=False)
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        console.print("ucv-sim: stopped")


# The undecorated task function stays importable by name (as in hmworld.cli.render).
main = command("ucv_sim", ucv_sim)
