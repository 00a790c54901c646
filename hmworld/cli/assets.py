"""`hmworld assets [action=fetch|status] [cache_dir=DIR] [deb=PATH] [keep_deb=false]`: the asset cache of the
embedded renderer's default skinned subjects (`renderer.subjects_style=asset`; scripts/setup.sh runs it).

fetch (default): download Debian's 0ad-data with `apt-get download` (no root; nothing installed), extract only
the files the catalog's subjects use into the cache (outside the checkout; $HMWORLD_ASSET_CACHE or
~/.cache/hmworld/assets), verify them against the manifest. Idempotent: a complete cache is left as it is.
status: say what is cached; exit status 1 when the cache is incomplete.
"""
from __future__ import annotations

import sys

from hmworld.cli.ui import console, user_errors
from hmworld.errors import ConfigError

KEYS = {"action": "fetch", "cache_dir": None, "deb": None, "keep_deb": "false"}


def parse(argv: list[str]) -> dict:
    opts = dict(KEYS)
    for arg in argv:
        if arg in ("-h", "--help"):
            print(__doc__)
            raise SystemExit(0)
        key, sep, value = arg.partition("=")
        if not sep or key not in KEYS:
            raise ConfigError(f"unknown argument {arg!r}; hmworld assets takes {', '.join(k + '=' for k in KEYS)}")
        opts[key] = value
    if opts["action"] not in ("fetch", "status"):
        raise ConfigError(f"action must be fetch or status, got {opts['action']!r}")
    return opts


def main(argv: list[str] | None = None) -> int:
    from hmworld.assets import zeroad

    with user_errors():
        opts = parse(sys.argv[1:] if argv is None else argv)
        if opts["action"] == "status":
            cache = zeroad.asset_cache_dir(opts["cache_dir"])
            problems = zeroad.verify_cache(cache, hashes=True)
            if problems:
                console.print(f"incomplete asset cache {cache}: {problems[0]} ({len(problems)} problem(s)); "
                              f"install it with `{zeroad.INSTALL_COMMAND}`", highlight=False, soft_wrap=True)
                raise SystemExit(1)
            m = zeroad.manifest(cache)
            console.print(f"{cache}: {m['package']} {m['version']}, {len(m['files'])} files, licence {m['licence']}",
                          highlight=False, soft_wrap=True)
            return 0
        zeroad.fetch(opts["cache_dir"], opts["deb"], keep_deb=opts["keep_deb"].lower() in ("1", "true", "yes"),
                     log=lambda s: console.print(s, highlight=False, soft_wrap=True))
    return 0
