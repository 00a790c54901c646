"""`hmworld cache split=DIR model=...`: VAE latents and caption embeddings per clip, resumably (see `--help`)."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from hmworld.cli.ui import bars, command, console, user_errors


def cache(cfg: DictConfig) -> None:
    from hmworld.errors import ConfigError
    from hmworld.split import Split

    with user_errors():
        if OmegaConf.is_missing(cfg, "split"):
            raise ConfigError("split=DIR is required: the split folder to encode")
        split = Split(cfg.split)  # a wrong folder is named before torch and the model code load (seconds)
        from hmworld.model.cache import LatentCache

        lc = LatentCache(split, cfg.model, cfg.cache_dir)
        from hmworld.devices import select_device

        with bars(cfg.progress) as progress:
            report = lc.build(device=select_device(cfg.device), text_batch=cfg.text_batch, limit=cfg.limit,
                              progress=progress)
    g = lc.geometry
    t = Table(title=f"cache {report.root}", show_header=False, title_justify="left")
    t.add_row("split", f"{lc.split.root} ({report.clips} clips)")
    t.add_row("geometry", f"{g.context_frames} + {g.target_frames} frames at {g.width}x{g.height} -> "
                          f"{g.context_latents} + {g.target_latents} latents of {g.latent_hw[1]}x{g.latent_hw[0]}")
    t.add_row("latents", f"{report.latents_encoded} encoded, {report.latents_skipped} already cached (vae id {lc.vae_id})"
              + (f", {report.seconds_latents / max(1, report.latents_encoded):.2f} s per clip" if report.latents_encoded else ""))
    if report.autoencoder is not None:
        m = report.autoencoder_meta or {}
        how = f"fitted in {report.seconds_fit:.1f} s" if report.autoencoder_fitted else "loaded"
        t.add_row("autoencoder", f"{report.autoencoder} ({how}; patch PCA, {lc.z_dim_label()} on "
                                 f"{len(m.get('fit_clips') or [])} clips)")
        t.add_row("ceiling", f"reconstruction PSNR {m.get('psnr_db', float('nan')):.2f} dB on "
                             f"{len(m.get('psnr_clips') or [])} {m.get('psnr_on', '?')} clips (the best any model "
                             "using this autoencoder can score)")
    t.add_row("captions", f"{report.text_encoded} encoded, {report.text_skipped} already cached (encoder id {lc.text_id})")
    if report.stale_removed:
        t.add_row("stale", f"{report.stale_removed} outdated entries replaced")
    missing = lc.missing()
    t.add_row("status", "complete" if not missing else f"{len(missing)} clips still to encode (run again)")
    console.print(t)


main = command("cache", cache)
